package httpapi

import "time"

// SetLogsKeepAlive makes log streams send their keep-alive comment every d until the returned
// function restores the default.
func SetLogsKeepAlive(d time.Duration) (restore func()) {
	old := logsKeepAlive.Swap(int64(d))
	return func() { logsKeepAlive.Store(old) }
}
