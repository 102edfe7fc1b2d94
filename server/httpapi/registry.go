package httpapi

// registryRoutes registers the /registry-svc/ endpoints. STUB: to be implemented.
func (a *API) registryRoutes(rt *router) {}
