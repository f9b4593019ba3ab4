package admin

import (
	"context"
	"time"
)

// PurgeJSON is a pending purge: an application and its deadline.
type PurgeJSON struct {
	SDKAppID uint32    `json:"sdkAppId"`
	DueAt    time.Time `json:"dueAt"`
}

// RetentionJSON is the reply listing the pending purges.
type RetentionJSON struct {
	// RetentionCapSeconds is the server-wide cap on retention.
	RetentionCapSeconds int64 `json:"retentionCapSeconds"`
	// Pending lists the scheduled purges, earliest first.
	Pending []PurgeJSON `json:"pending"`
	// OldestOverdueSeconds is how long ago the earliest missed deadline
	// passed; 0 while the sweeper keeps up.
	OldestOverdueSeconds int64 `json:"oldestOverdueSeconds"`
}

// Retention lists the pending purges and how overdue the oldest is
// (GET /v1/admin/retention).
func (c *Client) Retention(ctx context.Context) (RetentionJSON, error) {
	var r RetentionJSON
	err := c.do(ctx, "GET", "/v1/admin/retention", nil, &r)
	return r, err
}
