package devtenant

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxGraphBody is Graph's request size limit.
const maxGraphBody = 4 << 20

// maxRecorded bounds the request log so a long demo run does not grow without end.
const maxRecorded = 10000

// RecordedRequest is one Graph request as devtenant received it.
type RecordedRequest struct {
	Time      time.Time
	Method    string
	Path      string
	RawQuery  string
	Query     url.Values
	Header    http.Header
	Body      []byte
	Status    int // 0 when the connection was dropped without an answer
	RequestID string
	BatchID   string // the request id of the $batch that carried this request, or ""
}

// Requests lists the Graph requests received so far (the newest 10,000), oldest first.
func (t *Tenant) Requests() []RecordedRequest {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]RecordedRequest, len(t.requests))
	for i, r := range t.requests {
		r.Query = cloneValues(r.Query)
		r.Header = r.Header.Clone()
		r.Body = slices.Clone(r.Body)
		out[i] = r
	}
	return out
}

// ResetRequests forgets the recorded Graph requests and round trips.
func (t *Tenant) ResetRequests() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests = nil
	t.roundTrips = nil
}

// RoundTrip is one HTTP request to Graph as the network saw it: a $batch is one round trip
// however many requests it carries. Start and End are wall-clock times (not Options.Clock), so
// overlapping round trips can be told from sequential ones.
type RoundTrip struct {
	Method string
	Path   string
	Start  time.Time
	End    time.Time
}

// RoundTrips lists the HTTP requests Graph received (the newest 10,000), oldest first; Requests
// lists the Graph requests inside them (those of a $batch one by one).
func (t *Tenant) RoundTrips() []RoundTrip {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.roundTrips)
}

// SequentialRoundTrips counts how many round trips a caller waited for one after another: round
// trips that overlap in time count once.
func SequentialRoundTrips(rts []RoundTrip) int {
	rts = slices.Clone(rts)
	slices.SortFunc(rts, func(a, b RoundTrip) int { return a.Start.Compare(b.Start) })
	n := 0
	var end time.Time
	for _, rt := range rts {
		if n == 0 || !rt.Start.Before(end) {
			n++
			end = rt.End
			continue
		}
		if rt.End.After(end) {
			end = rt.End
		}
	}
	return n
}

func (t *Tenant) recordRoundTrip(rt RoundTrip) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.roundTrips = appendNewest(t.roundTrips, rt)
}

// appendNewest appends v to s and keeps only the newest maxRecorded entries.
func appendNewest[T any](s []T, v T) []T {
	s = append(s, v)
	if n := len(s); n > maxRecorded {
		s = slices.Delete(s, 0, n-maxRecorded)
	}
	return s
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// SetWriteQuota sets the write token bucket per application and tenant: n writes per period
// (Graph's identity default is 3,000 per 150 s); n <= 0 removes the limit.
func (t *Tenant) SetWriteQuota(n int, per time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.quota.reset(n, per)
}

type quota struct {
	limit   int
	per     time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (q *quota) reset(n int, per time.Duration) {
	if per <= 0 {
		per = time.Second
	}
	q.limit, q.per, q.buckets = n, per, map[string]*bucket{}
}

// take spends one write; when none is left it reports how long until one is.
func (q *quota) take(key string, now time.Time) (ok bool, wait time.Duration, used float64) {
	if q.limit <= 0 {
		return true, 0, 0
	}
	rate := float64(q.limit) / q.per.Seconds() // tokens per second
	b := q.buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(q.limit), last: now}
		q.buckets[key] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = math.Min(float64(q.limit), b.tokens+el*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / rate * float64(time.Second)), 1
	}
	b.tokens--
	return true, 0, 1 - b.tokens/float64(q.limit)
}

// principal is the caller a Graph access token names.
type principal struct {
	app   bool
	appID string
	oid   string
	upn   string
	name  string
	perms []string // delegated scp or application roles
	wids  []string
}

