//go:build !darwin && !windows

package credstore

import (
	"errors"
	"os"
	"path/filepath"
)

// noSessionBus reports why there is no D-Bus session bus to reach the Secret Service on, or
// nil when there is one. It mirrors how godbus finds the bus, minus its last resort: with no
// address and no $XDG_RUNTIME_DIR/bus socket, godbus runs dbus-launch, which starts a
// dbus-daemon (and a gnome-keyring-daemon) that outlive oo. Failing at once is better.
func noSessionBus(getenv func(string) string) error {
	if getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	if dir := getenv("XDG_RUNTIME_DIR"); dir != "" {
		if st, err := os.Stat(filepath.Join(dir, "bus")); err == nil && st.Mode()&os.ModeSocket != 0 {
			return nil
		}
	}
	return errors.New("no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and there is no $XDG_RUNTIME_DIR/bus)")
}
