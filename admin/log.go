package admin

import (
	"context"
	"strconv"
	"time"
)

// LogEntryJSON is one entry of an application log. AppName, Tags and
// Status are the application's when the entry was made.
type LogEntryJSON struct {
	ID        int64     `json:"id"`
	SDKAppID  uint32    `json:"sdkAppId"`
	AppName   string    `json:"appName"`
	Tags      []string  `json:"tags"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
	Operation string    `json:"operation"` // app.create, key.fetch, ...: docs/api.md, section 5
}

// LogJSON is the reply holding application-log entries, newest first.
type LogJSON struct {
	Entries []LogEntryJSON `json:"entries"`
}

// AppLog returns the newest limit entries of application app's log, newest
// first; limit 0 asks for the server's default, DefaultLogLimit, and the
// server refuses more than MaxLogLimit (GET /v1/admin/apps/{app}/log). The
// read is itself logged (log.read).
func (c *Client) AppLog(ctx context.Context, app uint32, limit int) ([]LogEntryJSON, error) {
	path := appPath(app, "/log")
	if limit != 0 {
		path += "?limit=" + strconv.Itoa(limit)
	}
	var r LogJSON
	if err := c.do(ctx, "GET", path, nil, &r); err != nil {
		return nil, err
	}
	return r.Entries, nil
}
