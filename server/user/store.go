package user

import "github.com/ooctl/oo/server/store"

// Store is what the user service keeps: the signing key, accounts and live tokens.
type Store interface {
	store.Meta
	store.Users
	store.Tokens
}
