package devtenant

import (
	"math/rand/v2"
	"net/http"
	"portico/internal/faultspec"
	"slices"
	"strings"
	"time"
)

// FaultState is an injected fault as Faults lists it.
type FaultState struct {
	Fault
	Spec string // the fault in the syntax ParseFault reads
	Left int    // requests it will still act on; -1 means unlimited
	Hits int    // requests it acted on so far
}

// Fault changes how Graph answers matching requests; see faultspec.Fault.
type Fault = faultspec.Fault

// ParseFault reads a fault in the spec syntax of faultspec.Parse, e.g.
// "POST /invitations status=503 after rate=0.3".
func ParseFault(spec string) (Fault, error) { return faultspec.Parse(spec) }

// ParseWriteQuota reads a write quota written N/DURATION (e.g. 20/1s), or off.
func ParseWriteQuota(s string) (int, time.Duration, error) { return faultspec.ParseWriteQuota(s) }

// AbuseBlock is the fault Entra's abuse protection amounts to: every invitation is refused with 403.
func AbuseBlock() Fault { return faultspec.AbuseBlock() }

type activeFault struct {
	Fault
	left int // < 0: unlimited
	hits int
}

// InjectFault adds a fault; faults are matched in the order they were injected.
func (t *Tenant) InjectFault(f Fault) {
	t.mu.Lock()
	defer t.mu.Unlock()
	left := f.Times
	if left <= 0 {
		left = -1
	}
	t.faults = append(t.faults, &activeFault{Fault: f, left: left})
}

// ClearFaults removes every injected fault.
func (t *Tenant) ClearFaults() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = nil
}

// Faults lists the injected faults still active, in matching order.
func (t *Tenant) Faults() []FaultState {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]FaultState, 0, len(t.faults))
	for _, f := range t.faults {
		out = append(out, FaultState{Fault: f.Fault, Spec: f.String(), Left: f.left, Hits: f.hits})
	}
	return out
}

// SetFaultSeed restarts the generator that decides which requests a fault with a Rate meets.
func (t *Tenant) SetFaultSeed(seed uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faultRand = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) //nolint:gosec // G404: a seeded, repeatable choice of faulted requests, not a secret
}

// WriteQuota reports the write token bucket SetWriteQuota set: n writes per period (n <= 0: none).
func (t *Tenant) WriteQuota() (n int, per time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.quota.limit, t.quota.per
}

func (t *Tenant) takeFault(r *http.Request) *Fault {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, f := range t.faults {
		if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
			continue
		}
		// The $batch itself meets only faults aimed at it; the others meet the requests inside.
		if isBatchPath(r.URL.Path) && !isBatchPath(f.PathPrefix) {
			continue
		}
		if p := f.PathPrefix; p != "" && !strings.HasPrefix(r.URL.Path, p) && !strings.HasPrefix(r.URL.Path, "/v1.0"+p) {
			continue
		}
		if f.Alone && batchOf(r.Context()) != "" {
			continue
		}
		if f.Rate > 0 && f.Rate < 1 && t.faultRand.Float64() >= f.Rate {
			continue
		}
		out := f.Fault
		f.hits++
		if f.left > 0 {
			f.left--
			if f.left == 0 {
				t.faults = slices.Delete(t.faults, i, i+1)
			}
		}
		return &out
	}
	return nil
}

// serveFaulted answers g as fault f says; serve does Graph's work for the request. record logs
// the request before a dropped connection can be observed by the client; w is the connection's
// own writer (the one that can be hijacked).
func (t *Tenant) serveFaulted(f *Fault, g *graphCall, w http.ResponseWriter, record func(), serve func(*graphCall)) {
	ctx := g.r.Context()
	if !t.sleep(ctx, f.Delay) {
		return // the client gave up (or the tenant closes) before Graph acted
	}
	switch {
	case f.DropBeforeActing:
		record()
		dropConnection(w)
		return
	case f.Status != 0 && !f.AfterActing:
		t.answerFault(f, g)
		return
	case !f.AfterActing && !f.DropConnection && f.Hold <= 0:
		serve(g) // a delay only
		return
	}
	// Graph acts; its answer is kept back.
	sink := &discardWriter{header: http.Header{}}
	orig := g.w
	g.w = sink
	serve(g)
	g.w = orig
	if !t.sleep(ctx, f.Hold) {
		return // the client stopped waiting: the work is done, the answer never arrives
	}
	switch {
	case f.DropConnection:
		record()
		dropConnection(w)
	case f.Status != 0:
		t.answerFault(f, g)
	default:
		h := g.w.Header()
		for k, v := range sink.header {
			h[k] = v
		}
		status := sink.status
		if status == 0 {
			status = http.StatusOK
		}
		g.w.WriteHeader(status)
		_, _ = g.w.Write(sink.buf.Bytes())
	}
}

// answerFault answers Graph's error envelope for f's Status, with its headers.
func (t *Tenant) answerFault(f *Fault, g *graphCall) {
	h := g.w.Header()
	code, msg := faultErrorAnswer(f, h)
	if f.Status == http.StatusTooManyRequests {
		h.Set("x-ms-throttle-scope", "Tenant_Application/ReadWrite/"+t.opts.ClientID+"/"+t.opts.TenantID)
		h.Set("x-ms-throttle-information", "ResourceUnitLimitExceeded")
	}
	g.fail(f.Status, code, msg)
}

// dropConnection closes the client's connection without an answer.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not hijackable (HTTP/2, or a request inside a $batch): abort the response instead, which
		// also yields no answer.
		panic(http.ErrAbortHandler)
	}
	_ = conn.Close()
}
