// Package faultspec is the small text syntax for devtenant's Graph faults, shared by the
// devtenant command, Portico's demo flags (config) and devtenant's control endpoint.
package faultspec

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Fault changes how Graph answers matching requests (method and path prefix; empty matches all).
// The requests inside a JSON batch meet faults one by one; the $batch itself meets only faults
// whose PathPrefix is "/$batch".
//
// A fault acts in this order: Delay (before Graph acts; a client that gives up meanwhile leaves
// nothing done); then DropBeforeActing closes the connection without an answer and without the
// work, or a Status without AfterActing answers instead of Graph (nothing done). Otherwise Graph
// does the work; then Hold keeps the answer back; then DropConnection closes the connection
// without an answer, or a Status with AfterActing answers in place of Graph's real answer (the
// work stays done), or the real answer is sent (late).
//
// Rate (0 < Rate < 1) makes a matching request meet the fault only with that probability, drawn
// from the tenant's seeded generator (devtenant's Options.FaultSeed, SetFaultSeed), so a test run is
// repeatable for the same order of requests. Times is how many requests it affects (counting only
// those it acted on); 0 means every one until ClearFaults.
type Fault struct {
	Method           string
	PathPrefix       string // e.g. "/v1.0/invitations" (the /v1.0 may be left out)
	Status           int
	Code             string
	Message          string
	RetryAfter       string
	Delay            time.Duration
	AfterActing      bool          // Status answers after Graph did the work
	Hold             time.Duration // Graph does the work, then holds its answer this long
	DropBeforeActing bool          // close the connection without an answer; Graph did nothing
	DropConnection   bool          // Graph does the work, then closes the connection without an answer
	Rate             float64       // probability of acting on a matching request; 0 means 1
	Alone            bool          // only requests sent on their own, not those inside a $batch
	Times            int
}

// Abuse-protection block of invitations (graph-contract.md, "Abuse protection on invitations"; the
// message as Graph words it, learn.microsoft.com/answers/questions/5781008 and /a/12731593):
// POST /invitations answers 403 until a support case lifts it.
const (
	AbuseBlockCode    = "Authorization_RequestDenied"
	AbuseBlockMessage = "Invitations are blocked for this directory due to suspicious activity. Please contact Microsoft support for help."
)

// AbuseBlock is the fault Entra's abuse protection amounts to: every invitation is refused with 403.
func AbuseBlock() Fault {
	return Fault{Method: http.MethodPost, PathPrefix: "/invitations", Status: http.StatusForbidden,
		Code: AbuseBlockCode, Message: AbuseBlockMessage}
}

// Parse reads a fault written as words separated by spaces:
//
//	[METHOD] [/path-prefix] [abuse] option...
//
// METHOD is GET, POST, PATCH, PUT, DELETE or HEAD (default: any); the path prefix starts with "/"
// (the /v1.0 may be left out; default: any path). "abuse" is the abuse-protection preset (POST
// /invitations status=403 with Graph's "Invitations are blocked for this directory…" answer).
// Options:
//
//	status=N          answer HTTP status N (400-599) with Graph's error envelope
//	code=CODE         the envelope's error code (default: Graph's for the status)
//	message="TEXT"    the envelope's message (double quotes allow spaces)
//	retry-after=S     Retry-After header, in seconds
//	delay=DUR         wait before Graph acts (Go duration: 500ms, 10s)
//	after             Graph acts, then the status is answered instead of its real answer
//	hold=DUR          Graph acts, then its answer is held back this long
//	drop=before|after close the connection without an answer, before or after Graph acts
//	rate=P            act on a matching request with probability P (0 < P <= 1)
//	times=N           act on the next N matching requests only
//	alone             only requests sent on their own, not those inside a $batch (devtenant runs a
//	                  batch's requests one after another, so delays inside one add up; a proxy
//	                  delays the $batch round trip once: POST /$batch delay=…)
//
// Examples: `POST /invitations status=503 after rate=0.3`, `POST /invitations status=429
// retry-after=2 times=1`, `GET /users delay=10s`, `POST /invitations hold=40s`, `abuse`.
func Parse(spec string) (Fault, error) {
	words, err := splitWords(spec)
	if err != nil {
		return Fault{}, err
	}
	if len(words) == 0 {
		return Fault{}, errors.New("empty fault: name at least a status, delay, hold or drop (e.g. POST /invitations status=503 after)")
	}
	var f Fault
	i := 0
	if m := strings.ToUpper(words[0]); slices.Contains([]string{"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"}, m) {
		f.Method = m
		i++
	} else if words[0] == "*" {
		i++
	}
	if i < len(words) && strings.HasPrefix(words[i], "/") {
		f.PathPrefix = words[i]
		i++
	}
	for _, w := range words[i:] {
		key, val, hasVal := strings.Cut(w, "=")
		key = strings.ToLower(key)
		if !hasVal {
			switch key {
			case "after":
				f.AfterActing = true
			case "alone":
				f.Alone = true
			case "abuse":
				a := AbuseBlock()
				if f.Method == "" {
					f.Method = a.Method
				}
				if f.PathPrefix == "" {
					f.PathPrefix = a.PathPrefix
				}
				f.Status, f.Code, f.Message = a.Status, a.Code, a.Message
			default:
				return Fault{}, fmt.Errorf("%q is not a fault option (expected key=value, after, alone or abuse)", w)
			}
			continue
		}
		if val == "" {
			return Fault{}, fmt.Errorf("%s= needs a value", key)
		}
		switch key {
		case "status":
			n, err := strconv.Atoi(val)
			if err != nil || n < 400 || n > 599 {
				return Fault{}, fmt.Errorf("status=%s must be an HTTP error status from 400 to 599", val)
			}
			f.Status = n
		case "code":
			f.Code = val
		case "message":
			f.Message = val
		case "retry-after":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return Fault{}, fmt.Errorf("retry-after=%s must be a whole number of seconds", val)
			}
			f.RetryAfter = val
		case "delay", "hold":
			d, err := time.ParseDuration(val)
			if err != nil || d < 0 {
				return Fault{}, fmt.Errorf("%s=%s must be a duration like 500ms or 10s", key, val)
			}
			if key == "delay" {
				f.Delay = d
			} else {
				f.Hold = d
			}
		case "drop":
			switch strings.ToLower(val) {
			case "before":
				f.DropBeforeActing = true
			case "after":
				f.DropConnection = true
			default:
				return Fault{}, fmt.Errorf("drop=%s must be before or after", val)
			}
		case "rate":
			p, err := strconv.ParseFloat(val, 64)
			if err != nil || !(p > 0 && p <= 1) {
				return Fault{}, fmt.Errorf("rate=%s must be a probability above 0 and at most 1, e.g. 0.3", val)
			}
			f.Rate = p
		case "times":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return Fault{}, fmt.Errorf("times=%s must be a whole number of at least 1", val)
			}
			f.Times = n
		default:
			return Fault{}, fmt.Errorf("%q is not a fault option (status, code, message, retry-after, delay, hold, after, drop, rate, times)", key)
		}
	}
	return f, f.Check()
}