func (p *principal) can(perms ...string) bool {
	for _, want := range perms {
		if slices.ContainsFunc(p.perms, func(have string) bool { return strings.EqualFold(have, want) }) {
			return true
		}
	}
	return false
}

func (p *principal) hasRole(ids ...string) bool {
	return slices.ContainsFunc(p.wids, func(w string) bool { return slices.Contains(ids, w) })
}

// graphCall is one Graph request being answered.
type graphCall struct {
	t        *Tenant
	w        http.ResponseWriter
	r        *http.Request
	reqID    string
	clientID string
	base     string
	who      *principal
	body     []byte
}

type graphErrorBody struct {
	Error graphError `json:"error"`
}

type graphError struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	InnerError graphInnerError `json:"innerError"`
}

type graphInnerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

// fail answers Graph's error envelope.
func (g *graphCall) fail(status int, code, msg string) {
	writeJSON(g.w, status, "application/json", graphErrorBody{Error: graphError{
		Code: code, Message: msg,
		InnerError: graphInnerError{
			Date:            g.t.now().UTC().Format("2006-01-02T15:04:05"),
			RequestID:       g.reqID,
			ClientRequestID: g.clientID,
		},
	}})
}

func (g *graphCall) ok(status int, v any) {
	writeJSON(g.w, status, "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8", v)
}

func (g *graphCall) denied() {
	g.fail(http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
}

func (g *graphCall) unauthorized(msg string) {
	g.w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="`+g.base+`/common/oauth2/authorize", client_id="`+graphAppID+`"`)
	g.fail(http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
}

// faultErrorAnswer is the Graph error a fault with a Status answers: its code and message (those
// Graph gives for the status unless the fault names its own), with its Retry-After set on h.
func faultErrorAnswer(f *Fault, h http.Header) (code, msg string) {
	code, msg = defaultFaultCode(f.Status)
	if f.Code != "" {
		code = f.Code
	}
	if f.Message != "" {
		msg = f.Message
	}
	if f.RetryAfter != "" {
		h.Set("Retry-After", f.RetryAfter)
	}
	return code, msg
}

func defaultFaultCode(status int) (string, string) {
	switch status {
	case http.StatusBadRequest:
		return "BadRequest", "Bad request."
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
	case http.StatusForbidden:
		return "Authorization_RequestDenied", "Insufficient privileges to complete the operation."
	case http.StatusNotFound:
		return "Request_ResourceNotFound", "Resource does not exist or one of its queried reference-property objects are not present."
	case http.StatusTooManyRequests:
		return "TooManyRequests", "Too many requests. Please try again later."
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable", "The service is temporarily unavailable. Please try again later."
	case http.StatusGatewayTimeout:
		return "GatewayTimeout", "The gateway did not receive a timely response from the service."
	case http.StatusInternalServerError:
		return "InternalServerError", "An internal server error occurred."
	}
	return "UnknownError", http.StatusText(status)
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// discardWriter collects an answer that will never be sent (DropConnection).
type discardWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (d *discardWriter) Header() http.Header { return d.header }
func (d *discardWriter) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}
func (d *discardWriter) Write(b []byte) (int, error) { return d.buf.Write(b) }

// answerIDs gives a Graph answer its request id and echoes the client's (or the request id), as
// Graph does on every answer, and returns both.
func answerIDs(w http.ResponseWriter, r *http.Request) (reqID, crid string) {
	reqID = newUUID()
	crid = r.Header.Get("client-request-id")
	if crid == "" {
		crid = reqID
	}
	h := w.Header()
	h.Set("request-id", reqID)
	h.Set("client-request-id", crid)
	h.Set("Cache-Control", "no-cache")
	return reqID, crid
}

func (t *Tenant) handleGraph(w http.ResponseWriter, r *http.Request) {
	reqID, crid := answerIDs(w, r)
	h := w.Header()
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Local","Slice":"E","Ring":"5","ScaleUnit":"000","RoleInstance":"devtenant"}}`)

	sw := &statusWriter{ResponseWriter: w}
	g := &graphCall{t: t, w: sw, r: r, reqID: reqID, clientID: crid, base: t.baseOf(r)}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxGraphBody+1))
	rec := RecordedRequest{
		Time: t.now(), Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body, RequestID: reqID, BatchID: batchOf(r.Context()),
	}
	recorded := false
	finish := func() {
		if !recorded {
			recorded = true
			rec.Status = sw.status
			t.record(rec)
			t.log.Debug("devtenant: graph", "method", r.Method, "path", r.URL.Path, "status", sw.status, "request_id", reqID)
		}
	}
	defer finish()
	if err != nil {
		g.fail(http.StatusBadRequest, "BadRequest", "The request body could not be read.")
		return
	}
	if len(body) > maxGraphBody {
		g.fail(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body is larger than 4 MB.")
		return
	}
	g.body = body

	if f := t.takeFault(r); f != nil {
		t.serveFaulted(f, g, w, finish, t.serveGraph)
		return
	}
	t.serveGraph(g)
}

