package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/converter"

	"github.com/amicrypt/amicrypt/internal/payloadcodec"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

type codecServerFlags struct {
	keyFile  string
	addr     string
	uiOrigin string
}

func newCodecServerCmd(g *globalFlags) *cobra.Command {
	f := &codecServerFlags{}
	cmd := &cobra.Command{
		Use:   "codec-server",
		Short: "Serve Temporal's remote codec endpoint, so the web UI and the Temporal CLI show amicrypt's encrypted payloads to those who hold the key",
		Long: `With a payload key file (--payload-key-file, AMICRYPT_PAYLOAD_KEY_FILE on every
worker and CLI), every payload amicrypt hands Temporal is AES-256-GCM encrypted:
Temporal's histories hold no account id, role ARN or ExternalId in the clear.
This server decrypts them for Temporal's web UI ("Codec Server" setting, or
the server's codec endpoint) and the Temporal CLI (--codec-endpoint):
POST /decode and /encode with {"payloads": [...]}.

Whoever reaches it reads every payload: it listens on loopback by default;
serve it to operators behind your own authentication. --ui-origin lets the web
UI at that origin call it from the browser (CORS).`,
		Example: `  amicrypt codec-server --payload-key-file /run/secrets/amicrypt-payload-keys
  temporal workflow show --workflow-id amicrypt-run-... --codec-endpoint http://127.0.0.1:8081
  amicrypt codec-server --payload-key-file keys --ui-origin http://localhost:8233`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if f.keyFile == "" {
				return usageError("--payload-key-file (or %s) is required: the keys the workers encrypt with", temporalconn.EnvPayloadKeyFile)
			}
			codec, err := payloadcodec.Load(f.keyFile)
			if err != nil {
				return usageError("%v", err)
			}
			ln, err := net.Listen("tcp", f.addr)
			if err != nil {
				return usageError("cannot listen on --addr %s: %v", f.addr, err)
			}
			hs := &http.Server{Handler: withUIOrigin(f.uiOrigin, converter.NewPayloadCodecHTTPHandler(payloadcodec.Codecs(codec)...)), ReadHeaderTimeout: 10 * time.Second}
			go func() {
				<-cmd.Context().Done()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				_ = hs.Shutdown(ctx)
			}()
			fmt.Fprintf(cmd.OutOrStdout(), "codec endpoint at http://%s (POST /encode, /decode)\n", ln.Addr())
			log.Info().Str("address", ln.Addr().String()).Msg("codec server serving; Ctrl-C stops it")
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.keyFile, "payload-key-file", os.Getenv(temporalconn.EnvPayloadKeyFile), "the payload key file the workers use (env "+temporalconn.EnvPayloadKeyFile+")")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:8081", "listen address")
	cmd.Flags().StringVar(&f.uiOrigin, "ui-origin", "", "origin of the Temporal web UI allowed to call this server from the browser, e.g. http://localhost:8233")
	return cmd
}

// withUIOrigin answers the web UI's CORS requests from origin (none when "").
func withUIOrigin(origin string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin != "" && r.Header.Get("Origin") == origin {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type,X-Namespace,Authorization")
			w.Header().Set("Access-Control-Allow-Methods", "POST,OPTIONS")
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
