package handlers

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"portico/store"
)

type fakeWebhooks struct {
	endpoints []string
	rows      []store.WebhookDelivery // newest first
	filters   []store.WebhookDeliveryFilter
}

func (f *fakeWebhooks) Endpoints() []string { return f.endpoints }

func (f *fakeWebhooks) ListWebhookDeliveries(_ context.Context, flt store.WebhookDeliveryFilter) ([]store.WebhookDelivery, error) {
	f.filters = append(f.filters, flt)
	var out []store.WebhookDelivery
	for _, d := range f.rows {
		if flt.State != "" && d.State != flt.State {
			continue
		}
		if !flt.BeforeTime.IsZero() && !(d.CreatedAt.Before(flt.BeforeTime) || d.CreatedAt.Equal(flt.BeforeTime) && d.ID < flt.BeforeID) {
			continue
		}
		if len(out) == flt.Limit {
			break
		}
		out = append(out, d)
	}
	return out, nil
}

func (en *env) withWebhooks(w Webhooks) {
	en.e = New(Deps{Config: en.cfg, Logger: slog.New(slog.NewTextHandler(en.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Sessions: en.sessions, RP: en.rp, Tokens: en.tokens, Invites: en.inv, Audit: en.audit, DB: en.db,
		Clock: func() time.Time { return en.now }, Webhooks: w})
}

func TestWebhooksPage(t *testing.T) {
	en := newEnv(t)
	// Not configured: the page says so.
	b := en.signIn(admin)
	want(t, b.get("/admin/webhooks"), http.StatusOK, "no receiver is configured")

	base := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	fw := &fakeWebhooks{endpoints: []string{"https://hooks.contoso.example/portico"}}
	for i := 70; i >= 1; i-- {
		d := store.WebhookDelivery{ID: "d" + string(rune('a'+i%26)) + strings.Repeat("x", i), EventID: "invitation.created:i", EventType: "invitation.created",
			Endpoint: fw.endpoints[0], State: store.DeliveryDelivered, Attempts: 1, LastStatus: 204,
			CreatedAt: base.Add(time.Duration(i) * time.Second), UpdatedAt: base.Add(time.Duration(i) * time.Second)}
		if i == 70 {
			d.State, d.Attempts, d.LastStatus, d.LastError = store.DeliveryFailed, 15, 503, "answered 503: <script>down</script>"
		}
		fw.rows = append(fw.rows, d)
	}
	en.withWebhooks(fw)
	want(t, en.signIn(ann).get("/admin/webhooks"), http.StatusForbidden)
	b = en.signIn(admin)
	rec := b.get("/admin/webhooks")
	want(t, rec, http.StatusOK, "hooks.contoso.example/portico", "answered 503: &lt;script&gt;")
	d, err := goquery.NewDocumentFromReader(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatal(err)
	}
	if n := d.Find(`tr[data-testid="webhook-row"]`).Length(); n != webhooksPageSize {
		t.Fatalf("%d rows, want %d", n, webhooksPageSize)
	}
	if d.Find("table caption").Length() != 1 || d.Find(`label[for="f-state"]`).Length() != 1 {
		t.Error("the table needs a caption, the filter a label")
	}
	older, ok := d.Find(`a[rel="next"]`).Attr("href")
	if !ok || !strings.HasPrefix(older, "/admin/webhooks?before=") {
		t.Fatalf("older link %q", older)
	}
	rec = b.get(older)
	want(t, rec, http.StatusOK)
	if n := strings.Count(rec.Body.String(), `data-testid="webhook-row"`); n != 20 {
		t.Errorf("second page %d rows, want 20", n)
	}
	rec = b.get("/admin/webhooks?state=failed")
	want(t, rec, http.StatusOK)
	if n := strings.Count(rec.Body.String(), `data-testid="webhook-row"`); n != 1 || fw.filters[len(fw.filters)-1].State != "failed" {
		t.Errorf("failed filter: %d rows", n)
	}
	for _, q := range []string{"state=bogus", "before=" + url.QueryEscape("2026-11-28T12:00:00Z"), "before=x~y", "before=" + url.QueryEscape("2026-11-28T12:00:00Z~")} {
		want(t, b.get("/admin/webhooks?"+q), http.StatusBadRequest)
	}
}