// Check refuses faults whose parts contradict each other or do nothing.
func (f *Fault) Check() error {
	drops := f.DropBeforeActing || f.DropConnection
	switch {
	case f.DropBeforeActing && f.DropConnection:
		return errors.New("drop=before and drop=after exclude each other")
	case drops && f.Status != 0:
		return errors.New("a dropped connection has no status: use drop or status, not both")
	case f.AfterActing && f.Status == 0:
		return errors.New("after needs a status (e.g. status=503 after)")
	case f.DropBeforeActing && f.Hold > 0:
		return errors.New("hold needs Graph to act; drop=before acts on nothing")
	case f.Status != 0 && !f.AfterActing && f.Hold > 0:
		return errors.New("hold with a status needs after (Graph acts, holds, then answers the status)")
	case f.Status == 0 && !drops && f.Delay <= 0 && f.Hold <= 0:
		return errors.New("the fault changes nothing: give a status, delay, hold or drop")
	case (f.Code != "" || f.Message != "" || f.RetryAfter != "") && f.Status == 0:
		return errors.New("code, message and retry-after need a status")
	}
	return nil
}

// String writes f in the syntax Parse reads.
func (f Fault) String() string {
	var b []string
	if f.Method != "" {
		b = append(b, strings.ToUpper(f.Method))
	}
	if f.PathPrefix != "" {
		b = append(b, f.PathPrefix)
	}
	if f.Status != 0 {
		b = append(b, "status="+strconv.Itoa(f.Status))
	}
	if f.Code != "" {
		b = append(b, "code="+quoteWord(f.Code))
	}
	if f.Message != "" {
		b = append(b, "message="+quoteWord(f.Message))
	}
	if f.RetryAfter != "" {
		b = append(b, "retry-after="+quoteWord(f.RetryAfter))
	}
	if f.Delay > 0 {
		b = append(b, "delay="+f.Delay.String())
	}
	if f.AfterActing {
		b = append(b, "after")
	}
	if f.Hold > 0 {
		b = append(b, "hold="+f.Hold.String())
	}
	if f.DropBeforeActing {
		b = append(b, "drop=before")
	}
	if f.DropConnection {
		b = append(b, "drop=after")
	}
	if f.Rate > 0 && f.Rate < 1 {
		b = append(b, "rate="+strconv.FormatFloat(f.Rate, 'g', -1, 64))
	}
	if f.Times > 0 {
		b = append(b, "times="+strconv.Itoa(f.Times))
	}
	if f.Alone {
		b = append(b, "alone")
	}
	return strings.Join(b, " ")
}

func quoteWord(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"`
	}
	return s
}

// splitWords splits on spaces; a double-quoted part (with \" for a quote) may hold spaces.
func splitWords(s string) ([]string, error) {
	var (
		words []string
		cur   strings.Builder
		in    bool // inside quotes
		has   bool // cur holds a word, possibly empty ("")
	)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case in && c == '\\' && i+1 < len(s) && s[i+1] == '"':
			cur.WriteByte('"')
			i++
		case c == '"':
			in, has = !in, true
		case !in && (c == ' ' || c == '\t'):
			if has {
				words = append(words, cur.String())
				cur.Reset()
				has = false
			}
		default:
			cur.WriteByte(c)
			has = true
		}
	}
	if in {
		return nil, errors.New("a double quote is not closed")
	}
	if has {
		words = append(words, cur.String())
	}
	return words, nil
}

// ParseWriteQuota reads a write quota written N/DURATION (e.g. 20/1s, 3000/150s), or off.
func ParseWriteQuota(s string) (n int, per time.Duration, err error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") || s == "0" {
		return 0, time.Second, nil
	}
	ns, ds, ok := strings.Cut(s, "/")
	if ok {
		n, err = strconv.Atoi(strings.TrimSpace(ns))
		if err == nil {
			per, err = time.ParseDuration(strings.TrimSpace(ds))
		}
	}
	if !ok || err != nil || n < 1 || per <= 0 {
		return 0, 0, fmt.Errorf("write quota %q must be writes/duration, e.g. 20/1s or 3000/150s, or off", s)
	}
	return n, per, nil
}
