package invite

import (
	"testing"
	"time"
)

func TestInvitationState(t *testing.T) {
	tests := []struct {
		outcome   Outcome
		external  string
		want      State
		wantLabel string
		wantKind  string
	}{
		{OutcomeCreated, "", StatePending, "Pending acceptance", "pending"},
		{OutcomeCreated, "PendingAcceptance", StatePending, "Pending acceptance", "pending"},
		{OutcomeCreated, "Accepted", StateAccepted, "Accepted", "accepted"},
		{OutcomeDenied, "", StateRefused, "Refused", "denied"},
		{OutcomeThrottled, "", StateThrottled, "Not sent (Graph busy)", "failed"},
		{OutcomeRejected, "", StateNotSent, "Not sent", "failed"},
		{OutcomeFailed, "", StateFailed, "Failed", "failed"},
		{OutcomeFailed, "Accepted", StateFailed, "Failed", "failed"}, // a failed attempt is never accepted
	}
	for _, tt := range tests {
		rec := &Invitation{Outcome: tt.outcome, ExternalUserState: tt.external}
		got := rec.State()
		if got != tt.want || got.Label() != tt.wantLabel || got.Kind() != tt.wantKind {
			t.Errorf("%s/%q: State() = %q (%q, %q), want %q (%q, %q)", tt.outcome, tt.external,
				got, got.Label(), got.Kind(), tt.want, tt.wantLabel, tt.wantKind)
		}
	}
}

func TestJoinLinkStatus(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	revoked := now.Add(-time.Minute)
	tests := []struct {
		name string
		l    *JoinLink
		want LinkStatus
	}{
		{"none", nil, LinkNone},
		{"active", &JoinLink{ExpiresAt: now.Add(time.Hour)}, LinkActive},
		{"expired at the instant", &JoinLink{ExpiresAt: now}, LinkExpired},
		{"revoked wins over expiry", &JoinLink{ExpiresAt: now.Add(-time.Hour), RevokedAt: &revoked}, LinkRevoked},
	}
	for _, tt := range tests {
		if got := tt.l.Status(now); got != tt.want {
			t.Errorf("%s: Status = %q, want %q", tt.name, got, tt.want)
		}
	}
}
