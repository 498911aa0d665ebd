package bulk

import (
	"context"
	"time"

	"portico/store"
	"portico/webhooks"
)

// end moves job j from one of the states from to the final state to, marks its rows not yet sent
// "not sent" with reason (when reason is not ""), and writes bulk.finished with the rows' counts
// (when notify), in one transaction: the event is exactly as durable as the final state, and
// written once (its id names the job; only one change reaches a final state). It returns
// store.ErrBulkState, changing nothing, when the job is in none of from.
func (s *Service) end(ctx context.Context, j *store.BulkJob, from []string, to, reason, note string, notify bool) error {
	now := s.now()
	return s.store.InTx(ctx, func(q *store.Queries) error {
		if err := q.SetBulkJobState(ctx, j.ID, from, to, now, note); err != nil {
			return err
		}
		if reason != "" {
			if _, err := q.NotSendBulkRows(ctx, j.ID, reason, now); err != nil {
				return err
			}
		}
		if !notify {
			return nil
		}
		counts, err := q.BulkRowCounts(ctx, j.ID)
		if err != nil {
			return err
		}
		return webhooks.Emit(ctx, q, webhooks.Event{ID: "bulk.finished:" + j.ID, Type: webhooks.BulkFinished, Time: now,
			Data: bulkEventData(j, to, counts, now)})
	})
}

func bulkEventData(j *store.BulkJob, state string, counts map[string]int, at time.Time) webhooks.BulkData {
	d := webhooks.BulkData{BulkID: j.ID, TenantID: j.TenantID, AskerOID: j.OwnerOID, State: state, FinishedAt: at.UTC(),
		Sent: counts[store.RowInvited] + counts[store.RowResent], Refused: counts[store.RowSkipped],
		Failed: counts[store.RowFailed], NotSent: counts[store.RowNotSent]}
	for st, n := range counts {
		if st != store.RowExcluded {
			d.Rows += n
		}
	}
	return d
}
