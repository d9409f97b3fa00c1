package sandbox

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// serveOn serves the default world on addr until the test ends.
func serveOn(t *testing.T, addr, token string) *net.TCPAddr {
	t.Helper()
	srv, err := New(world.Default(), Options{Logger: zerolog.Nop(), AdminToken: token})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().(*net.TCPAddr)
}

// adminStatus sends method path to the sandbox at addr with the Host
// header host ("" leaves the address) and the headers given.
func adminStatus(t *testing.T, addr, host, method, path string, headers map[string]string) int {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, nil)
	if host != "" {
		req.Host = host
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A web page cannot reset the world: admin requests must name the address
// the sandbox listens on (or localhost, on loopback), with its port.
func TestAdminEndpointsAnswerOnlyRequestsNamingTheirAddress(t *testing.T) {
	a := serveOn(t, "127.0.0.1:0", "")
	addr := a.String()
	for _, c := range []struct {
		host, method, path string
		want               int
	}{
		{"", http.MethodPost, "/_sandbox/reset", http.StatusOK},
		{fmt.Sprintf("localhost:%d", a.Port), http.MethodPost, "/_sandbox/reset", http.StatusOK},
		{fmt.Sprintf("[::1]:%d", a.Port), http.MethodGet, "/_sandbox/counters", http.StatusOK},
		{fmt.Sprintf("attacker.example:%d", a.Port), http.MethodPost, "/_sandbox/reset", http.StatusForbidden}, // DNS rebinding
		{"attacker.example", http.MethodPut, "/_sandbox/behaviour", http.StatusForbidden},
		{fmt.Sprintf("127.0.0.1:%d", a.Port+1), http.MethodGet, "/_sandbox/state", http.StatusForbidden},
	} {
		if got := adminStatus(t, addr, c.host, c.method, c.path, nil); got != c.want {
			t.Errorf("%s %s with Host %q: %d, want %d", c.method, c.path, c.host, got, c.want)
		}
	}
}

// Beyond loopback the admin endpoints need the token printed at start, and
// are not served at all without one.
func TestAdminEndpointsBeyondLoopbackNeedTheToken(t *testing.T) {
	ip := nonLoopbackIP(t)
	withToken := serveOn(t, net.JoinHostPort(ip, "0"), "s3cret").String()
	if got := adminStatus(t, withToken, "", http.MethodPost, "/_sandbox/reset", nil); got != http.StatusForbidden {
		t.Errorf("reset without the token: %d, want 403", got)
	}
	if got := adminStatus(t, withToken, "", http.MethodPost, "/_sandbox/reset", map[string]string{AdminTokenHeader: "wrong"}); got != http.StatusForbidden {
		t.Errorf("reset with a wrong token: %d, want 403", got)
	}
	if got := adminStatus(t, withToken, "", http.MethodPost, "/_sandbox/reset", map[string]string{AdminTokenHeader: "s3cret"}); got != http.StatusOK {
		t.Errorf("reset with the token: %d, want 200", got)
	}
	without := serveOn(t, net.JoinHostPort(ip, "0"), "").String()
	if got := adminStatus(t, without, "", http.MethodGet, "/_sandbox/counters", nil); got != http.StatusForbidden {
		t.Errorf("a sandbox with no token serves its admin endpoints beyond loopback: %d", got)
	}
}

func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Skip(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil && !strings.HasPrefix(n.IP.String(), "169.254.") {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address here")
	return ""
}
