// Package readiness answers a load balancer's or an orchestrator's
// question "may this server be sent participants now?" (GET /readyz):
// it runs a list of named checks the server builds (its workers are up
// and locked down, its store commits a write, it is not draining, ...)
// and answers 200 when every one passes, 503 otherwise, with a small
// JSON body naming each check and its state. Why a check failed goes to
// the caller's report function, never into the body: the endpoint needs
// no credentials, and an error can name a path.
//
// It runs in the control process.
package readiness
