package httpapi

import (
	"fmt"
	"math"
	"net/http"

	"github.com/ooctl/oo/pkg/api"
	"github.com/ooctl/oo/server/apierr"
	"github.com/ooctl/oo/server/auth"
	"github.com/ooctl/oo/server/metrics"
	"github.com/ooctl/oo/server/throttle"
)

// userRoutes registers the /user-svc/ endpoints. Each handler only decodes, calls the user
// service and encodes; validation and status codes live in the service.
func (a *API) userRoutes(rt *router) {
	rt.handle(http.MethodPost, api.PathRegister, a.register)
	rt.handle(http.MethodPost, api.PathLogin, a.login)
	rt.handle(http.MethodGet, api.PathPublicKey, a.publicKey)
	rt.handle(http.MethodPost, api.PathUserByToken, a.authed(a.userByToken))
	rt.handle(http.MethodPost, api.PathUsers, a.admin(a.listUsers))
	rt.handle(http.MethodPost, api.PathCreateUser, a.admin(a.createUser))
	rt.handle(http.MethodPost, api.PathChangePassword, a.authed(a.changePassword))
	rt.handle(http.MethodPost, api.PathRefreshToken, a.authed(a.refreshToken))
	rt.handle(http.MethodDelete, api.PathToken, a.authed(a.revokeToken))
	rt.handle(http.MethodDelete, api.PathUsers+"/{id}", a.admin(a.removeUser))
}

func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var req api.RegisterRequest
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	if c := req.Contact; c != nil {
		if c.Handle == "" {
			c.Handle = c.Value
		}
		c.Value = ""
	}
	tok, err := a.Users.Register(req)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, api.RegisterResponse{Token: tok})
}

func (a *API) login(w http.ResponseWriter, r *http.Request) {
	var req api.LoginRequest
	if err := Decode(w, r, &req); err != nil {
		a.Metrics.Login(metrics.LoginInvalid)
		WriteError(w, r, a.Log, err)
		return
	}
	// Every attempt takes a token from its client's bucket and its slug's; only failures keep
	// them. A slug nobody has gives its token back (no bucket is kept for made-up slugs) but
	// the client pays for it.
	addrKey, slugKey := "addr "+throttle.AddrKey(r.RemoteAddr), "slug "+req.Slug
	if key, wait := a.LoginLimit.Take(addrKey, slugKey); key != "" {
		who, limit := "this client address", metrics.LimitLoginAddress
		if key == slugKey {
			who, limit = fmt.Sprintf("the slug %q", req.Slug), metrics.LimitLoginSlug
		}
		a.Metrics.Throttled(limit)
		a.Metrics.Login(metrics.LoginThrottled)
		secs := max(1, int(math.Ceil(wait.Seconds())))
		WriteError(w, r, a.Log, apierr.TooMany(secs, "too many failed logins for %s; try again in %d s", who, secs))
		return
	}
	tok, err := a.Users.Login(req)
	switch apierr.Status(err) {
	case http.StatusUnauthorized:
		a.Metrics.Login(metrics.LoginRejected)
	case http.StatusBadRequest:
		a.LoginLimit.Refund(slugKey)
		a.Metrics.Login(metrics.LoginInvalid)
	default:
		a.LoginLimit.Refund(addrKey, slugKey)
		if err != nil {
			a.Metrics.Login(metrics.LoginError)
		} else {
			a.Metrics.Login(metrics.LoginSuccess)
		}
	}
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, api.LoginResponse{Token: tok})
}

func (a *API) publicKey(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, api.PublicKeyResponse{PublicKey: a.Users.PublicKeyPEM()})
}

func (a *API) userByToken(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	rsp, err := a.Users.UserByToken(p)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, rsp)
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	var req api.ListUsersRequest
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	limit := 0
	if req.Query != nil {
		limit = req.Query.Limit
	}
	rsp, err := a.Users.ListUsers(limit)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, rsp)
}

func (a *API) createUser(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	var req api.CreateUserRequest
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	u, err := a.Users.CreateUser(req.Flat())
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	WriteJSON(w, http.StatusCreated, api.CreateUserResponse{User: u})
}

func (a *API) changePassword(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req api.ChangePasswordRequest
	if err := Decode(w, r, &req); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	if err := a.Users.ChangePassword(p, req); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, api.Empty{})
}

func (a *API) refreshToken(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	tok, err := a.Users.RefreshToken(p)
	if err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	WriteJSON(w, http.StatusOK, api.RefreshTokenResponse{Token: tok})
}

// revokeToken is logout: 204 and no body, like the registry's DELETE.
func (a *API) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	if err := a.Users.RevokeToken(p); err != nil {
		WriteError(w, r, a.Log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
