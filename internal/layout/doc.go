// Package layout holds the module's layout rules as tests: which packages
// may link which along the process line (the media worker links no store,
// no SQLite, no token verification and no debug server; clients link no
// server code; the wire protocol links nothing of the project), and that
// every package documents what it is and where it runs. It has no code
// that runs in any of Lethe's processes: only tests, run by `go test`.
package layout
