// Package metrics exposes the server's figures to Prometheus: rooms,
// participants, tracks, packets and bytes, drops by reason, NACKs, PLIs,
// RTT, loss and join latency histograms, the workers' CPU and memory,
// restarts, the lock-down state, pending purges and admin requests by
// status.
//
// It runs in the control process and reads the workers' figures, which
// reach it over the IPC link, when Prometheus scrapes. Its label values
// are bounded by the configuration (worker indexes, process roles, drop
// reasons, HTTP status codes): never a room or user id, and an app id
// only for the apps an operator lists (Config.AppLabels). docs/metrics.md
// lists every metric.
//
// It is built on github.com/prometheus/client_golang with a registry of
// its own, never the default one: no Go runtime or process series, and
// nothing served from http.DefaultServeMux.
package metrics
