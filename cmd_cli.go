package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"portico/auth"
	"portico/config"
	"portico/internal/netaddr"
)

// Exit statuses of the command-line client (portico invite, invitations, resend), documented in
// `portico help`: scripts tell a refusal by policy from a failure at Graph and from bad input.
const (
	exitFailed    = 1 // anything else: network, Portico unavailable, unexpected answers
	exitUsage     = 2 // the command line itself
	exitBadInput  = 3 // Portico refused the input (400, 413, 415, 422 without a Graph request id)
	exitRefused   = 4 // Portico's policy refused (403, 409, 429): not allowed, already invited, quota
	exitGraph     = 5 // Microsoft Graph failed or refused (the answer names a Graph request id; 502–504)
	exitNoSignIn  = 6 // sign-in failed or the token was refused (401)
	deviceTimeout = 15 * time.Minute
)

// exitError carries the exit status of a command-line client failure.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitWith(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// client is the command-line client of a running Portico's API.
type client struct {
	base   *url.URL
	http   *http.Client
	getenv func(string) string
	stderr io.Writer
	json   bool
	token  oauth2.TokenSource
}

// clientFlags are the flags every client command takes.
func clientFlags(fs *flag.FlagSet, getenv func(string) string) (portico *string, asJSON *bool) {
	portico = fs.String("url", getenv("PORTICO_URL"), "Portico's address (default $PORTICO_URL); https, or http on loopback")
	asJSON = fs.Bool("json", false, "print the API's JSON answer instead of text")
	return portico, asJSON
}