func (t *Tenant) record(rec RecordedRequest) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.requests = appendNewest(t.requests, rec)
}

func (t *Tenant) serveGraph(g *graphCall) {
	who, ok := g.authenticate()
	if !ok {
		return
	}
	g.who = who
	r := g.r
	path := strings.TrimPrefix(r.URL.Path, "/v1.0")
	var (
		method string
		handle func(*graphCall)
		units  = 1
	)
	switch {
	case path == "/invitations":
		method, handle = http.MethodPost, t.graphCreateInvitation
	case path == "/users":
		method, handle, units = http.MethodGet, t.graphListUsers, 2
	case strings.HasPrefix(path, "/users/") && !strings.Contains(path[len("/users/"):], "/") && len(path) > len("/users/"):
		switch r.Method {
		case http.MethodPatch:
			method, handle = http.MethodPatch, t.graphPatchUser
		case http.MethodDelete:
			method, handle = http.MethodDelete, t.graphDeleteUser
		default:
			method, handle = http.MethodGet, t.graphGetUser
		}
	case path == "/directory/deletedItems/microsoft.graph.user":
		method, handle = http.MethodGet, t.graphListDeletedUsers
	case strings.HasPrefix(path, "/directory/deletedItems/") && strings.HasSuffix(path, "/restore") && strings.Count(path, "/") == 4:
		method, handle = http.MethodPost, t.graphRestoreDeleted
	case strings.HasPrefix(path, "/users/") && strings.HasSuffix(path, "/sponsors") && strings.Count(path, "/") == 3:
		method, handle = http.MethodGet, t.graphUserSponsors
	case strings.HasPrefix(path, "/users/") && strings.HasSuffix(path, "/manager") && strings.Count(path, "/") == 3:
		method, handle = http.MethodGet, t.graphGetManager
	case strings.HasPrefix(path, "/groups/") && strings.Count(path, "/") == 2 && len(path) > len("/groups/"):
		method, handle = http.MethodGet, t.graphGetGroup
	case strings.HasPrefix(path, "/groups/") && strings.HasSuffix(path, "/members/$ref") && strings.Count(path, "/") == 4:
		method, handle = http.MethodPost, t.graphAddGroupMember
	case path == "/me":
		method, handle = http.MethodGet, t.graphMe
	case path == "/me/sendMail" || strings.HasPrefix(path, "/users/") && strings.HasSuffix(path, "/sendMail") && strings.Count(path, "/") == 3:
		method, handle = http.MethodPost, t.graphSendMail
	case path == "/organization":
		method, handle = http.MethodGet, t.graphOrganization
	default:
		seg := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 2)[0]
		g.fail(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '"+seg+"'.")
		return
	}
	if r.Method != method && !(method == http.MethodGet && r.Method == http.MethodHead) {
		g.fail(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
		return
	}
	if r.URL.Query().Has("$select") && units > 1 {
		units--
	}
	if method != http.MethodGet {
		if !g.takeWrite() {
			return
		}
	}
	g.w.Header().Set("x-ms-resource-unit", strconv.Itoa(units))
	handle(g)
}

// takeWrite applies the write quota of the caller's application in this tenant.
func (g *graphCall) takeWrite() bool {
	t := g.t
	t.mu.Lock()
	ok, wait, used := t.quota.take(g.who.appID, t.now())
	t.mu.Unlock()
	if used > 0.8 {
		g.w.Header().Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(math.Min(used, 1.8), 'f', 2, 64))
	}
	if ok {
		return true
	}
	secs := max(1, int(math.Ceil(wait.Seconds())))
	h := g.w.Header()
	h.Set("Retry-After", strconv.Itoa(secs))
	h.Set("x-ms-throttle-scope", "Tenant_Application/Write/"+g.who.appID+"/"+t.opts.TenantID)
	h.Set("x-ms-throttle-information", "WriteLimitExceeded")
	g.fail(http.StatusTooManyRequests, "TooManyRequests", "Too many requests. The write limit of this application in this tenant is exceeded; retry after "+strconv.Itoa(secs)+" seconds.")
	return false
}

