package sandbox

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// AdminTokenHeader carries the admin token (Options.AdminToken).
const AdminTokenHeader = "X-Sandbox-Admin-Token"

// adminRefusal says why an admin request is refused, "" when it is let in.
//
// The admin endpoints change the whole world (reset, behaviour), so they
// answer only requests that name the address they arrived on: the Host
// header must be the connection's local address — or localhost, on a
// loopback address — with its port. A web page the operator visits cannot
// pass that: its requests carry the page's own host name, even after DNS
// rebinding points that name at the sandbox. A sandbox listening beyond
// loopback further requires the admin token (Options.AdminToken, printed
// by 'amicrypt sandbox' at start) in X-Sandbox-Admin-Token: other machines
// may reach it. Requests without a local address (an in-process handler)
// are let in.
func (s *Server) adminRefusal(r *http.Request) string {
	local, _ := r.Context().Value(http.LocalAddrContextKey).(*net.TCPAddr)
	if local == nil {
		return ""
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		host, port = r.Host, "80"
	}
	host = strings.Trim(host, "[]")
	ip := net.ParseIP(host)
	sameAddress := ip != nil && ip.Equal(local.IP) ||
		local.IP.IsLoopback() && (strings.EqualFold(host, "localhost") || ip != nil && ip.IsLoopback())
	if !sameAddress || port != fmt.Sprint(local.Port) {
		return fmt.Sprintf("admin requests must name the address the sandbox listens on (Host %s, not %s)", local, r.Host)
	}
	if local.IP.IsLoopback() {
		return ""
	}
	if s.adminToken == "" {
		return "this sandbox serves its admin endpoints on loopback only (start it with an admin token to serve them on " + local.IP.String() + ")"
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(AdminTokenHeader)), []byte(s.adminToken)) != 1 {
		return "admin requests to a sandbox listening beyond loopback need the admin token it printed at start, in the " + AdminTokenHeader + " header"
	}
	return ""
}