// newClient checks the URL and signs in: application credentials from the environment
// (PORTICO_CLIENT_ID with PORTICO_CLIENT_SECRET[_FILE] or PORTICO_CLIENT_CERTIFICATE_FILE, the
// server's own variables), else the cached user token, else the device code flow.
func newClient(ctx context.Context, raw string, asJSON bool, getenv func(string) string, stderr io.Writer) (*client, error) {
	if raw == "" {
		return nil, exitWith(exitUsage, "portico: give Portico's address with --url or PORTICO_URL")
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, exitWith(exitUsage, "portico: --url %q is not an address like https://portico.example.com", raw)
	}
	// The token goes only to the configured Portico, and never in clear text over a network.
	if u.Scheme != "https" && !(u.Scheme == "http" && netaddr.IsLoopbackHost(u.Hostname())) {
		return nil, exitWith(exitUsage, "portico: --url must use https (plain http only on this machine's loopback)")
	}
	c := &client{base: u, getenv: getenv, stderr: stderr, json: asJSON,
		http: &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	si, err := c.signInInfo(ctx)
	if err != nil {
		return nil, err
	}
	if ts, err := c.appCredentials(si); ts != nil || err != nil {
		c.token = ts
		return c, err
	}
	c.token, err = c.userToken(ctx, si)
	return c, err
}

type signInInfo struct {
	Authority string `json:"authority"`
	TenantID  string `json:"tenantId"`
	ClientID  string `json:"clientId"`
	Scope     string `json:"scope"`
}

func (s signInInfo) endpoint(name string) string {
	return s.Authority + "/" + url.PathEscape(s.TenantID) + "/oauth2/v2.0/" + name
}

// signInInfo asks Portico where to sign in (GET /api/signin; public facts).
func (c *client) signInInfo(ctx context.Context) (signInInfo, error) {
	var si signInInfo
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base.String()+"/api/signin", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return si, exitWith(exitFailed, "portico: cannot reach %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&si) != nil || si.Authority == "" || si.ClientID == "" {
		return si, exitWith(exitFailed, "portico: %s does not look like Portico (GET /api/signin answered %d)", c.base, resp.StatusCode)
	}
	if a, err := url.Parse(si.Authority); err != nil || a.Scheme != "https" && !(a.Scheme == "http" && netaddr.IsLoopbackHost(a.Hostname())) {
		return si, exitWith(exitFailed, "portico: Portico names an identity provider that is not https: %q", si.Authority)
	}
	return si, nil
}

// appCredentials is the application's own token for Portico's API (client credentials, scope
// api://<client-id>/.default), when the environment holds application credentials.
func (c *client) appCredentials(si signInInfo) (oauth2.TokenSource, error) {
	secret := c.getenv("PORTICO_CLIENT_SECRET")
	if f := c.getenv("PORTICO_CLIENT_SECRET_FILE"); secret == "" && f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, exitWith(exitUsage, "portico: PORTICO_CLIENT_SECRET_FILE: %w", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	certFile := c.getenv("PORTICO_CLIENT_CERTIFICATE_FILE")
	if secret == "" && certFile == "" {
		return nil, nil
	}
	clientID := c.getenv("PORTICO_CLIENT_ID")
	if clientID == "" {
		clientID = si.ClientID
	}
	cfg := auth.AppConfig{TokenURL: si.endpoint("token"), ClientID: clientID, ClientSecret: secret,
		Scope: "api://" + si.ClientID + "/.default", HTTPClient: &http.Client{Timeout: 30 * time.Second}}
	if certFile != "" {
		for _, f := range strings.Split(certFile, ",") {
			cc, err := config.ReadClientCertificate(strings.TrimSpace(f), time.Now())
			if err != nil {
				return nil, exitWith(exitUsage, "portico: PORTICO_CLIENT_CERTIFICATE_FILE: %w", err)
			}
			cfg.Certificates = append(cfg.Certificates, auth.AppCertificate{Cert: cc.Cert, Key: cc.Key})
		}
	}
	ts, err := auth.NewAppTokens(cfg)
	if err != nil {
		return nil, exitWith(exitUsage, "portico: %w", err)
	}
	return ts, nil
}

// cachedToken is what the client keeps between runs, in the user's config directory (0600).
type cachedToken struct {
	Portico      string    `json:"portico"`
	ClientID     string    `json:"client_id"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry"`
}

// cachePath is the token cache of this Portico: <config dir>/portico/token-<hash of the URL>.json
// (PORTICO_CONFIG_DIR replaces <config dir>/portico).
func (c *client) cachePath() (string, error) {
	dir := c.getenv("PORTICO_CONFIG_DIR")
	if dir == "" {
		base, err := os.UserConfigDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(base, "portico")
	}
	sum := sha256.Sum256([]byte(c.base.String()))
	return filepath.Join(dir, "token-"+hex.EncodeToString(sum[:8])+".json"), nil
}

func (c *client) loadCache(si signInInfo) *cachedToken {
	p, err := c.cachePath()
	if err != nil {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	var ct cachedToken
	if json.Unmarshal(b, &ct) != nil || ct.Portico != c.base.String() || ct.ClientID != si.ClientID {
		return nil
	}
	return &ct
}

// saveCache writes the tokens with mode 0600 in a 0700 directory, replacing the file atomically.
func (c *client) saveCache(ct *cachedToken) error {
	p, err := c.cachePath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	if err := os.Chmod(filepath.Dir(p), 0o700); err != nil { //nolint:gosec // a directory: 0700 is owner-only
		return err
	}
	b, err := json.Marshal(ct) //nolint:gosec // the token cache itself, written 0600 below
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".token-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// userToken is the signed-in user's token for Portico's API: cached, refreshed, or new by the
// device code flow.
func (c *client) userToken(ctx context.Context, si signInInfo) (oauth2.TokenSource, error) {
	if ct := c.loadCache(si); ct != nil {
		if time.Until(ct.Expiry) > 2*time.Minute {
			return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: ct.AccessToken, Expiry: ct.Expiry}), nil
		}
		if ct.RefreshToken != "" {
			if tr, err := c.tokenRequest(ctx, si, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ct.RefreshToken},
				"scope": {si.Scope + " offline_access"}}); err == nil && tr.AccessToken != "" {
				return c.keep(si, tr)
			}
		}
	}
	tr, err := c.deviceCode(ctx, si)
	if err != nil {
		return nil, err
	}
	return c.keep(si, tr)
}

