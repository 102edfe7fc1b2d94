package registry

import "github.com/ooctl/oo/server/store"

// Store is what the registry keeps: the instances.
type Store interface {
	store.Instances
}
