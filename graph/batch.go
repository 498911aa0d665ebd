package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// MaxBatchRequests is how many requests Graph accepts in one JSON batch.
const MaxBatchRequests = 20

// batchItem is one logical call carried by a JSON batch, and what came of it.
type batchItem struct {
	req request
	out any

	requestID string
	err       error
}

// batchRequest and batchResponse are Graph's JSON batching wire format (POST /v1.0/$batch).
type batchRequest struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    json.RawMessage   `json:"body,omitempty"`
}

type batchResponse struct {
	ID      string            `json:"id"`
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// doBatch runs items in JSON batches of at most MaxBatchRequests, all batches concurrently, so
// the caller waits for one round trip. Each item gets its own answer or error. Inner answers
// that may be retried (429, 503, 504 for a GET) are sent again in a later batch, waiting for
// their Retry-After, under the same retry budget as a single call.
func (c *Client) doBatch(ctx context.Context, ts oauth2.TokenSource, items []*batchItem) {
	if len(items) == 0 {
		return
	}
	if ts == nil {
		for _, it := range items {
			it.err = errors.New("graph: no token source")
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for start := 0; start < len(items); start += MaxBatchRequests {
		chunk := items[start:min(start+MaxBatchRequests, len(items))]
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.runBatch(ctx, ts, chunk)
		}()
	}
	wg.Wait()
}

// runBatch sends one batch of at most MaxBatchRequests items and re-sends the retryable ones.
func (c *Client) runBatch(ctx context.Context, ts oauth2.TokenSource, items []*batchItem) {
	var waited time.Duration
	pending := items
	for attempt := 1; ; attempt++ {
		retry, wait, hasWait := c.batchOnce(ctx, ts, pending, attempt)
		if len(retry) == 0 || attempt > c.maxRetries {
			return
		}
		if !hasWait {
			wait = backoff(attempt)
		}
		// A wait that cannot fit in the budget would only delay the same failures: keep them.
		if waited+wait > c.maxWait {
			return
		}
		if dl, ok := ctx.Deadline(); ok && dl.Sub(c.now()) < wait {
			return
		}
		c.log.DebugContext(ctx, "graph batch retry", "requests", len(retry), "attempt", attempt, "wait", wait)
		if c.obs != nil {
			// Items inside a $batch that Graph throttled: the wait is the batch's.
			c.obs.GraphWait(Endpoint(http.MethodPost, "/$batch"), wait, hasWait)
		}
		if err := c.sleep(ctx, wait); err != nil {
			for _, it := range retry {
				it.err = fmt.Errorf("graph: %s %s: stopped waiting to retry: %w (last answer: %w)", it.req.method, "/v1.0"+it.req.path, err, it.err)
			}
			return
		}
		waited += wait
		pending = retry
	}
}

// batchOnce sends items as one $batch. It fills in each item's answer or error and returns the
// items worth sending again with the longest Retry-After among them.
func (c *Client) batchOnce(ctx context.Context, ts oauth2.TokenSource, items []*batchItem, attempt int) (retry []*batchItem, wait time.Duration, hasWait bool) {
	body := struct {
		Requests []batchRequest `json:"requests"`
	}{Requests: make([]batchRequest, len(items))}
	byID := make(map[string]*batchItem, len(items))
	idempotent := true
	for i, it := range items {
		id := strconv.Itoa(i + 1)
		byID[id] = it
		u := it.req.path
		if it.req.query != "" {
			u += "?" + it.req.query
		}
		br := batchRequest{ID: id, Method: it.req.method, URL: u}
		if len(it.req.header) > 0 || it.req.body != nil {
			br.Headers = map[string]string{}
			for k, v := range it.req.header {
				if len(v) > 0 {
					br.Headers[k] = v[0]
				}
			}
		}
		if it.req.body != nil {
			br.Body = it.req.body
			br.Headers["Content-Type"] = "application/json"
		}
		body.Requests[i] = br
		idempotent = idempotent && (it.req.method == http.MethodGet || it.req.idempotent)
	}
	raw, err := json.Marshal(body)
	if err != nil {
		for _, it := range items {
			it.err = fmt.Errorf("graph: $batch: %w", err)
		}
		return nil, 0, false
	}

	var out struct {
		Responses []batchResponse `json:"responses"`
	}
	r := c.attempt(ctx, ts, request{
		method: http.MethodPost, path: "/$batch", body: raw, want: http.StatusOK,
		idempotent: idempotent, maxBody: c.maxBody * MaxBatchRequests,
	}, &out, attempt)
	if r.err != nil {
		// The batch as a whole failed: every request in it shares the answer.
		for _, it := range items {
			it.requestID, it.err = r.requestID, r.err
		}
		if r.retry {
			return items, r.retryAfter, r.hasWait
		}
		return nil, 0, false
	}

	for _, resp := range out.Responses {
		it := byID[resp.ID]
		if it == nil {
			continue // not ours (or answered twice): ignore rather than guess
		}
		delete(byID, resp.ID)
		h := make(http.Header, len(resp.Headers))
		for k, v := range resp.Headers {
			h.Set(k, v)
		}
		it.requestID = h.Get("request-id")
		if it.requestID == "" {
			it.requestID = r.requestID
		}
		if resp.Status < 200 || resp.Status > 299 {
			ra, ok := parseRetryAfter(h.Get("Retry-After"), c.now())
			ge := decodeError(resp.Status, h, resp.Body, "", ra)
			if ge.RequestID == "" {
				ge.RequestID = r.requestID
			}
			it.requestID, it.err = ge.RequestID, ge
			switch {
			case it.req.method != http.MethodGet && !it.req.idempotent && uncertainStatus(resp.Status):
				// As for a single call: a 500-class answer leaves a write's outcome unknown.
				it.err = fmt.Errorf("%w: %w", ErrUncertain, ge)
			case retryableStatus(resp.Status):
				retry = append(retry, it)
				if ok && (!hasWait || ra > wait) {
					wait, hasWait = ra, true
				}
			}
			continue
		}
		it.err = nil
		if resp.Status != it.req.want {
			it.err = fmt.Errorf("graph: %s %s: unexpected status %d, want %d", it.req.method, "/v1.0"+it.req.path, resp.Status, it.req.want)
			continue
		}
		if it.out != nil {
			if err := json.Unmarshal(resp.Body, it.out); err != nil {
				it.err = fmt.Errorf("graph: %s %s: decoding the answer: %w", it.req.method, "/v1.0"+it.req.path, err)
			}
		}
	}
	for _, it := range byID {
		it.err = fmt.Errorf("graph: %s %s: the $batch answer has no response for this request", it.req.method, "/v1.0"+it.req.path)
		if it.req.method != http.MethodGet && !it.req.idempotent {
			it.err = fmt.Errorf("%w: %w", ErrUncertain, it.err)
		}
	}
	return retry, wait, hasWait
}