func (c *client) keep(si signInInfo, tr *tokenResponse) (oauth2.TokenSource, error) {
	ct := &cachedToken{Portico: c.base.String(), ClientID: si.ClientID, AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
		Expiry: time.Now().Add(time.Duration(tr.ExpiresIn) * time.Second)}
	if err := c.saveCache(ct); err != nil {
		fmt.Fprintf(c.stderr, "portico: the token could not be cached (%v); you will sign in again next time\n", err)
	}
	return oauth2.StaticTokenSource(&oauth2.Token{AccessToken: ct.AccessToken, Expiry: ct.Expiry}), nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int64  `json:"expires_in"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// tokenRequest posts to the token endpoint as a public client.
func (c *client) tokenRequest(ctx context.Context, si signInInfo, form url.Values) (*tokenResponse, error) {
	form.Set("client_id", si.ClientID)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, si.endpoint("token"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("token endpoint answered %d", resp.StatusCode)
	}
	return &tr, nil
}

// deviceCode runs the device authorization grant: the code and URL go to the terminal (stderr)
// only, then the token endpoint is polled at the announced interval.
func (c *client) deviceCode(ctx context.Context, si signInInfo) (*tokenResponse, error) {
	form := url.Values{"client_id": {si.ClientID}, "scope": {si.Scope + " offline_access"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, si.endpoint("devicecode"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, exitWith(exitNoSignIn, "portico: sign-in: %w", err)
	}
	defer resp.Body.Close()
	var d struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
		VerifyURI  string `json:"verification_uri"`
		ExpiresIn  int    `json:"expires_in"`
		Interval   int    `json:"interval"`
		Error      string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&d); err != nil || d.DeviceCode == "" {
		return nil, exitWith(exitNoSignIn, "portico: sign-in could not start (%d %s)", resp.StatusCode, d.Error)
	}
	fmt.Fprintf(c.stderr, "To sign in, open %s and enter the code %s\n", d.VerifyURI, d.UserCode)
	interval := time.Duration(max(d.Interval, 1)) * time.Second
	deadline := time.Now().Add(min(time.Duration(d.ExpiresIn)*time.Second, deviceTimeout))
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		tr, err := c.tokenRequest(ctx, si, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {d.DeviceCode}})
		if err != nil {
			return nil, exitWith(exitNoSignIn, "portico: sign-in: %w", err)
		}
		switch tr.Error {
		case "":
			if tr.AccessToken == "" {
				return nil, exitWith(exitNoSignIn, "portico: sign-in returned no token")
			}
			fmt.Fprintln(c.stderr, "Signed in.")
			return tr, nil
		case "authorization_pending":
		case "slow_down":
			interval += 5 * time.Second // RFC 8628 §3.5
		case "authorization_declined", "access_denied":
			return nil, exitWith(exitNoSignIn, "portico: sign-in was declined")
		case "expired_token":
			return nil, exitWith(exitNoSignIn, "portico: the sign-in code expired; run the command again")
		default:
			return nil, exitWith(exitNoSignIn, "portico: sign-in failed (%s)", tr.Error)
		}
	}
	return nil, exitWith(exitNoSignIn, "portico: the sign-in code expired; run the command again")
}

// apiError is Graph's error envelope as Portico answers it.
type apiError struct {
	Error struct {
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		Details    map[string]string `json:"details"`
		InnerError map[string]string `json:"innerError"`
	} `json:"error"`
}

// call makes one API request and returns the body of a 2xx answer; other answers become an
// exitError whose status says what kind of failure it was.
func (c *client) call(ctx context.Context, method, path string, body any, hdr map[string]string) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tok, err := c.token.Token()
	if err != nil {
		return 0, nil, exitWith(exitNoSignIn, "portico: no access token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, exitWith(exitFailed, "portico: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, exitWith(exitFailed, "portico: reading the answer: %w", err)
	}
	if resp.StatusCode < 300 {
		return resp.StatusCode, b, nil
	}
	var ae apiError
	_ = json.Unmarshal(b, &ae)
	msg := ae.Error.Message
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	for f, m := range ae.Error.Details {
		msg += "\n  " + f + ": " + m
	}
	if id := ae.Error.InnerError["graph-request-id"]; id != "" {
		msg += " (Graph request id " + id + ")"
	}
	code := exitFailed
	switch st := resp.StatusCode; {
	case ae.Error.InnerError["graph-request-id"] != "" || st == http.StatusBadGateway || st == http.StatusGatewayTimeout:
		code = exitGraph
	case st == http.StatusUnauthorized:
		code = exitNoSignIn
	case st == http.StatusBadRequest || st == http.StatusRequestEntityTooLarge || st == http.StatusUnsupportedMediaType || st == http.StatusUnprocessableEntity || st == http.StatusNotFound:
		code = exitBadInput
	case st == http.StatusForbidden || st == http.StatusConflict || st == http.StatusTooManyRequests:
		code = exitRefused
	}
	if c.json {
		// Scripts get the envelope on stdout-equivalent terms: the error text carries it whole.
		return resp.StatusCode, b, &exitError{code: code, err: errors.New(strings.TrimSpace(string(b)))}
	}
	return resp.StatusCode, b, &exitError{code: code, err: fmt.Errorf("portico: %s", msg)}
}

// printJSON writes an answer as indented JSON.
func printJSON(w io.Writer, b []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		_, err = w.Write(b)
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// parseClientFlags parses fs and refuses stray arguments.
func parseClientFlags(fs *flag.FlagSet, args []string, name string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &exitError{code: exitUsage, err: fmt.Errorf("portico %s: %w", name, err)}
	}
	return nil
}
