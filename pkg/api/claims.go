package api

// Claim names of oo's own claims in a token (a JWT signed with RS256). They are the wire
// contract with services that verify tokens offline, shared with 1Backend's tokens. The
// registered claims (jti, iat, exp) keep their JWT names.
const (
	ClaimUserID = "oui"
	ClaimSlug   = "olu"
	ClaimRoles  = "ori"
)

// TokenClaims are oo's own claims in a token. The server, the SDK's verifier and the CLI embed
// it next to the JWT library's registered claims, so the names are written once. Struct tags
// cannot name constants; a test checks that the tags are the Claim* names.
type TokenClaims struct {
	UserID string   `json:"oui"`
	Slug   string   `json:"olu"`
	Roles  []string `json:"ori"`
}
