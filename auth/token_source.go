package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/oauth2"

	"portico/store"
)

// refreshMargin renews an access token this long before it expires, so a Graph call never
// starts with a token about to lapse.
const refreshMargin = 2 * time.Minute

// GraphTokens returns the signed-in user's delegated Graph token source for this session. Refreshes
// are serialised per session, and the renewed tokens are written back to the session record.
// A refresh the identity provider refuses (e.g. invalid_grant) deletes the session and yields an
// error wrapping ErrReauthRequired.
func (s *Store) GraphTokens(ctx context.Context, rp *RelyingParty, sess *Session) oauth2.TokenSource {
	return &userTokenSource{ctx: ctx, rp: rp, store: s, sess: sess}
}

type userTokenSource struct {
	ctx   context.Context
	rp    *RelyingParty
	store *Store
	sess  *Session
}

func (ts *userTokenSource) Token() (*oauth2.Token, error) {
	if tok := ts.fresh(ts.sess.Data.Token); tok != nil {
		return tok, nil
	}
	id := ts.sess.ID()
	if id == "" || ts.sess.Data.Token == nil {
		return nil, ErrReauthRequired
	}
	unlock := ts.store.lock(id)
	defer unlock()
	// Another request may have refreshed while we waited: read the record again.
	d, err := ts.store.load(ts.ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrReauthRequired
	}
	if err != nil {
		return nil, err
	}
	if tok := ts.fresh(d.Token); tok != nil {
		ts.sess.Data.Token = d.Token
		return tok, nil
	}
	if d.Token == nil || d.Token.RefreshToken == "" {
		return nil, ErrReauthRequired
	}
	nt, err := ts.rp.refresh(ts.ctx, d.Token)
	if errors.Is(err, ErrReauthRequired) {
		_ = ts.store.db.DeleteSession(ts.ctx, id)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	if nt.IDToken != d.Token.IDToken {
		// Roles (wids, app roles) are re-read from the new ID token, so a role removed in the
		// directory stops counting at the next refresh rather than at the next sign-in. A refreshed
		// ID token that does not verify, or names someone else, ends the session.
		user, err := ts.rp.verifyRefreshed(ts.ctx, nt.IDToken, d.User)
		if err != nil {
			_ = ts.store.db.DeleteSession(ts.ctx, id)
			return nil, fmt.Errorf("%w: %w", ErrReauthRequired, err)
		}
		d.User = user
		ts.sess.Data.User = user
	}
	d.Token = nt
	if err := ts.store.write(ts.ctx, id, d); err != nil {
		return nil, fmt.Errorf("auth: save refreshed token: %w", err)
	}
	ts.sess.Data.Token = nt
	return &oauth2.Token{AccessToken: nt.AccessToken, TokenType: "Bearer", Expiry: nt.Expiry}, nil
}

func (ts *userTokenSource) fresh(t *Token) *oauth2.Token {
	if t == nil || t.AccessToken == "" || !ts.store.opts.Clock().Add(refreshMargin).Before(t.Expiry) {
		return nil
	}
	return &oauth2.Token{AccessToken: t.AccessToken, TokenType: "Bearer", Expiry: t.Expiry}
}

// Delegated yields the signed-in employee's delegated Graph tokens, kept in their server-side session.
type Delegated struct {
	Sessions *Store
	RP       *RelyingParty
}

// ForSession is the Graph token source of the employee signed in to sess.
func (d Delegated) ForSession(ctx context.Context, sess *Session) oauth2.TokenSource {
	return d.Sessions.GraphTokens(ctx, d.RP, sess)
}
