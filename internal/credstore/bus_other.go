//go:build darwin || windows

package credstore

// noSessionBus: the Keychain and the Credential Manager do not use D-Bus.
func noSessionBus(func(string) string) error { return nil }
