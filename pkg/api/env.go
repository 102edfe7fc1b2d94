package api

// Environment variables read by the CLI, the SDK and the programs `oo service run` starts. The
// server's own variables (OO_ADDR, OO_PROBE_INTERVAL, ...) belong to its flags: each flag of
// `oo server start` names its variable in its help, and `oo help environment` lists them from
// there, so they are not repeated here.
const (
	EnvURL         = "OO_URL"       // server URL; wins over the selected environment's
	EnvURLOB       = "OB_URL"       // the same, under the name programs written for 1Backend read
	EnvURLOpenOrch = "OPENORCH_URL" // older name of OB_URL
	EnvToken       = "OO_TOKEN"     // bearer token; wins over the stored one
	EnvEnv         = "OO_ENV"       // environment name, like -e
	EnvConfigDir   = "OO_CONFIG_DIR"
	EnvInsecure    = "OO_INSECURE_STORAGE"
	EnvAdminPass   = "OO_ADMIN_PASSWORD"
	EnvSelfURL     = "SELF_URL" // a service's own URL, as the 1Backend SDK reads it
	EnvPort        = "PORT"
	EnvSlug        = "OO_SLUG"
	EnvReplica     = "OO_REPLICA"
	EnvTokenFile   = "OO_TOKEN_FILE"
)

// URLVars are the variables that name the server, in the order they are consulted.
var URLVars = []string{EnvURL, EnvURLOB, EnvURLOpenOrch}

// EnvVar documents one variable for `oo help environment` and the man pages.
type EnvVar struct {
	Name string
	Who  string // "client", "server", "service" (set by oo service run for its program)
	Doc  string
}

// ClientEnv lists, in help order, every variable the CLI, the SDK and supervised programs read
// or are given. A test checks that each one is documented in README.
var ClientEnv = []EnvVar{
	{EnvURL, "client", "server URL for this command; wins over the environment's URL. The stored token is sent only to the URL it was issued for"},
	{EnvURLOB, "client", "same as OO_URL (the name 1Backend programs read)"},
	{EnvURLOpenOrch, "client", "older name of OB_URL"},
	{EnvToken, "client", "bearer token to use instead of the stored one (scripts, CI)"},
	{EnvEnv, "client", "environment to use, like -e NAME"},
	{EnvConfigDir, "client", "directory of config.json (default $XDG_CONFIG_HOME/oo)"},
	{EnvInsecure, "client", "1: keep tokens in a 0600 file instead of the OS keyring, like --insecure-storage"},
	{"NO_COLOR", "client", "any value: no colours in tables and messages"},
	{"XDG_CONFIG_HOME", "client", "base of the config directory (default ~/.config)"},
	{"XDG_DATA_HOME", "client, server", "base of the server's data directory and of services' saved credentials (default ~/.local/share)"},
	{EnvAdminPass, "server", "password of the admin account created on first boot; ignored (with a warning) once it exists"},
	{EnvSelfURL, "service", "the program's own URL, which oo service run registers"},
	{EnvPort, "service", "the port the program must listen on"},
	{EnvSlug, "service", "the slug the program is registered under"},
	{EnvReplica, "service", "replica number (1, 2, ...) with --replicas"},
	{EnvTokenFile, "service", "a private file holding the account's current token, kept fresh by oo service run; the SDK reads it on every use"},
}
