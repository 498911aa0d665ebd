package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func TestReviewSettings(t *testing.T) {
	base := func(extra map[string]string) func(string) string {
		e := map[string]string{
			"PORTICO_TENANT_ID": "7f4c2d8e-1b3a-4c5d-9e6f-0a1b2c3d4e5f", "PORTICO_CLIENT_ID": "portico", "PORTICO_CLIENT_SECRET": "a-secret-value-for-tests-0123456789",
			"PORTICO_PUBLIC_URL": "https://portico.contoso.example", "PORTICO_SESSION_KEYS": "session-key-one-0123456789abcdef0123",
			"PORTICO_DATA_KEY": "cG+vsXa3kKJnO9nhaADuZfnq+Ed1+1ckJZhE6/497PU=",
		}
		for k, v := range extra {
			e[k] = v
		}
		return func(k string) string { return e[k] }
	}
	c, err := Load(nil, base(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReviewEvery != 0 || c.ReviewAction != ReviewReport || c.ReviewGrace != DefaultReviewGrace {
		t.Fatalf("defaults: every %s action %s grace %s", c.ReviewEvery, c.ReviewAction, c.ReviewGrace)
	}
	c, err = Load(nil, base(map[string]string{"PORTICO_REVIEW_EVERY": "180d", "PORTICO_REVIEW_GRACE": "14d",
		"PORTICO_REVIEW_ACTION": "Disable", "PORTICO_WARN_BEFORE": "7d"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.ReviewEvery != 180*24*time.Hour || c.ReviewAction != ReviewDisable || c.Lifecycle.WarnBefore != 7*24*time.Hour {
		t.Fatalf("set: %+v", c)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"PORTICO_REVIEW_EVERY": "soon"}, `PORTICO_REVIEW_EVERY "soon" must be a positive duration`},
		{map[string]string{"PORTICO_REVIEW_EVERY": "2h"}, "shorter than a day"},
		{map[string]string{"PORTICO_REVIEW_EVERY": "180d", "PORTICO_REVIEW_ACTION": "purge"}, `PORTICO_REVIEW_ACTION "purge" must be report, disable or delete`},
		{map[string]string{"PORTICO_REVIEW_ACTION": "delete"}, "PORTICO_REVIEW_ACTION=delete needs PORTICO_REVIEW_EVERY"},
		{map[string]string{"PORTICO_REVIEW_EVERY": "180d", "PORTICO_REVIEW_GRACE": "-1d"}, "PORTICO_REVIEW_GRACE"},
		{map[string]string{"PORTICO_REVIEW_EVERY": "180d", "PORTICO_REVIEW_GRACE": "5d", "PORTICO_WARN_BEFORE": "7d"}, "must be shorter than PORTICO_REVIEW_GRACE"},
	} {
		_, err := Load(nil, base(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}
