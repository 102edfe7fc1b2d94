package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestPrefersExtras(t *testing.T) {
	for _, tc := range []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{""}, false},
		{[]string{"oo-extras"}, true},
		{[]string{"OO-Extras"}, true},
		{[]string{"respond-async, oo-extras"}, true},
		{[]string{"return=minimal", " oo-extras ; x=1"}, true},
		{[]string{"oo-extras=1"}, true},
		{[]string{"oo-extrasx", "xoo-extras"}, false},
		{[]string{"return=oo-extras"}, false},
	} {
		if got := PrefersExtras(tc.values); got != tc.want {
			t.Errorf("PrefersExtras(%q) = %v, want %v", tc.values, got, tc.want)
		}
	}
}

// TestUpstreamCopiesEveryUpstreamField fills every field of an Instance and checks that
// Upstream keeps each field the upstream model has, under the same key: a field added to one
// struct and not the other fails here instead of silently vanishing from the wire.
func TestUpstreamCopiesEveryUpstreamField(t *testing.T) {
	var in Instance
	fill(reflect.ValueOf(&in).Elem())
	up := in.Upstream()

	full, got := keys(t, in), keys(t, up)
	ut := reflect.TypeOf(up)
	if len(got) != ut.NumField() {
		t.Fatalf("Upstream() sets %d of the %d upstream keys: %v", len(got), ut.NumField(), got)
	}
	for k, v := range got {
		if !reflect.DeepEqual(full[k], v) {
			t.Errorf("key %q: Instance has %v, Upstream() %v", k, full[k], v)
		}
	}
}

// fill sets every field of v to a non-zero value.
func fill(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("x" + v.Type().Field(i).Name)
		case reflect.Int:
			f.SetInt(int64(i + 1))
		case reflect.Slice:
			f.Set(reflect.Append(reflect.MakeSlice(f.Type(), 0, 1), reflect.ValueOf("t")))
		case reflect.Map:
			f.Set(reflect.ValueOf(map[string]string{"k": "v"}))
		case reflect.Pointer:
			ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			f.Set(reflect.ValueOf(&ts))
		case reflect.Struct:
			f.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)))
		}
	}
}

func keys(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
