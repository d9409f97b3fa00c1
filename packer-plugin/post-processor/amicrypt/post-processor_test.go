package amicrypt

import (
	"context"
	"errors"
	"strings"
	"testing"

	packersdk "github.com/hashicorp/packer-plugin-sdk/packer"
	"go.temporal.io/sdk/client"

	"github.com/amicrypt/amicrypt/internal/temporalconn"
)

// Bad input starts nothing: Temporal is not even dialed.
func TestPostProcessRefusesBadInputBeforeDialing(t *testing.T) {
	path := writeExampleConfig(t)
	for name, c := range map[string]struct {
		artifact packersdk.Artifact
		want     string
	}{
		"no AMI":          {&stubArtifact{builderID: "mitchellh.amazonebs", id: ""}, "has no AMI"},
		"not an AMI":      {&stubArtifact{builderID: "packer.file", id: "/tmp/x"}, "is not an AMI"},
		"wrong sources":   {&stubArtifact{builderID: "mitchellh.amazonebs", id: "cn-north-1:ami-0123456789abcdef0"}, "nothing was started"},
		"volumes, no AMI": {&stubArtifact{builderID: "mitchellh.amazon.ebsvolume", id: "us-east-1:vol-1"}, "EBS volumes"},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := configureHCL(t, `config = "`+path+`"`)
			if err != nil {
				t.Fatal(err)
			}
			dialed := false
			p.dial = func(context.Context, temporalconn.Options) (client.Client, error) {
				dialed = true
				return nil, errors.New("no Temporal here")
			}
			a, keep, _, err := p.PostProcess(context.Background(), packersdk.TestUi(t), c.artifact)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("want an error containing %q, got %v", c.want, err)
			}
			if a != nil || !keep || dialed {
				t.Errorf("artifact %v, keep %v, dialed %v", a, keep, dialed)
			}
		})
	}
}

// source_amis win over the input artifact, which may then hold no AMI at all.
func TestSourceAMIsReplaceTheArtifact(t *testing.T) {
	path := writeExampleConfig(t)
	p, err := configureHCL(t, `
config      = "`+path+`"
source_amis = { "us-east-1" = "ami-0b0000000000a0001", "eu-west-1" = "ami-0b0000000000e0001" }`)
	if err != nil {
		t.Fatal(err)
	}
	var got temporalconn.Options
	p.dial = func(_ context.Context, o temporalconn.Options) (client.Client, error) {
		got = o
		return nil, errors.New("no Temporal here")
	}
	_, _, _, err = p.PostProcess(context.Background(), packersdk.TestUi(t), &stubArtifact{builderID: "packer.null", id: "Did not export anything. This is the null builder"})
	if err == nil || err.Error() != "no Temporal here" || got.Address == "" {
		t.Errorf("want the dial to be reached with the sources from source_amis, got %v (options %+v)", err, got)
	}
}

// stubArtifact is an input artifact; packersdk.MockArtifact cannot have an empty id.
type stubArtifact struct{ builderID, id string }

func (a *stubArtifact) BuilderId() string        { return a.builderID }
func (a *stubArtifact) Files() []string          { return nil }
func (a *stubArtifact) Id() string               { return a.id }
func (a *stubArtifact) String() string           { return a.id }
func (a *stubArtifact) State(string) interface{} { return nil }
func (a *stubArtifact) Destroy() error           { return nil }
