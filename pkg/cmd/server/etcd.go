package server

import (
	"strings"

	"github.com/ooctl/oo/pkg/cmdutil"
	"github.com/ooctl/oo/server"
	"github.com/ooctl/oo/server/store/etcd"
)

// etcdFlags are the --etcd-* flags but the endpoints: what a real etcd deployment asks of a
// client (TLS, a user, a prefix of its own).
type etcdFlags struct {
	cert, key, ca      string
	username, password string
	prefix             string
}

// etcdConfig checks the store flags and returns the etcd configuration (empty with bolt).
func (o *StartOptions) etcdConfig() (etcd.Config, error) {
	switch o.store {
	case server.StoreBolt:
		return etcd.Config{}, nil
	case server.StoreEtcd:
	default:
		return etcd.Config{}, cmdutil.Usagef("--store must be bolt or etcd, not %q", o.store)
	}
	var endpoints []string
	for _, e := range strings.Split(o.etcdEndpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			endpoints = append(endpoints, e)
		}
	}
	if len(endpoints) == 0 {
		return etcd.Config{}, cmdutil.Usagef("--store etcd needs --etcd-endpoints (or OO_ETCD_ENDPOINTS), e.g. --etcd-endpoints http://127.0.0.1:2379")
	}
	e := o.etcd
	if (e.cert == "") != (e.key == "") {
		return etcd.Config{}, cmdutil.Usagef("--etcd-cert and --etcd-key go together")
	}
	if e.password != "" && e.username == "" {
		return etcd.Config{}, cmdutil.Usagef("--etcd-password (OO_ETCD_PASSWORD) needs --etcd-username")
	}
	if !strings.HasPrefix(e.prefix, "/") {
		return etcd.Config{}, cmdutil.Usagef("--etcd-prefix must start with /, like /oo/, not %q", e.prefix)
	}
	return etcd.Config{Endpoints: endpoints, CertFile: e.cert, KeyFile: e.key, CAFile: e.ca,
		Username: e.username, Password: e.password, Prefix: e.prefix}, nil
}
