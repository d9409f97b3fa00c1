package benchkit

import (
	"context"
	"net"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/devserver"
	"github.com/amicrypt/amicrypt/internal/sandbox"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

// Env is a benchmark's AWS sandbox and Temporal server, both in the
// benchmark's process, and a Temporal client.
type Env struct {
	// Endpoint is the sandbox's URL (every AWS service, and /_sandbox/).
	Endpoint string
	Temporal *devserver.Server
	Client   client.Client
	// TaskQueue is the queue the workers poll.
	TaskQueue string

	stopSandbox func()
}

// StartEnv serves the sandbox over w on a free local port and starts the
// embedded Temporal server (in memory) with a client on taskQueue. log
// receives the server's errors.
func StartEnv(ctx context.Context, w *world.World, taskQueue string, log zerolog.Logger) (*Env, error) {
	sb, err := sandbox.New(w, sandbox.Options{Logger: zerolog.Nop()})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sb.Serve(sctx, ln) }()
	e := &Env{Endpoint: "http://" + ln.Addr().String(), TaskQueue: taskQueue, stopSandbox: func() {
		stop()
		<-done
	}}
	e.Temporal, err = devserver.Start(ctx, devserver.Options{Address: "127.0.0.1:0", Namespace: temporalconn.DefaultNamespace, Logger: log})
	if err != nil {
		e.stopSandbox()
		return nil, err
	}
	e.Client, err = temporalconn.Dial(ctx, temporalconn.Options{Address: e.Temporal.FrontendAddress(), Namespace: temporalconn.DefaultNamespace, TaskQueue: taskQueue}, log)
	if err != nil {
		_ = e.Temporal.Stop()
		e.stopSandbox()
		return nil, err
	}
	return e, nil
}

// WorkerArgs are the arguments of an 'amicrypt worker' on the env's task
// queue, acting on the sandbox, logging JSON.
func (e *Env) WorkerArgs(identity string) []string {
	return []string{"worker", "--temporal-address", e.Temporal.FrontendAddress(), "--namespace", temporalconn.DefaultNamespace,
		"--task-queue", e.TaskQueue, "--aws-endpoint-url", e.Endpoint, "--identity", identity,
		"--log-format", "json"}
}

// Close stops the client, Temporal and the sandbox.
func (e *Env) Close() {
	e.Client.Close()
	_ = e.Temporal.Stop()
	e.stopSandbox()
}
