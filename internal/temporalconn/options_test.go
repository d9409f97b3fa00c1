package temporalconn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// parse binds fresh options to a flag set and parses args, as a command would.
func parse(t *testing.T, args ...string) Options {
	t.Helper()
	var o Options
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %v: %v", args, err)
	}
	return o
}

func clearEnv(t *testing.T) {
	for _, name := range []string{EnvAddress, EnvNamespace, EnvTaskQueue, EnvAPIKey, EnvAPIKeyFile, EnvTLS, EnvTLSCert, EnvTLSKey, EnvTLSCA, EnvTLSServerName} {
		t.Setenv(name, "")
	}
}

func TestDefaults(t *testing.T) {
	clearEnv(t)
	o := parse(t)
	if o.Address != "127.0.0.1:7233" || o.Namespace != "default" || o.TaskQueue != "amicrypt" {
		t.Errorf("defaults = %q %q %q", o.Address, o.Namespace, o.TaskQueue)
	}
	if o.UsesTLS() {
		t.Error("plaintext by default")
	}
	if err := o.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	cfg, err := o.TLSConfig()
	if cfg != nil || err != nil {
		t.Errorf("TLSConfig() = %v, %v; want nil, nil", cfg, err)
	}
}

func TestEnvironmentThenFlags(t *testing.T) {
	clearEnv(t)
	t.Setenv(EnvAddress, "temporal.example:7233")
	t.Setenv(EnvNamespace, "amicrypt-prod")
	t.Setenv(EnvTaskQueue, "amicrypt-eu")
	t.Setenv(EnvAPIKey, "key-from-env")
	t.Setenv(EnvTLSServerName, "name-from-env")

	o := parse(t)
	if key, _ := o.Key(); o.Address != "temporal.example:7233" || o.Namespace != "amicrypt-prod" || o.TaskQueue != "amicrypt-eu" ||
		key != "key-from-env" || o.TLSServerName != "name-from-env" || !o.UsesTLS() {
		t.Errorf("environment not used: %+v", o)
	}

	o = parse(t, "--temporal-address", "other:7233", "--namespace", "ns", "--task-queue", "q", "--temporal-api-key", "key-from-flag")
	if key, _ := o.Key(); o.Address != "other:7233" || o.Namespace != "ns" || o.TaskQueue != "q" || key != "key-from-flag" {
		t.Errorf("flags do not beat the environment: %+v", o)
	}
	if o.TLSServerName != "name-from-env" {
		t.Errorf("an unset flag keeps the environment: %q", o.TLSServerName)
	}
}

func TestTLSEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv(EnvTLS, "true")
	if o := parse(t); !o.TLS || !o.UsesTLS() {
		t.Errorf("TEMPORAL_TLS=true: TLS=%v", o.TLS)
	}
	if o := parse(t, "--temporal-tls=false"); o.TLS {
		t.Error("--temporal-tls=false does not beat TEMPORAL_TLS=true")
	}
	t.Setenv(EnvTLS, "yes please")
	o := parse(t)
	err := o.Validate()
	if err == nil || !strings.Contains(err.Error(), "TEMPORAL_TLS") {
		t.Errorf("a bad TEMPORAL_TLS is not reported: %v", err)
	}
}

func TestValidate(t *testing.T) {
	clearEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--temporal-address", ""}, "--temporal-address is empty"},
		{[]string{"--temporal-address", "localhost"}, "is not host:port"},
		{[]string{"--namespace", " "}, "--namespace is empty"},
		{[]string{"--task-queue", ""}, "--task-queue is empty"},
		{[]string{"--temporal-tls-cert", "c.pem"}, "go together"},
		{[]string{"--temporal-tls-key", "k.pem"}, "go together"},
	} {
		err := parse(t, tc.args...).Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: Validate() = %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestImpliedTLS(t *testing.T) {
	clearEnv(t)
	for _, args := range [][]string{
		{"--temporal-api-key", "k"},
		{"--temporal-tls"},
		{"--temporal-tls-ca", "ca.pem"},
		{"--temporal-tls-server-name", "x"},
		{"--temporal-tls-cert", "c", "--temporal-tls-key", "k"},
	} {
		if !parse(t, args...).UsesTLS() {
			t.Errorf("%v does not imply TLS", args)
		}
	}
}

func TestTLSConfigFromFiles(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)

	o := parse(t, "--temporal-tls-cert", certFile, "--temporal-tls-key", keyFile,
		"--temporal-tls-ca", certFile, "--temporal-tls-server-name", "temporal.internal")
	cfg, err := o.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 {
		t.Errorf("client certificates: %d, want 1", len(cfg.Certificates))
	}
	if cfg.RootCAs == nil {
		t.Error("CA file not used as the roots")
	}
	if cfg.ServerName != "temporal.internal" {
		t.Errorf("ServerName = %q", cfg.ServerName)
	}

	// API key alone: TLS against the system roots, no client certificate.
	cfg, err = parse(t, "--temporal-api-key", "k").TLSConfig()
	if err != nil || cfg == nil || cfg.RootCAs != nil || len(cfg.Certificates) != 0 {
		t.Errorf("API key TLS config = %+v, %v", cfg, err)
	}

	// Files that are not what they claim to be.
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, "--temporal-tls-ca", notPEM).TLSConfig(); err == nil || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("a CA file without certificates: %v", err)
	}
	if _, err := parse(t, "--temporal-tls-ca", filepath.Join(dir, "missing.pem")).TLSConfig(); err == nil {
		t.Error("a missing CA file is not an error")
	}
	if _, err := parse(t, "--temporal-tls-cert", certFile, "--temporal-tls-key", notPEM).TLSConfig(); err == nil || !strings.Contains(err.Error(), notPEM) {
		t.Errorf("a bad key file is not named: %v", err)
	}
}

// writeSelfSigned writes a self-signed certificate and its key as PEM files.
func writeSelfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "temporal.internal"},
		DNSNames:              []string{"temporal.internal"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// The API key never shows in --help (a flag's default would), and comes
// from the flag, else the file, else the environment; a file that cannot
// be read is named, the key never.
func TestAPIKeyStaysOutOfHelp(t *testing.T) {
	clearEnv(t)
	t.Setenv(EnvAPIKey, "key-from-env-s3cret")
	var o Options
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	o.BindFlags(fs)
	if usage := fs.FlagUsages(); strings.Contains(usage, "s3cret") {
		t.Errorf("--help shows the API key:\n%s", usage)
	}

	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("key-from-file-s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if key, err := parse(t, "--temporal-api-key-file", file).Key(); err != nil || key != "key-from-file-s3cret" {
		t.Errorf("the file's key: %q, %v", key, err)
	}
	if key, _ := parse(t, "--temporal-api-key-file", file, "--temporal-api-key", "flag").Key(); key != "flag" {
		t.Errorf("the flag does not beat the file: %q", key)
	}
	t.Setenv(EnvAPIKeyFile, file)
	if key, _ := parse(t).Key(); key != "key-from-file-s3cret" {
		t.Errorf("%s does not beat %s: %q", EnvAPIKeyFile, EnvAPIKey, key)
	}
	_, err := parse(t, "--temporal-api-key-file", file+".missing").Key()
	if err == nil || !strings.Contains(err.Error(), "--temporal-api-key-file") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a missing key file: %v", err)
	}
}
