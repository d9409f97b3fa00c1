package cli

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

func TestDevRefusesBadInput(t *testing.T) {
	dir := t.TempDir()
	otherBuilder := filepath.Join(dir, "amicrypt.yaml")
	example, err := os.ReadFile("../config/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(otherBuilder, []byte(strings.ReplaceAll(string(example), "111111111111", "999999999999")), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dev", "extra"}, "unknown command"},
		{[]string{"dev", "--temporal-addr", "7233"}, "--temporal-addr \"7233\" is not host:port"},
		{[]string{"dev", "--sandbox-addr", "sandbox"}, "--sandbox-addr"},
		{[]string{"dev", "--ui-addr", "ui"}, "--ui-addr"},
		{[]string{"dev", "--namespace", ""}, "--namespace is empty"},
		{[]string{"dev", "--world", filepath.Join(dir, "missing.yaml")}, "--world"},
		{[]string{"dev", "--config", filepath.Join(dir, "missing.yaml")}, "--config"},
		{[]string{"dev", "--config", otherBuilder}, "999999999999 is not in the sandbox's world"},
	} {
		code, out, errs := run(append(tc.args, "--state-dir", filepath.Join(dir, "state"))...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 mentioning %q", tc.args, code, errs, tc.want)
		}
		if out != "" {
			t.Errorf("%v: printed %q; a refused start prints nothing", tc.args, out)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("a refused start made the state directory: %v", err)
	}
}

func TestBuilderAccount(t *testing.T) {
	w := world.Default()
	if a, err := builderAccount(w, ""); err != nil || a.ID != "111111111111" {
		t.Errorf("default world's builder: %v, %v", a, err)
	}
	if a, err := builderAccount(w, "222222222222"); err != nil || a.Name != "payments-prod" {
		t.Errorf("named builder: %v, %v", a, err)
	}
	for i := range w.Accounts {
		if w.Accounts[i].Name == "builder" {
			w.Accounts[i].Name = "packer"
		}
	}
	if _, err := builderAccount(w, ""); err == nil || !strings.Contains(err.Error(), "--config") {
		t.Errorf("a world without a builder: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The environment comes up with a worker acting as the builder's pipeline
// role, and both Temporal's runs and the sandbox's AWS state survive a restart.
func TestStartDevKeepsStateAcrossRestart(t *testing.T) {
	ctx := context.Background()
	o := devOptions{
		StateDir:     t.TempDir(),
		SandboxAddr:  freeAddr(t),
		TemporalAddr: "127.0.0.1:0",
		Logger:       zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
	}
	env, err := startDev(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer env.Stop()
	if want := "arn:aws:sts::111111111111:assumed-role/amicrypt-pipeline/"; !strings.HasPrefix(env.WorkerIdentity, want) {
		t.Errorf("worker acts as %q, want %s...", env.WorkerIdentity, want)
	}
	// Something in each store: a tag on the builder's image, a run waiting on
	// a task queue nobody polls.
	ec2c := ec2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("111111111111", "x", ""),
		BaseEndpoint: aws.String(env.SandboxEndpoint),
	})
	if _, err := ec2c.CreateTags(ctx, &ec2.CreateTagsInput{
		Resources: []string{"ami-0b0000000000a0001"},
		Tags:      []ec2types.Tag{{Key: aws.String("dev-test"), Value: aws.String("kept")}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "dev-test", TaskQueue: "nobody-polls"}, "Nothing"); err != nil {
		t.Fatal(err)
	}
	if err := env.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := env.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	env, err = startDev(ctx, o)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer env.Stop()
	desc, err := env.Client.DescribeWorkflowExecution(ctx, "dev-test", "")
	if err != nil || desc.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Errorf("the run after a restart: %v, %v", desc, err)
	}
	ec2c = ec2.NewFromConfig(aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("111111111111", "x", ""),
		BaseEndpoint: aws.String(env.SandboxEndpoint),
	})
	img, err := ec2c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{"ami-0b0000000000a0001"}})
	if err != nil || len(img.Images) != 1 {
		t.Fatalf("describe after restart: %v, %v", img, err)
	}
	kept := false
	for _, tag := range img.Images[0].Tags {
		kept = kept || (aws.ToString(tag.Key) == "dev-test" && aws.ToString(tag.Value) == "kept")
	}
	if !kept {
		t.Errorf("the sandbox lost a tag across the restart: %v", img.Images[0].Tags)
	}
}

// A taken sandbox address stops the start before Temporal runs, and says so.
func TestStartDevSandboxAddressTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = startDev(context.Background(), devOptions{SandboxAddr: ln.Addr().String(), TemporalAddr: "127.0.0.1:0", Logger: zerolog.Nop()})
	if err == nil || !strings.Contains(err.Error(), ln.Addr().String()) || !strings.Contains(err.Error(), "--sandbox-addr") {
		t.Errorf("startDev on a taken address: %v", err)
	}
}