// authenticate verifies the bearer token as Graph does: devtenant's signature, Graph audience,
// this tenant, lifetime (no clock skew allowance, so tests can observe expiry).
func (g *graphCall) authenticate() (*principal, bool) {
	authz := g.r.Header.Get("Authorization")
	scheme, raw, _ := strings.Cut(authz, " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		g.unauthorized("Access token is empty.")
		return nil, false
	}
	g.t.mu.Lock()
	keys := slices.Clone(g.t.keys)
	g.t.mu.Unlock()
	claims, err := verifyJWT(keys, raw)
	switch {
	case errors.Is(err, errTokenMalformed):
		g.unauthorized("IDX14100: JWT is not well formed, there are no dots (.) or the token could not be decoded.")
		return nil, false
	case err != nil:
		g.unauthorized("Access token validation failure. Signature validation failed.")
		return nil, false
	}
	if aud := claimStrings(claims, "aud"); !slices.Contains(aud, GraphAudience) && !slices.Contains(aud, graphAppID) {
		g.unauthorized("Access token validation failure. Invalid audience.")
		return nil, false
	}
	if claimString(claims, "tid") != g.t.opts.TenantID {
		g.unauthorized("Access token validation failure. Invalid issuer or tenant.")
		return nil, false
	}
	now := g.t.now().Unix()
	if exp, ok := claimInt(claims, "exp"); !ok || now >= exp {
		g.unauthorized("Lifetime validation failed, the token is expired.")
		return nil, false
	}
	if nbf, ok := claimInt(claims, "nbf"); ok && now < nbf {
		g.unauthorized("Lifetime validation failed, the token is not yet valid.")
		return nil, false
	}
	p := &principal{
		// idtyp is an optional claim; an app-only token is also one without scp.
		app:   claimString(claims, "idtyp") == "app" || claims["scp"] == nil,
		appID: claimString(claims, "appid"),
		oid:   claimString(claims, "oid"),
		upn:   claimString(claims, "upn"),
		name:  claimString(claims, "name"),
		wids:  claimStrings(claims, "wids"),
	}
	if p.app {
		p.perms = claimStrings(claims, "roles")
	} else {
		p.perms = strings.Fields(claimString(claims, "scp"))
	}
	return p, true
}

// decodeObject parses a JSON object body, keeping raw members for type-checked decoding.
func decodeObject(body []byte) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(body)) == 0 || json.Unmarshal(body, &m) != nil || m == nil {
		return nil, false
	}
	return m, true
}
