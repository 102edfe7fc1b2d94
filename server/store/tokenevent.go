package store

// TokenEvent is one change to the live tokens, as the watch of a shared store delivers it to a
// replica, in the store's revision order.
type TokenEvent struct {
	// Rev is the store revision of the change (of the listing, for a Reset).
	Rev int64
	// Reset means Live is every live token at Rev and replaces all the receiver knew: the first
	// event of a watch, and again whenever the watch had to start over (compaction, a lost
	// connection), since changes may have been missed meanwhile.
	Reset bool
	Live  []TokenRecord
	// Otherwise exactly one of these: a token stored, or the id of a token revoked.
	Put     *TokenRecord
	Deleted string
}
