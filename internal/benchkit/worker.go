package benchkit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildWorker builds ./cmd/amicrypt-worker (amicrypt without the embedded
// Temporal server, the binary deployed as a worker) into dir.
func BuildWorker(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "amicrypt")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/amicrypt/amicrypt/cmd/amicrypt-worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

// Worker is an 'amicrypt worker' child process.
type Worker struct {
	Cmd     *exec.Cmd
	LogPath string
	// Done is closed once the process has exited (and its output is read).
	Done chan struct{}

	piped   bool
	mu      sync.Mutex
	started bool
	log     []byte // through a pipe: what it wrote until it ran, for errors at start
}

// WorkerOptions are how a worker is started.
type WorkerOptions struct {
	// LogName is the log file's name in the directory ("worker.log" when
	// empty).
	LogName string
	// OnLine, when set, is called with every line the worker writes
	// (stdout and stderr), as it writes it; the line also goes to the log.
	OnLine func(line []byte)
	// Env are more variables for the worker (GOMEMLIMIT=250MiB, as a
	// deployment sets it).
	Env []string
}

// StartWorker starts the worker with an environment of its own: none of the
// caller's AWS, Temporal or amicrypt variables, and an AWS profile assuming
// the builder's amicrypt-pipeline role (the identity the target roles trust)
// from the builder's root credentials, with every call, the profile's own
// sts:AssumeRole included, sent to the sandbox. It returns once the worker
// says it runs.
func StartWorker(ctx context.Context, bin, dir, endpoint string, args []string, o WorkerOptions) (*Worker, error) {
	files := map[string]string{
		"aws-config": "[profile amicrypt-pipeline]\n" +
			"role_arn = " + PipelineRole + "\n" +
			"source_profile = builder-root\nrole_session_name = amicrypt-bench\nregion = us-east-1\n\n" +
			"[profile builder-root]\nregion = us-east-1\n",
		"aws-credentials": "[builder-root]\naws_access_key_id = " + BuilderAccount + "\naws_secret_access_key = x\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			return nil, err
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "TEMPORAL_") || strings.HasPrefix(k, "AMICRYPT_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "aws-credentials"),
		"AWS_PROFILE=amicrypt-pipeline",
		"AWS_REGION=us-east-1",
		"AWS_ENDPOINT_URL="+endpoint,
		"AWS_ENDPOINT_URL_STS="+endpoint,
		"AWS_EC2_METADATA_DISABLED=true",
	)
	env = append(env, o.Env...)

	name := o.LogName
	if name == "" {
		name = "worker.log"
	}
	logPath := filepath.Join(dir, name)
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	dieWithParent(cmd)
	w := &Worker{Cmd: cmd, LogPath: logPath, Done: make(chan struct{})}
	var pr, pw *os.File
	if o.OnLine == nil {
		cmd.Stdout, cmd.Stderr = f, f
	} else {
		// Through a pipe, so each line is seen as it is written.
		if pr, pw, err = os.Pipe(); err != nil {
			f.Close()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = pw, pw
		w.piped = true
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		if pr != nil {
			pr.Close()
			pw.Close()
		}
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	read := make(chan struct{})
	if pr == nil {
		close(read)
	} else {
		pw.Close() // the child holds its own copy
		go func() {
			defer close(read)
			defer pr.Close()
			r := bufio.NewReaderSize(pr, 64<<10)
			for {
				line, err := r.ReadBytes('\n')
				if len(line) > 0 {
					_, _ = f.Write(line)
					w.mu.Lock()
					if !w.started {
						w.log = append(w.log, line...)
					}
					w.mu.Unlock()
					o.OnLine(line)
				}
				if err != nil {
					if !errors.Is(err, io.EOF) {
						fmt.Fprintf(f, "benchkit: reading the worker's output: %v\n", err)
					}
					return
				}
			}
		}()
	}
	go func() {
		_ = cmd.Wait()
		<-read
		f.Close()
		close(w.Done)
	}()

	deadline := time.After(30 * time.Second)
	for {
		b := w.output()
		if strings.Contains(string(b), "worker running") {
			if !strings.Contains(string(b), "assumed-role/amicrypt-pipeline/") {
				w.Stop()
				return nil, fmt.Errorf("the worker does not act as the builder's amicrypt-pipeline role:\n%s", b)
			}
			break
		}
		select {
		case <-w.Done:
			return nil, fmt.Errorf("the worker exited at start (%v):\n%s", cmd.ProcessState, w.output())
		case <-deadline:
			w.Stop()
			return nil, fmt.Errorf("the worker did not start within 30 s:\n%s", b)
		case <-ctx.Done():
			w.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	w.mu.Lock()
	w.started, w.log = true, nil
	w.mu.Unlock()
	return w, nil
}

// output is what the worker wrote so far, while it starts.
func (w *Worker) output() []byte {
	if !w.piped {
		b, _ := os.ReadFile(w.LogPath)
		return b
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.log...)
}

// Stop asks the worker to stop (SIGTERM), then kills it after 10 s.
func (w *Worker) Stop() {
	select {
	case <-w.Done:
		return
	default:
	}
	if err := w.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = w.Cmd.Process.Kill()
	}
	select {
	case <-w.Done:
	case <-time.After(10 * time.Second):
		_ = w.Cmd.Process.Kill()
		<-w.Done
	}
}

// Kill ends the worker with SIGKILL (kill -9: no cleanup, no goodbye to
// Temporal) and returns once it has exited.
func (w *Worker) Kill() error {
	if err := w.Cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-w.Done
	return nil
}
