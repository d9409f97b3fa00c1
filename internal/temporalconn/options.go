// Package temporalconn is how every amicrypt process connects to Temporal: the
// flags and environment variables that name the server, namespace, task queue
// and credentials, the TLS configuration they imply, and Dial.
//
// It imports the Temporal SDK only, never the server, so it stays cheap to build
// and test.
package temporalconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
)

// Defaults of the connection flags.
const (
	DefaultAddress   = "127.0.0.1:7233"
	DefaultNamespace = "default"
	DefaultTaskQueue = "amicrypt"
)

// Environment variables read as the flags' defaults. The TEMPORAL_* names are
// the Temporal CLI's, so one shell setup serves both tools.
const (
	EnvAddress        = "TEMPORAL_ADDRESS"
	EnvNamespace      = "TEMPORAL_NAMESPACE"
	EnvTaskQueue      = "AMICRYPT_TASK_QUEUE"
	EnvAPIKey         = "TEMPORAL_API_KEY"
	EnvAPIKeyFile     = "TEMPORAL_API_KEY_FILE"
	EnvPayloadKeyFile = "AMICRYPT_PAYLOAD_KEY_FILE"
	EnvTLS            = "TEMPORAL_TLS"
	EnvTLSCert        = "TEMPORAL_TLS_CERT"
	EnvTLSKey         = "TEMPORAL_TLS_KEY"
	EnvTLSCA          = "TEMPORAL_TLS_CA"
	EnvTLSServerName  = "TEMPORAL_TLS_SERVER_NAME"
)

// Options say where Temporal is and how to authenticate to it.
type Options struct {
	// Address is the frontend's host:port.
	Address string
	// Namespace every workflow of amicrypt runs in.
	Namespace string
	// TaskQueue the worker polls and runs are started on.
	TaskQueue string
	// APIKey authenticates to Temporal Cloud (or any server that accepts API
	// keys); it implies TLS. Given by the flag (its default is empty, so
	// --help never shows a key), else read from APIKeyFile, else from
	// $TEMPORAL_API_KEY (see Key).
	APIKey string
	// APIKeyFile holds the API key (surrounding space trimmed).
	APIKeyFile string
	// PayloadKeyFile, when set, holds the keys that encrypt every payload
	// and failure message this client hands Temporal (see payloadcodec).
	PayloadKeyFile string
	// TLSCertFile and TLSKeyFile are the client certificate and key for mTLS.
	TLSCertFile string
	TLSKeyFile  string
	// TLSCAFile holds the CA certificates the server's certificate must chain
	// to; empty: the system roots.
	TLSCAFile string
	// TLSServerName overrides the name the server's certificate must carry.
	TLSServerName string
	// TLS turns TLS on with no client certificate (server authentication only).
	TLS bool

	// Names are the settings' names in messages (zero: the CLI's flags).
	Names Names

	// MetricsHandler receives the SDK's metrics and those the workflows
	// emit (a worker's metrics.TemporalHandler); nil: none. Not a flag.
	MetricsHandler client.MetricsHandler

	// envErr records an environment variable BindFlags could not parse;
	// Validate reports it.
	envErr error
	// envAPIKey is $TEMPORAL_API_KEY as BindFlags found it: used when no
	// flag gives a key, never a flag's default.
	envAPIKey string
}

// BindFlags adds the connection flags to fs. Each flag's default is its
// environment variable when set, else the built-in default, so an explicit
// flag beats the environment, which beats the default.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Address, "temporal-address", envOr(EnvAddress, DefaultAddress),
		"Temporal frontend host:port (env "+EnvAddress+")")
	fs.StringVar(&o.Namespace, "namespace", envOr(EnvNamespace, DefaultNamespace),
		"Temporal namespace (env "+EnvNamespace+")")
	fs.StringVar(&o.TaskQueue, "task-queue", envOr(EnvTaskQueue, DefaultTaskQueue),
		"Temporal task queue of amicrypt's worker (env "+EnvTaskQueue+")")
	o.envAPIKey = os.Getenv(EnvAPIKey)
	fs.StringVar(&o.APIKey, "temporal-api-key", "",
		"API key for Temporal Cloud; implies TLS. Prefer env "+EnvAPIKey+" or --temporal-api-key-file: a flag's value is visible to every process of the machine")
	fs.StringVar(&o.APIKeyFile, "temporal-api-key-file", os.Getenv(EnvAPIKeyFile),
		"file holding the API key for Temporal Cloud; implies TLS (env "+EnvAPIKeyFile+")")
	fs.StringVar(&o.PayloadKeyFile, "payload-key-file", os.Getenv(EnvPayloadKeyFile),
		"file of AES-256 keys (\"ID BASE64\" per line, the first encrypts) that encrypt every payload amicrypt hands Temporal; workers, CLIs and 'amicrypt codec-server' need the same file (env "+EnvPayloadKeyFile+")")
	tlsDefault := false
	if v := os.Getenv(EnvTLS); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			o.envErr = fmt.Errorf("%s=%q is not true or false", EnvTLS, v)
		}
		tlsDefault = b
	}
	fs.BoolVar(&o.TLS, "temporal-tls", tlsDefault,
		"connect with TLS, verifying the server's certificate (env "+EnvTLS+")")
	fs.StringVar(&o.TLSCertFile, "temporal-tls-cert", os.Getenv(EnvTLSCert),
		"client certificate file (PEM) for mTLS; implies TLS (env "+EnvTLSCert+")")
	fs.StringVar(&o.TLSKeyFile, "temporal-tls-key", os.Getenv(EnvTLSKey),
		"client private key file (PEM) for mTLS (env "+EnvTLSKey+")")
	fs.StringVar(&o.TLSCAFile, "temporal-tls-ca", os.Getenv(EnvTLSCA),
		"CA certificates (PEM) the server's certificate must chain to; default: the system roots; implies TLS (env "+EnvTLSCA+")")
	fs.StringVar(&o.TLSServerName, "temporal-tls-server-name", os.Getenv(EnvTLSServerName),
		"server name the server's certificate must carry; default: the address's host (env "+EnvTLSServerName+")")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// UsesTLS reports whether the connection is TLS: asked for, or implied by an
