package devtenant

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// maxBatchRequests is how many requests Graph accepts in one JSON batch.
const maxBatchRequests = 20

type batchKey struct{}

// batchOf is the request id of the $batch that carried an inner request, or "".
func batchOf(ctx context.Context) string {
	id, _ := ctx.Value(batchKey{}).(string)
	return id
}

// batchStep is one request of a JSON batch as a client sends it.
type batchStep struct {
	ID        *string           `json:"id"`
	Method    *string           `json:"method"`
	URL       *string           `json:"url"`
	Headers   map[string]string `json:"headers"`
	Body      json.RawMessage   `json:"body"`
	DependsOn []string          `json:"dependsOn"`
}

type batchAnswer struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

// handleBatch serves POST /v1.0/$batch as Graph does: the batch is validated as a whole (400 with
// Graph's error envelope when it is malformed); then every request in it is served on its own,
// authorized, throttled, faulted and recorded like a request sent alone, and answered with its
// own status, headers and body. A request whose dependency failed gets 424. The batch is one
// HTTP round trip: Options.Latency was paid once for it.
func (t *Tenant) handleBatch(w http.ResponseWriter, r *http.Request) {
	reqID, crid := answerIDs(w, r)
	g := &graphCall{t: t, w: w, r: r, reqID: reqID, clientID: crid, base: t.baseOf(r)}
	if r.Method != http.MethodPost {
		g.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
		return
	}
	if f := t.takeFault(r); f != nil {
		t.serveFaulted(f, g, w, func() {}, t.serveBatch)
		return
	}
	t.serveBatch(g)
}

