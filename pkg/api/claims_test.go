package api

import (
	"reflect"
	"testing"
)

// The struct tags of TokenClaims cannot refer to the constants; this keeps the two in step.
func TestTokenClaimsTagsAreTheClaimNames(t *testing.T) {
	want := map[string]string{"UserID": ClaimUserID, "Slug": ClaimSlug, "Roles": ClaimRoles}
	typ := reflect.TypeOf(TokenClaims{})
	if typ.NumField() != len(want) {
		t.Fatalf("TokenClaims has %d fields, want %d", typ.NumField(), len(want))
	}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		if got := f.Tag.Get("json"); got != want[f.Name] {
			t.Errorf("TokenClaims.%s has json tag %q, want %q", f.Name, got, want[f.Name])
		}
	}
}
