package client

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ooctl/oo/pkg/api"
)

// Register creates an account and returns its first token.
func (c *Client) Register(ctx context.Context, req api.RegisterRequest) (*api.AuthToken, error) {
	var rsp api.RegisterResponse
	if err := c.call(ctx, http.MethodPost, api.PathRegister, req, &rsp); err != nil {
		return nil, err
	}
	return &rsp.Token, nil
}

// Login exchanges a slug and password for a token.
func (c *Client) Login(ctx context.Context, slug, password string) (*api.AuthToken, error) {
	var rsp api.LoginResponse
	if err := c.call(ctx, http.MethodPost, api.PathLogin, api.LoginRequest{Slug: slug, Password: password}, &rsp); err != nil {
		return nil, err
	}
	return &rsp.Token, nil
}

// PublicKey returns the PEM of the key that signs tokens.
func (c *Client) PublicKey(ctx context.Context) (string, error) {
	var rsp api.PublicKeyResponse
	if err := c.call(ctx, http.MethodGet, api.PathPublicKey, nil, &rsp); err != nil {
		return "", err
	}
	return rsp.PublicKey, nil
}

// Whoami returns the user the client's token belongs to.
func (c *Client) Whoami(ctx context.Context) (*api.ReadUserByTokenResponse, error) {
	var rsp api.ReadUserByTokenResponse
	if err := c.call(ctx, http.MethodPost, api.PathUserByToken, nil, &rsp); err != nil {
		return nil, err
	}
	return &rsp, nil
}

// ListUsers lists accounts (admin only). limit 0 means the server's default.
func (c *Client) ListUsers(ctx context.Context, limit int) (*api.ListUsersResponse, error) {
	req := api.ListUsersRequest{}
	if limit > 0 {
		req.Query = &api.ListUsersQuery{Limit: limit}
	}
	var rsp api.ListUsersResponse
	if err := c.call(ctx, http.MethodPost, api.PathUsers, req, &rsp); err != nil {
		return nil, err
	}
	return &rsp, nil
}

// CreateUser makes an account as an admin (works when registration is closed).
func (c *Client) CreateUser(ctx context.Context, req api.CreateUserRequest) (*api.User, error) {
	var rsp api.CreateUserResponse
	if err := c.call(ctx, http.MethodPost, api.PathCreateUser, req, &rsp); err != nil {
		return nil, err
	}
	return &rsp.User, nil
}

// ChangePassword changes the caller's password; the server revokes the caller's other tokens.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.call(ctx, http.MethodPost, api.PathChangePassword,
		api.ChangePasswordRequest{CurrentPassword: current, NewPassword: next}, nil)
}

// RefreshToken trades the client's valid token for a fresh one.
func (c *Client) RefreshToken(ctx context.Context) (*api.AuthToken, error) {
	var rsp api.RefreshTokenResponse
	if err := c.call(ctx, http.MethodPost, api.PathRefreshToken, nil, &rsp); err != nil {
		return nil, err
	}
	return &rsp.Token, nil
}

// RevokeToken revokes the client's token on the server (logout).
func (c *Client) RevokeToken(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, api.PathToken, nil, nil)
}

// RegisterInstance registers (or updates) an instance for the caller's slug. The instance is
// returned when the server sends it (oo does; the reference API answers {}).
func (c *Client) RegisterInstance(ctx context.Context, req api.RegisterInstanceRequest) (*api.Instance, error) {
	var rsp api.RegisterInstanceResponse
	if err := c.call(ctx, http.MethodPut, api.PathInstance, req, &rsp); err != nil {
		return nil, err
	}
	return rsp.Instance, nil
}

// InstanceFilter narrows ListInstances; empty fields do not filter.
type InstanceFilter struct {
	ID, Slug, Scheme, Host, IP, Path, DeploymentID string
}

