package handlers

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"portico/store"
	"portico/views"
)

// Webhooks is the webhook delivery log as the admin page reads it (app adapts the store).
type Webhooks interface {
	// Endpoints lists the configured receivers (URLs only).
	Endpoints() []string
	ListWebhookDeliveries(ctx context.Context, f store.WebhookDeliveryFilter) ([]store.WebhookDelivery, error)
}

const webhooksPageSize = 50

// webhooksPage lists webhook deliveries, newest first, a keyset page at a time, optionally of one
// state. The cursor is "before=<RFC 3339 time>~<delivery id>".
func (s *Server) webhooksPage(c echo.Context) error {
	p := s.page(c, "Webhooks")
	p.Nav = "webhooks"
	m := views.Webhooks{Page: p}
	if s.Webhooks == nil {
		return render(c, http.StatusOK, views.WebhooksPage(m))
	}
	m.Endpoints = s.Webhooks.Endpoints()
	f := store.WebhookDeliveryFilter{Limit: webhooksPageSize + 1}
	switch st := c.QueryParam("state"); st {
	case "", store.DeliveryPending, store.DeliveryDelivered, store.DeliveryFailed:
		f.State, m.State = st, st
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "Choose a state from the list: pending, delivered or failed.")
	}
	if v := c.QueryParam("before"); v != "" {
		ts, id, ok := strings.Cut(v, "~")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil || id == "" || len(id) > 64 {
			return echo.NewHTTPError(http.StatusBadRequest, "This page link is damaged: go back to the newest deliveries.")
		}
		f.BeforeTime, f.BeforeID = t, id
		m.NewestURL = "/admin/webhooks" + stateQuery(m.State, "?")
	}
	rows, err := s.Webhooks.ListWebhookDeliveries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	for i, d := range rows {
		if i == webhooksPageSize {
			last := rows[i-1]
			m.OlderURL = "/admin/webhooks?before=" + url.QueryEscape(last.CreatedAt.UTC().Format(time.RFC3339Nano)+"~"+last.ID) + stateQuery(m.State, "&")
			break
		}
		m.Rows = append(m.Rows, views.WebhookDelivery{ID: d.ID, EventID: d.EventID, EventType: d.EventType, Endpoint: d.Endpoint,
			State: d.State, Attempts: d.Attempts, LastStatus: d.LastStatus, LastError: d.LastError, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt})
	}
	return render(c, http.StatusOK, views.WebhooksPage(m))
}

func stateQuery(state, sep string) string {
	if state == "" {
		return ""
	}
	return sep + "state=" + url.QueryEscape(state)
}
