package control

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
)

// Default connection caps (ServerConfig.MaxConnections, MaxConnectionsPerIP).
const (
	DefaultMaxConnections      = 10000
	DefaultMaxConnectionsPerIP = 200
)

// ConnStats counts the signaling edge's WebSocket connections.
type ConnStats struct {
	Open            int    // connections now, handshakes in progress included
	RefusedTotalCap uint64 // refused because the server held MaxConnections
	RefusedPerIPCap uint64 // refused because their address held MaxConnectionsPerIP
}

// Stats returns the connection counts at this moment.
func (s *Server) Stats() ConnStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ConnStats{Open: s.open, RefusedTotalCap: s.refusedTotal, RefusedPerIPCap: s.refusedPerIP}
}

// connKey is what a connection is counted under: the remote IP address.
// Forwarding headers are not trusted.
func connKey(remoteAddr string) string {
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		return host
	}
	return remoteAddr
}

// acquire counts a new connection from ip, or refuses it (false) when the
// server or the address holds its maximum; then it has answered w with
// 503 and a JSON body saying which.
func (s *Server) acquire(w http.ResponseWriter, r *http.Request, ip string) bool {
	cfg := &s.cfg
	s.mu.Lock()
	total, perIP := s.open >= cfg.MaxConnections, s.perIP[ip] >= cfg.MaxConnectionsPerIP
	switch {
	case total:
		s.refusedTotal++
	case perIP:
		s.refusedPerIP++
	default:
		s.open++
		s.perIP[ip]++
	}
	s.mu.Unlock()
	switch {
	case total:
		s.diag.Log(r.Context(), slog.LevelWarn, "conn cap", "signaling connection refused: server at its maximum (--max-connections)",
			slog.Int("limit", cfg.MaxConnections))
		writeEdgeError(w, http.StatusServiceUnavailable, "too_many_connections",
			fmt.Sprintf("the server holds its maximum of %d connections; try again later", cfg.MaxConnections))
		return false
	case perIP:
		s.diag.Log(r.Context(), slog.LevelWarn, "conn cap ip", "signaling connection refused: address at its maximum (--max-connections-per-ip)",
			slog.Int("limit", cfg.MaxConnectionsPerIP))
		writeEdgeError(w, http.StatusServiceUnavailable, "too_many_connections_from_address",
			fmt.Sprintf("your address holds the maximum of %d connections; close one first", cfg.MaxConnectionsPerIP))
		return false
	}
	return true
}

// release forgets a connection counted by acquire.
func (s *Server) release(ip string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.perIP[ip]--; s.perIP[ip] <= 0 {
		delete(s.perIP, ip)
	}
}
