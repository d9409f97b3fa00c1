package devserver

import (
	"fmt"
	"net"
	"strconv"
)

// endpoint is a host IP and port the server binds.
type endpoint struct {
	ip   string
	port int
}

func (e endpoint) String() string { return net.JoinHostPort(e.ip, strconv.Itoa(e.port)) }

// parseEndpoint reads "ip:port" (port 0: pick a free one). Temporal binds to
// an IP, so "localhost" and an empty host mean 127.0.0.1.
func parseEndpoint(flag, addr string) (endpoint, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return endpoint{}, fmt.Errorf("%s %q is not ip:port (e.g. 127.0.0.1:7233; port 0 picks a free one)", flag, addr)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return endpoint{}, fmt.Errorf("%s %q: the port is not a number from 0 to 65535", flag, addr)
	}
	if host == "" || host == "localhost" {
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		return endpoint{}, fmt.Errorf("%s %q: the host must be an IP address (e.g. 127.0.0.1 or 0.0.0.0)", flag, addr)
	}
	return endpoint{ip: host, port: port}, nil
}

// reservePorts gives every endpoint with port 0 a free port, and checks that
// the fixed ones are free, so a clash is reported here, clearly, rather than
// deep inside the server. All listeners stay open until every port is chosen,
// so the ports picked are distinct.
func reservePorts(eps ...*endpoint) error {
	var open []net.Listener
	defer func() {
		for _, ln := range open {
			_ = ln.Close()
		}
	}()
	for _, ep := range eps {
		ln, err := net.Listen("tcp", ep.String())
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w (is another amicrypt dev or Temporal server running? pick another address)", ep, err)
		}
		open = append(open, ln)
		ep.port = ln.Addr().(*net.TCPAddr).Port
	}
	return nil
}
