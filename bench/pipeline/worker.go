package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// worker is the 'amicrypt worker' child process.
type worker struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// startWorker starts the worker with an environment of its own: none of the
// caller's AWS, Temporal or amicrypt variables, and an AWS profile assuming
// the builder's amicrypt-pipeline role (the identity the target roles trust)
// from the builder's root credentials, with every call, the profile's own
// sts:AssumeRole included, sent to the sandbox. It returns once the worker
// says it runs.
func startWorker(ctx context.Context, bin, dir, endpoint string, args []string) (*worker, error) {
	files := map[string]string{
		"aws-config": "[profile amicrypt-pipeline]\n" +
			"role_arn = " + pipelineRole + "\n" +
			"source_profile = builder-root\nrole_session_name = amicrypt-bench\nregion = us-east-1\n\n" +
			"[profile builder-root]\nregion = us-east-1\n",
		"aws-credentials": "[builder-root]\naws_access_key_id = " + builderAccount + "\naws_secret_access_key = x\n",
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

	logPath := filepath.Join(dir, "worker.log")
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting the worker: %w", err)
	}
	w := &worker{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(w.done)
	}()

	deadline := time.After(30 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "worker running") {
			if !strings.Contains(string(b), "assumed-role/amicrypt-pipeline/") {
				w.stop()
				return nil, fmt.Errorf("the worker does not act as the builder's amicrypt-pipeline role:\n%s", b)
			}
			break
		}
		select {
		case <-w.done:
			return nil, fmt.Errorf("the worker exited at start (%v):\n%s", cmd.ProcessState, b)
		case <-deadline:
			w.stop()
			return nil, fmt.Errorf("the worker did not start within 30 s:\n%s", b)
		case <-ctx.Done():
			w.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return w, nil
}

// stop asks the worker to stop (SIGTERM), then kills it after 10 s.
func (w *worker) stop() {
	select {
	case <-w.done:
		return
	default:
	}
	if err := w.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = w.cmd.Process.Kill()
	}
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}