func (f InstanceFilter) values() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"id": f.ID, "slug": f.Slug, "scheme": f.Scheme, "host": f.Host, "ip": f.IP, "path": f.Path, "deploymentId": f.DeploymentID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// withQuery is path with q, when q holds anything.
func withQuery(path string, q url.Values) string {
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// ListInstances lists registered instances.
func (c *Client) ListInstances(ctx context.Context, f InstanceFilter) ([]api.Instance, error) {
	var rsp api.ListInstancesResponse
	if err := c.call(ctx, http.MethodGet, withQuery(api.PathInstances, f.values()), nil, &rsp); err != nil {
		return nil, err
	}
	if rsp.Instances == nil {
		rsp.Instances = []api.Instance{}
	}
	return rsp.Instances, nil
}

// ListInstancesPage lists at most limit instances (0: all) after cursor (empty: from the
// first) and returns the cursor of the next page, empty when no more remain. A server that
// does not page (the reference API) answers everything and no cursor, which ends the paging.
func (c *Client) ListInstancesPage(ctx context.Context, f InstanceFilter, limit int, cursor string) ([]api.Instance, string, error) {
	q := f.values()
	if limit > 0 {
		q.Set(api.ParamLimit, strconv.Itoa(limit))
	}
	if cursor != "" {
		q.Set(api.ParamCursor, cursor)
	}
	var rsp api.ListInstancesResponse
	if err := c.call(ctx, http.MethodGet, withQuery(api.PathInstances, q), nil, &rsp); err != nil {
		return nil, "", err
	}
	if rsp.Instances == nil {
		rsp.Instances = []api.Instance{}
	}
	return rsp.Instances, rsp.NextCursor, nil
}

// ListAllInstances lists the instances matching f, at most most of them (0: all), pageSize
// (0: DefaultPageSize) per request, so that no single answer has to hold a large registry.
func (c *Client) ListAllInstances(ctx context.Context, f InstanceFilter, pageSize, most int) ([]api.Instance, error) {
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	all := []api.Instance{}
	cursor := ""
	for {
		limit := pageSize
		if most > 0 {
			limit = min(limit, most-len(all))
		}
		page, next, err := c.ListInstancesPage(ctx, f, limit, cursor)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if most > 0 && len(all) >= most {
			return all[:most], nil
		}
		if next == "" {
			return all, nil
		}
		if next == cursor || len(page) == 0 {
			return nil, fmt.Errorf("listing instances: the server answered the cursor %q with no progress", cursor)
		}
		cursor = next
	}
}

// DefaultPageSize is how many instances ListAllInstances asks for at a time.
const DefaultPageSize = 1000

// DeleteInstance removes an instance (owner or admin).
func (c *Client) DeleteInstance(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, api.InstancePath(url.PathEscape(id)), nil, nil)
}

// Heartbeat tells the registry the instance is alive; ttl 0 sends none (the server keeps the
// previous one, if any).
func (c *Client) Heartbeat(ctx context.Context, id string, ttl string) (*api.Instance, error) {
	var rsp api.HeartbeatResponse
	if err := c.call(ctx, http.MethodPut, api.HeartbeatPath(url.PathEscape(id)), api.HeartbeatRequest{TTL: ttl}, &rsp); err != nil {
		return nil, err
	}
	return &rsp.Instance, nil
}

// RemoveUser deletes an account by slug or id (admin). With removeInstances its instances go
// with it; without, an account that owns instances is a 409.
func (c *Client) RemoveUser(ctx context.Context, ref string, removeInstances bool) error {
	path := api.UserPath(url.PathEscape(ref))
	if removeInstances {
		path += "?" + api.RemoveInstancesParam + "=true"
	}
	return c.call(ctx, http.MethodDelete, path, nil, nil)
}

// ListReplicas lists the running servers of the platform and which one probes.
func (c *Client) ListReplicas(ctx context.Context) (*api.ListReplicasResponse, error) {
	var rsp api.ListReplicasResponse
	if err := c.call(ctx, http.MethodGet, api.PathReplicas, nil, &rsp); err != nil {
		return nil, err
	}
	return &rsp, nil
}
