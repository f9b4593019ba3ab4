package adminserver

import "net/http"

// MetricsPath is where the admin handler serves Config.Metrics.
const MetricsPath = "/metrics"

// serveMetrics hands a scrape, its admin key checked, to the metrics
// handler.
func (h *handler) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	h.metrics.ServeHTTP(w, r)
	return nil
}