// API key, a client certificate, a CA file or a server name.
func (o Options) UsesTLS() bool {
	return o.TLS || o.hasAPIKey() || o.TLSCertFile != "" || o.TLSKeyFile != "" ||
		o.TLSCAFile != "" || o.TLSServerName != ""
}

// hasAPIKey reports whether a key is given, by any of its three ways.
func (o Options) hasAPIKey() bool {
	return o.APIKey != "" || o.APIKeyFile != "" || o.envAPIKey != ""
}

// Key is the API key to present: the flag's, else the file's, else
// $TEMPORAL_API_KEY's; "" for none. A file that cannot be read is an error
// naming the file, never the key.
func (o Options) Key() (string, error) {
	switch {
	case o.APIKey != "":
		return o.APIKey, nil
	case o.APIKeyFile != "":
		b, err := os.ReadFile(o.APIKeyFile)
		if err != nil {
			return "", fmt.Errorf("%s: cannot read the API key: %w", o.Names.orFlags().APIKeyFile, err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("%s %s is empty: put the Temporal API key in it", o.Names.orFlags().APIKeyFile, o.APIKeyFile)
		}
		return key, nil
	default:
		return o.envAPIKey, nil
	}
}

// Validate checks the options without touching the network or the files.
// Its errors are the user's to fix (bad input).
func (o Options) Validate() error {
	var errs []error
	if o.envErr != nil {
		errs = append(errs, o.envErr)
	}
	if o.Address == "" {
		errs = append(errs, fmt.Errorf("--temporal-address is empty; give host:port, e.g. %s", DefaultAddress))
	} else if _, port, err := net.SplitHostPort(o.Address); err != nil || port == "" {
		errs = append(errs, fmt.Errorf("--temporal-address %q is not host:port, e.g. %s", o.Address, DefaultAddress))
	}
	if strings.TrimSpace(o.Namespace) == "" {
		errs = append(errs, errors.New("--namespace is empty"))
	}
	if strings.TrimSpace(o.TaskQueue) == "" {
		errs = append(errs, errors.New("--task-queue is empty"))
	}
	if (o.TLSCertFile == "") != (o.TLSKeyFile == "") {
		errs = append(errs, errors.New("--temporal-tls-cert and --temporal-tls-key go together: give both for mTLS, or neither"))
	}
	return errors.Join(errs...)
}

// TLSConfig builds the client TLS configuration the options ask for, reading
// the certificate, key and CA files; nil when the connection is plaintext.
func (o Options) TLSConfig() (*tls.Config, error) {
	if !o.UsesTLS() {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.TLSServerName}
	if o.TLSCertFile != "" || o.TLSKeyFile != "" {
		if o.TLSCertFile == "" || o.TLSKeyFile == "" {
			return nil, errors.New("--temporal-tls-cert and --temporal-tls-key go together: give both for mTLS, or neither")
		}
		cert, err := tls.LoadX509KeyPair(o.TLSCertFile, o.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("loading the Temporal client certificate %s and key %s: %w", o.TLSCertFile, o.TLSKeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if o.TLSCAFile != "" {
		pem, err := os.ReadFile(o.TLSCAFile)
		if err != nil {
			return nil, fmt.Errorf("reading the Temporal CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the Temporal CA file %s holds no PEM certificate", o.TLSCAFile)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