// serveBatch runs the requests of a $batch and answers them.
func (t *Tenant) serveBatch(g *graphCall) {
	r, reqID := g.r, g.reqID
	body, err := io.ReadAll(io.LimitReader(r.Body, maxGraphBody+1))
	if err != nil || len(body) > maxGraphBody {
		g.fail(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is larger than 4 MB.")
		return
	}
	steps, msg := parseBatch(body)
	if msg != "" {
		g.fail(http.StatusBadRequest, "BadRequest", msg)
		return
	}

	answers := make([]batchAnswer, 0, len(steps))
	failed := map[string]bool{} // by lower-case id: answered with a non-2xx status
	done := map[string]bool{}
	// Steps run once their dependencies have: parseBatch refused cycles and unknown ids.
	for len(done) < len(steps) {
		for _, s := range steps {
			id := strings.ToLower(*s.ID)
			if done[id] || !allDone(done, s.DependsOn) {
				continue
			}
			done[id] = true
			var a batchAnswer
			if dep := firstFailed(failed, s.DependsOn); dep != "" {
				a = t.failedDependency(g, *s.ID)
			} else {
				a = t.serveStep(r, reqID, s)
			}
			if a.Status < 200 || a.Status > 299 {
				failed[id] = true
			}
			answers = append(answers, a)
		}
	}
	// Graph answers in any order; devtenant answers newest first so that clients cannot rely on order.
	for i, j := 0, len(answers)-1; i < j; i, j = i+1, j-1 {
		answers[i], answers[j] = answers[j], answers[i]
	}
	writeJSON(g.w, http.StatusOK, "application/json", map[string]any{"responses": answers})
}

func allDone(done map[string]bool, deps []string) bool {
	for _, d := range deps {
		if !done[strings.ToLower(d)] {
			return false
		}
	}
	return true
}

func firstFailed(failed map[string]bool, deps []string) string {
	for _, d := range deps {
		if failed[strings.ToLower(d)] {
			return d
		}
	}
	return ""
}

// parseBatch checks a batch body as Graph does and returns Graph's message when it is refused.
func parseBatch(body []byte) ([]batchStep, string) {
	var payload struct {
		Requests *[]batchStep `json:"requests"`
	}
	if json.Unmarshal(body, &payload) != nil {
		return nil, "Invalid batch payload format."
	}
	if payload.Requests == nil || len(*payload.Requests) == 0 {
		return nil, "Invalid batch payload format: the requests property is required and may not be empty."
	}
	steps := *payload.Requests
	if len(steps) > maxBatchRequests {
		return nil, "The number of requests in the batch exceeds the maximum of 20."
	}
	ids := map[string]bool{}
	for _, s := range steps {
		switch {
		case s.ID == nil || strings.TrimSpace(*s.ID) == "":
			return nil, "Invalid batch payload format: every request needs an id."
		case s.Method == nil || strings.TrimSpace(*s.Method) == "":
			return nil, "Invalid batch payload format: request " + *s.ID + " has no method."
		case s.URL == nil || strings.TrimSpace(*s.URL) == "":
			return nil, "Invalid batch payload format: request " + *s.ID + " has no url."
		}
		// Ids are not case-sensitive.
		id := strings.ToLower(*s.ID)
		if ids[id] {
			return nil, "Request Id " + *s.ID + " has to be unique in a batch."
		}
		ids[id] = true
		if u := strings.ToLower(*s.URL); strings.Contains(u, "://") || strings.HasPrefix(u, "//") ||
			strings.HasPrefix(u, "/v1.0/") || strings.HasPrefix(u, "v1.0/") || strings.HasPrefix(u, "/beta/") {
			return nil, "Invalid request URL " + *s.URL + ": the url of a request in a batch must be relative to the version, such as /users."
		}
		if hasBody(s.Body) && headerValue(s.Headers, "Content-Type") == "" {
			return nil, "Content-Type header must be specified for request " + *s.ID + " because it has a body."
		}
	}
	// dependsOn may only name other requests of the same batch, without cycles.
	for _, s := range steps {
		for _, d := range s.DependsOn {
			if !ids[strings.ToLower(d)] || strings.EqualFold(d, *s.ID) {
				return nil, "Request " + *s.ID + " depends on request " + d + ", which is not in the batch."
			}
		}
	}
	if hasCycle(steps) {
		return nil, "The dependsOn of the batch's requests form a cycle."
	}
	return steps, ""
}

func hasCycle(steps []batchStep) bool {
	deps := map[string][]string{}
	for _, s := range steps {
		for _, d := range s.DependsOn {
			deps[strings.ToLower(*s.ID)] = append(deps[strings.ToLower(*s.ID)], strings.ToLower(d))
		}
	}
	const (
		visiting = 1
		finished = 2
	)
	state := map[string]int{}
	var visit func(id string) bool
	visit = func(id string) bool {
		switch state[id] {
		case visiting:
			return true
		case finished:
			return false
		}
		state[id] = visiting
		for _, d := range deps[id] {
			if visit(d) {
				return true
			}
		}
		state[id] = finished
		return false
	}
	for _, s := range steps {
		if visit(strings.ToLower(*s.ID)) {
			return true
		}
	}
	return false
}

func hasBody(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && !bytes.Equal(b, []byte("null"))
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func (t *Tenant) failedDependency(g *graphCall, id string) batchAnswer {
	return batchAnswer{
		ID: id, Status: http.StatusFailedDependency,
		Headers: map[string]string{"Content-Type": "application/json"},
		Body: mustJSON(graphErrorBody{Error: graphError{
			Code: "FailedDependency", Message: "The request could not be run because a request it depends on failed.",
			InnerError: graphInnerError{Date: t.now().UTC().Format("2006-01-02T15:04:05"), RequestID: g.reqID, ClientRequestID: g.clientID},
		}}),
	}
}

// serveStep serves one request of a batch through the same code as a request sent alone.
func (t *Tenant) serveStep(outer *http.Request, batchID string, s batchStep) batchAnswer {
	u := *s.URL
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	var body io.Reader = http.NoBody
	if hasBody(s.Body) {
		raw := []byte(s.Body)
		var enc string
		if json.Unmarshal(raw, &enc) == nil {
			// A body that is a JSON string is base64 (binary content such as an image).
			if dec, err := base64.StdEncoding.DecodeString(enc); err == nil {
				raw = dec
			}
		}
		body = bytes.NewReader(raw)
	}
	ctx := context.WithValue(outer.Context(), batchKey{}, batchID)
	in, err := http.NewRequestWithContext(ctx, strings.ToUpper(*s.Method), "/v1.0"+u, body)
	if err != nil {
		return batchAnswer{ID: *s.ID, Status: http.StatusBadRequest, Headers: map[string]string{"Content-Type": "application/json"},
			Body: mustJSON(graphErrorBody{Error: graphError{Code: "BadRequest", Message: "Invalid request URL " + *s.URL + "."}})}
	}
	in.Host = outer.Host
	in.RemoteAddr = outer.RemoteAddr
	for k, v := range s.Headers {
		in.Header.Set(k, v)
	}
	// The batch's credentials and priority apply to every request in it.
	for _, k := range []string{"Authorization", "x-ms-throttle-priority"} {
		if v := outer.Header.Get(k); v != "" {
			in.Header.Set(k, v)
		}
	}
	rec := &discardWriter{header: http.Header{}}
	t.handleGraph(rec, in)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	a := batchAnswer{ID: *s.ID, Status: status, Headers: map[string]string{}}
	for k, v := range rec.header {
		if len(v) > 0 {
			a.Headers[k] = v[0]
		}
	}
	if b := rec.buf.Bytes(); len(b) > 0 {
		if json.Valid(b) {
			a.Body = append(json.RawMessage(nil), b...)
		} else {
			a.Body = mustJSON(base64.StdEncoding.EncodeToString(b))
		}
	}
	return a
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("devtenant: " + err.Error())
	}
	return b
}

func isBatchPath(p string) bool {
	return strings.HasPrefix(p, "/$batch") || strings.HasPrefix(p, "/v1.0/$batch")
}
