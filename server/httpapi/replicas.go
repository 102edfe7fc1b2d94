package httpapi

import (
	"context"
	"net/http"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/auth"
)

// Replicas tells who the running servers of this platform are (`oo server ls`).
type Replicas interface {
	// ListReplicas returns the replicas in id order and the kind of store they share.
	ListReplicas(ctx context.Context) (api.ListReplicasResponse, error)
}

func (a *API) replicaRoutes(rt *router) {
	rt.handle(http.MethodGet, api.PathReplicas, a.authed(func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		if a.Replicas == nil {
			WriteJSON(w, http.StatusOK, api.ListReplicasResponse{Store: "bolt", Replicas: []api.Replica{}})
			return
		}
		rsp, err := a.Replicas.ListReplicas(r.Context())
		if err != nil {
			WriteError(w, r, a.Log, err)
			return
		}
		WriteJSON(w, http.StatusOK, rsp)
	}))
}
