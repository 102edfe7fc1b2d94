package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/ooctl/oo/pkg/api"
)

// GetInstance reads one instance, with oo's extensions.
func (c *Client) GetInstance(ctx context.Context, id string) (*api.Instance, error) {
	var rsp api.HeartbeatResponse // {"instance": ...}, the same shape
	if err := c.call(ctx, http.MethodGet, api.InstancePath(url.PathEscape(id)), nil, &rsp); err != nil {
		return nil, err
	}
	return &rsp.Instance, nil
}

// InstanceTransitions reads the recent status changes of instance id, as the server that
// answers saw them.
func (c *Client) InstanceTransitions(ctx context.Context, id string) (*api.InstanceTransitions, error) {
	var rsp api.InstanceTransitions
	if err := c.call(ctx, http.MethodGet, api.TransitionsPath(url.PathEscape(id)), nil, &rsp); err != nil {
		return nil, err
	}
	return &rsp, nil
}

// ServerStatus reads the answering server's version, uptime, store, counts and probing state.
func (c *Client) ServerStatus(ctx context.Context) (*api.ServerStatus, error) {
	var rsp api.ServerStatus
	if err := c.call(ctx, http.MethodGet, api.PathServerStatus, nil, &rsp); err != nil {
		return nil, err
	}
	return &rsp, nil
}

// Top reads one snapshot of the traffic and health of the slugs the caller may see (an admin:
// every slug; anyone else: their own).
func (c *Client) Top(ctx context.Context) (*api.TopResponse, error) {
	var rsp api.TopResponse
	if err := c.call(ctx, http.MethodGet, api.PathTop, nil, &rsp); err != nil {
		return nil, err
	}
	return &rsp, nil
}
