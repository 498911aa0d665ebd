package invite

import (
	"context"
	"encoding/json"
	"testing"
)

// An invitation sent by a job or a command is audited as such; one sent over HTTP keeps its
// request id and client address and says nothing more.
func TestMetaInAuditTrail(t *testing.T) {
	tests := []struct {
		name                  string
		meta                  Meta
		wantRequestID, wantIP string
		wantVia               Via
		wantJobID             string
	}{
		{"http", HTTPMeta("req-1", "192.0.2.1"), "req-1", "192.0.2.1", "", ""},
		{"zero value is http", Meta{RequestID: "req-2"}, "req-2", "", "", ""},
		{"job", JobMeta("job-42"), "", "", ViaJob, "job-42"},
		{"command", CommandMeta("run-7"), "run-7", "", ViaCommand, ""},
	}
	for _, tt := range tests {
		h := newHarness(t, Policy{})
		if _, err := h.svc.Send(context.Background(), nil, employee, validReq(), tt.meta); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		evs := h.store.audits()
		if len(evs) != 1 {
			t.Fatalf("%s: %d audit events", tt.name, len(evs))
		}
		ev := evs[0]
		var d auditDetail
		if err := json.Unmarshal([]byte(ev.Detail), &d); err != nil {
			t.Fatalf("%s: detail %q: %v", tt.name, ev.Detail, err)
		}
		if ev.RequestID != tt.wantRequestID || ev.ClientIP != tt.wantIP || d.Via != tt.wantVia || d.JobID != tt.wantJobID {
			t.Errorf("%s: request id %q, ip %q, via %q, job %q; want %q, %q, %q, %q", tt.name,
				ev.RequestID, ev.ClientIP, d.Via, d.JobID, tt.wantRequestID, tt.wantIP, tt.wantVia, tt.wantJobID)
		}
	}
}
