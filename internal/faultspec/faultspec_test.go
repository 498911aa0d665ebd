package faultspec

import (
	"strings"
	"testing"
	"time"
)

func TestParseFault(t *testing.T) {
	tests := []struct {
		spec string
		want Fault
		err  string
	}{
		{"POST /invitations status=503 after rate=0.3", Fault{Method: "POST", PathPrefix: "/invitations", Status: 503, AfterActing: true, Rate: 0.3}, ""},
		{"post /v1.0/invitations status=429 retry-after=2 times=3", Fault{Method: "POST", PathPrefix: "/v1.0/invitations", Status: 429, RetryAfter: "2", Times: 3}, ""},
		{"GET /users delay=10s", Fault{Method: "GET", PathPrefix: "/users", Delay: 10 * time.Second}, ""},
		{"GET /users delay=10s alone", Fault{Method: "GET", PathPrefix: "/users", Delay: 10 * time.Second, Alone: true}, ""},
		{"POST /invitations hold=40s", Fault{Method: "POST", PathPrefix: "/invitations", Hold: 40 * time.Second}, ""},
		{"POST /invitations drop=after", Fault{Method: "POST", PathPrefix: "/invitations", DropConnection: true}, ""},
		{"* drop=before times=1", Fault{DropBeforeActing: true, Times: 1}, ""},
		{"/organization status=500 code=X message=\"a b \\\"c\\\"\"", Fault{PathPrefix: "/organization", Status: 500, Code: "X", Message: `a b "c"`}, ""},
		{"POST /invitations status=504 after hold=3s", Fault{Method: "POST", PathPrefix: "/invitations", Status: 504, AfterActing: true, Hold: 3 * time.Second}, ""},
		{"abuse", AbuseBlock(), ""},
		{"abuse times=1", Fault{Method: "POST", PathPrefix: "/invitations", Status: 403, Code: AbuseBlockCode, Message: AbuseBlockMessage, Times: 1}, ""},
		{"", Fault{}, "empty fault"},
		{"POST /invitations", Fault{}, "changes nothing"},
		{"status=200", Fault{}, "400 to 599"},
		{"status=503 drop=after", Fault{}, "not both"},
		{"after", Fault{}, "after needs a status"},
		{"drop=before hold=1s", Fault{}, "hold needs Graph to act"},
		{"status=503 hold=1s", Fault{}, "needs after"},
		{"rate=0 status=503", Fault{}, "probability"},
		{"rate=1.5 status=503", Fault{}, "probability"},
		{"times=0 status=503", Fault{}, "at least 1"},
		{"delay=soon", Fault{}, "duration"},
		{"drop=sideways", Fault{}, "before or after"},
		{"retry-after=-1 status=429", Fault{}, "seconds"},
		{"frobnicate=1 status=503", Fault{}, "not a fault option"},
		{"sometimes", Fault{}, "not a fault option"},
		{`status=503 message="open`, Fault{}, "not closed"},
		{"code=X delay=1s", Fault{}, "need a status"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := Parse(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			// String writes what ParseFault reads back.
			again, err := Parse(got.String())
			if err != nil || again != got {
				t.Fatalf("round trip of %q: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseWriteQuota(t *testing.T) {
	for _, tt := range []struct {
		in  string
		n   int
		per time.Duration
		ok  bool
	}{
		{"20/1s", 20, time.Second, true}, {" 3000/150s ", 3000, 150 * time.Second, true}, {"off", 0, time.Second, true},
		{"20", 0, 0, false}, {"0/1s", 0, 0, false}, {"20/0s", 0, 0, false}, {"x/1s", 0, 0, false}, {"20/soon", 0, 0, false},
	} {
		n, per, err := ParseWriteQuota(tt.in)
		if (err == nil) != tt.ok || n != tt.n || per != tt.per {
			t.Errorf("%q: %d/%v, %v", tt.in, n, per, err)
		}
	}
}
