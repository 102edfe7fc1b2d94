package httpapi

// userRoutes registers the /user-svc/ endpoints. STUB: to be implemented.
func (a *API) userRoutes(rt *router) {}
