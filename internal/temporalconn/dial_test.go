package temporalconn

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A server that is not there fails fast, and the error says where and what to check.
func TestDialUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now

	o := Options{Address: addr, Namespace: "default", TaskQueue: "amicrypt"}
	start := time.Now()
	c, err := Dial(context.Background(), o, zerolog.Nop())
	if err == nil {
		c.Close()
		t.Fatal("Dial succeeded with nothing listening")
	}
	if took := time.Since(start); took > ConnectTimeout+5*time.Second {
		t.Errorf("Dial took %v", took)
	}
	for _, want := range []string{addr, "plaintext", "amicrypt dev", "--temporal-address"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestDialRejectsBadOptions(t *testing.T) {
	_, err := Dial(context.Background(), Options{Address: "nohostport", Namespace: "default", TaskQueue: "q"}, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "not host:port") {
		t.Errorf("Dial with a bad address: %v", err)
	}
}

// The Packer plugin names its template keys in the hint, not the CLI's flags.
func TestUnreachableHintNamesTheCallersSettings(t *testing.T) {
	o := Options{Names: Names{Address: "temporal_address", TLS: "temporal_tls", TLSFiles: "temporal_tls_cert", APIKey: "temporal_api_key", ClientCert: "temporal_tls_cert and temporal_tls_key"}}
	hint := o.unreachableHint()
	if !strings.Contains(hint, "temporal_address / TEMPORAL_ADDRESS") || !strings.Contains(hint, "temporal_api_key") || strings.Contains(hint, "--") {
		t.Errorf("hint %q", hint)
	}
	if hint := (Options{}).unreachableHint(); !strings.Contains(hint, "--temporal-address") {
		t.Errorf("default hint %q", hint)
	}
}
