package invite

import (
	"context"

	"portico/store"
)

// StoreAdapter makes a *store.DB an invite Store: the store's queries as they are, plus Tx on top
// of store.DB.InTx.
type StoreAdapter struct {
	*store.Queries
	db *store.DB
}

var _ Store = (*StoreAdapter)(nil)

// NewStoreAdapter wraps an open database for NewService.
func NewStoreAdapter(db *store.DB) *StoreAdapter {
	return &StoreAdapter{Queries: db.Queries, db: db}
}

// Tx runs fn in one database transaction.
func (a *StoreAdapter) Tx(ctx context.Context, fn func(Store) error) error {
	return a.db.InTx(ctx, func(q *store.Queries) error { return fn(txStore{q}) })
}

// txStore is the Store bound to one transaction; a nested Tx joins it.
type txStore struct{ *store.Queries }

func (t txStore) Tx(_ context.Context, fn func(Store) error) error { return fn(t) }
