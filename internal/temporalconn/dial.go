package temporalconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"

	"github.com/amicrypt/amicrypt/internal/operator"
	"github.com/amicrypt/amicrypt/internal/payloadcodec"
)

// SettingError is a connection setting the user must fix (bad input: the
// CLI exits 2): found before anything is contacted.
type SettingError struct{ Err error }

func (e *SettingError) Error() string { return e.Err.Error() }
func (e *SettingError) Unwrap() error { return e.Err }

// converters: the data converter each client Dial made was given.
var converters sync.Map // client.Client -> converter.DataConverter

// DataConverter is the data converter c encodes and decodes payloads with
// (compression, and encryption with a payload key): what reads a history's
// payloads itself — another batch's shares, a run's input — must use it.
// Temporal's default for a client Dial did not make.
func DataConverter(c client.Client) converter.DataConverter {
	if dc, ok := converters.Load(c); ok {
		return dc.(converter.DataConverter)
	}
	return converter.GetDefaultDataConverter()
}

// ConnectTimeout bounds how long Dial waits for the server to answer.
const ConnectTimeout = 10 * time.Second

// Dial connects to Temporal and checks that the namespace exists. An
// unreachable server fails within ConnectTimeout with an error that names the
// address and what to check.
func Dial(ctx context.Context, o Options, log zerolog.Logger) (client.Client, error) {
	if err := o.Validate(); err != nil {
		return nil, &SettingError{err}
	}
	tlsCfg, err := o.TLSConfig()
	if err != nil {
		return nil, &SettingError{err}
	}
	opts := client.Options{
		HostPort:  o.Address,
		Namespace: o.Namespace,
		Logger:    NewLogger(log.With().Str("component", "temporal-sdk").Logger()),
		ConnectionOptions: client.ConnectionOptions{
			TLS:                  tlsCfg,
			GetSystemInfoTimeout: ConnectTimeout,
		},
		// Who started a run, and which run it is, travel in Temporal's
		// headers from the starting command to the activities.
		ContextPropagators: []workflow.ContextPropagator{operator.Propagator()},
	}
	if o.MetricsHandler != nil {
		opts.MetricsHandler = o.MetricsHandler
	}
	key, err := o.Key()
	if err != nil {
		return nil, &SettingError{err}
	}
	var codec *payloadcodec.Codec
	if o.PayloadKeyFile != "" {
		if codec, err = payloadcodec.Load(o.PayloadKeyFile); err != nil {
			return nil, &SettingError{err}
		}
	}
	opts.DataConverter, opts.FailureConverter = payloadcodec.Converters(codec)
	if key != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(key)
	}

	dctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("cannot reach Temporal at %s (%s): %w\n%s", o.Address, describeTransport(o), err, o.unreachableHint())
	}
	converters.Store(c, opts.DataConverter)
	if err := checkNamespace(dctx, c, o.Namespace); err != nil {
		c.Close()
		return nil, fmt.Errorf("connected to Temporal at %s, but %w", o.Address, err)
	}
	log.Debug().Str("address", o.Address).Str("namespace", o.Namespace).Bool("tls", tlsCfg != nil).Msg("connected to Temporal")
	return c, nil
}

// checkNamespace reports a namespace that does not exist; a server that does
// not let this caller describe namespaces (some Cloud keys) is not an error.
func checkNamespace(ctx context.Context, c client.Client, namespace string) error {
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var notFound *serviceerror.NamespaceNotFound
	if errors.As(err, &notFound) || isNotFound(err) {
		return fmt.Errorf("namespace %q does not exist; create it (temporal operator namespace create --namespace %s) or pick another with --namespace / TEMPORAL_NAMESPACE", namespace, namespace)
	}
	return nil
}

func isNotFound(err error) bool {
	var nf *serviceerror.NotFound
	return errors.As(err, &nf)
}

func describeTransport(o Options) string {
	switch {
	case o.hasAPIKey():
		return "TLS with an API key"
	case o.TLSCertFile != "":
		return "mTLS"
	case o.UsesTLS():
		return "TLS"
	default:
		return "plaintext"
	}
}

func (o Options) unreachableHint() string {
	n := o.Names.orFlags()
	hint := "Check that a Temporal server listens there ('amicrypt dev' starts one on " + DefaultAddress + "), " +
		"the address (" + n.Address + " / " + EnvAddress + ")"
	if o.UsesTLS() {
		hint += ", and the TLS settings (" + n.TLSFiles + "; Temporal Cloud wants " + n.APIKey + " or a client certificate)"
	} else {
		hint += ", and whether the server wants TLS (" + n.TLS + "; Temporal Cloud wants " + n.APIKey + " or " + n.ClientCert + ")"
	}
	return hint + "."
}

// Names are what the user calls the connection settings, for messages:
// the CLI's flags by default; the Packer plugin's template keys there.
type Names struct {
	Address, TLS, TLSFiles, APIKey, APIKeyFile, ClientCert string
}

func (n Names) orFlags() Names {
	if n.Address != "" {
		return n
	}
	return Names{
		Address:    "--temporal-address",
		TLS:        "--temporal-tls",
		TLSFiles:   "--temporal-tls-cert/-key/-ca, --temporal-tls-server-name",
		APIKey:     "--temporal-api-key-file (or " + EnvAPIKey + ")",
		APIKeyFile: "--temporal-api-key-file",
		ClientCert: "--temporal-tls-cert/--temporal-tls-key",
	}
}
