package devtenant

import (
	"crypto/subtle"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// The control endpoint lets the operator of a running devtenant inject Graph faults and set the
// write quota from outside Go (scripts, the demo). It is not part of Entra or Graph: it answers
// only when Options.ControlToken is set, only to loopback callers, and only with
// "Authorization: Bearer <ControlToken>".
//
//	GET    /_devtenant/faults       list the active faults (JSON)
//	POST   /_devtenant/faults       add faults: text/plain body, one ParseFault spec per line
//	                                (blank lines and lines starting with # are skipped); all or none
//	DELETE /_devtenant/faults       remove every fault
//	GET    /_devtenant/write-quota  the write quota (JSON)
//	PUT    /_devtenant/write-quota  set it: body N/DURATION (e.g. 20/1s) or off
//	GET    /_devtenant/clock        the directory clock and its offset (JSON)
//	PUT    /_devtenant/clock        move it: 720h (offset), +24h (forward), off

const maxControlBody = 64 << 10

type controlFault struct {
	Spec string `json:"spec"`
	Left int    `json:"left"` // -1: unlimited
	Hits int    `json:"hits"`
}

type controlQuota struct {
	Writes int    `json:"writes"` // 0: no limit
	Per    string `json:"per"`
}

// controlAllowed checks the caller; on refusal it has answered.
func (t *Tenant) controlAllowed(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if t.opts.ControlToken == "" {
		controlError(w, http.StatusNotFound, "the control endpoint is off (devtenant was started without a control token)")
		return false
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		controlError(w, http.StatusForbidden, "the control endpoint answers loopback callers only")
		return false
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") ||
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(t.opts.ControlToken)) != 1 {
		h.Set("WWW-Authenticate", `Bearer realm="devtenant-control"`)
		controlError(w, http.StatusUnauthorized, "send the control token devtenant printed at start as Authorization: Bearer <token>")
		return false
	}
	return true
}

func controlError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, "application/json", map[string]any{"error": map[string]string{"message": msg}})
}

func readControlBody(w http.ResponseWriter, r *http.Request) (string, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxControlBody+1))
	if err != nil || len(b) > maxControlBody {
		controlError(w, http.StatusRequestEntityTooLarge, "the body could not be read or is larger than 64 KiB")
		return "", false
	}
	return string(b), true
}

func (t *Tenant) handleControlFaults(w http.ResponseWriter, r *http.Request) {
	if !t.controlAllowed(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		body, ok := readControlBody(w, r)
		if !ok {
			return
		}
		var add []Fault
		for i, line := range strings.Split(body, "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			f, err := ParseFault(line)
			if err != nil {
				controlError(w, http.StatusBadRequest, fmt.Sprintf("line %d: %v; no fault was added", i+1, err))
				return
			}
			add = append(add, f)
		}
		if len(add) == 0 {
			controlError(w, http.StatusBadRequest, "the body holds no fault: send one spec per line, e.g. POST /invitations status=503 after rate=0.3")
			return
		}
		for _, f := range add {
			t.InjectFault(f)
			t.log.Info("devtenant: fault injected", "fault", f.String())
		}
	case http.MethodDelete:
		t.ClearFaults()
		t.log.Info("devtenant: faults cleared")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		controlError(w, http.StatusMethodNotAllowed, "use GET, POST or DELETE")
		return
	}
	list := []controlFault{}
	for _, f := range t.Faults() {
		list = append(list, controlFault{Spec: f.Spec, Left: f.Left, Hits: f.Hits})
	}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		status = http.StatusCreated
	}
	writeJSON(w, status, "application/json", map[string]any{"faults": list})
}

func (t *Tenant) handleControlQuota(w http.ResponseWriter, r *http.Request) {
	if !t.controlAllowed(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut, http.MethodPost:
		body, ok := readControlBody(w, r)
		if !ok {
			return
		}
		n, per, err := ParseWriteQuota(body)
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		t.SetWriteQuota(n, per)
		t.log.Info("devtenant: write quota set", "writes", n, "per", per)
	default:
		w.Header().Set("Allow", "GET, PUT")
		controlError(w, http.StatusMethodNotAllowed, "use GET or PUT")
		return
	}
	n, per := t.WriteQuota()
	if n <= 0 {
		n, per = 0, time.Duration(0)
	}
	writeJSON(w, http.StatusOK, "application/json", controlQuota{Writes: max(n, 0), Per: per.String()})
}

type controlClock struct {
	Offset string `json:"offset"` // how far the directory clock runs ahead of the real one
	Now    string `json:"now"`    // the directory clock now (RFC 3339)
}

// ParseClockOffset reads a clock setting: "720h" or "30d" sets the offset, "+24h" moves it forward, "0"
// or "off" resets it. Negative offsets are refused: the directory clock never runs backwards.
func ParseClockOffset(s string, current time.Duration) (time.Duration, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "0", "off":
		if s == "" {
			return 0, fmt.Errorf("devtenant: clock: empty; send a duration such as 720h, +24h or off")
		}
		return 0, nil
	}
	add := strings.HasPrefix(s, "+")
	v := strings.TrimPrefix(s, "+")
	d, err := time.ParseDuration(v)
	if days, ok := strings.CutSuffix(v, "d"); ok && err != nil {
		var n int
		if _, serr := fmt.Sscanf(days, "%d", &n); serr == nil && fmt.Sprint(n) == days {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil {
		return 0, fmt.Errorf("devtenant: clock: %q is not a duration (e.g. 720h, 30d, +24h, off)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("devtenant: clock: %q is negative; the directory clock only moves forward", s)
	}
	if add {
		d += current
	}
	return d, nil
}

// handleControlClock reads (GET) or sets (PUT, body as ParseClockOffset reads it) the directory clock.
func (t *Tenant) handleControlClock(w http.ResponseWriter, r *http.Request) {
	if !t.controlAllowed(w, r) {
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPut, http.MethodPost:
		body, ok := readControlBody(w, r)
		if !ok {
			return
		}
		d, err := ParseClockOffset(body, t.ClockOffset())
		if err != nil {
			controlError(w, http.StatusBadRequest, err.Error())
			return
		}
		t.SetClockOffset(d)
		t.log.Info("devtenant: clock moved", "offset", d)
	default:
		w.Header().Set("Allow", "GET, PUT")
		controlError(w, http.StatusMethodNotAllowed, "use GET or PUT")
		return
	}
	writeJSON(w, http.StatusOK, "application/json", controlClock{Offset: t.ClockOffset().String(),
		Now: t.DirectoryNow().UTC().Format(time.RFC3339)})
}
