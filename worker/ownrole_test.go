package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/activities"
)

// recorder is a Clients that remembers the access of the last call.
type recorder struct {
	activities.Clients
	last activities.Access
}

func (r *recorder) EC2(a activities.Access) activities.EC2API { r.last = a; return nil }
func (r *recorder) KMS(a activities.Access) activities.KMSAPI { r.last = a; return nil }
func (r *recorder) IAM(a activities.Access) activities.IAMAPI { r.last = a; return nil }
func (r *recorder) SSM(a activities.Access) activities.SSMAPI { r.last = a; return nil }
func (r *recorder) STS(a activities.Access) activities.STSAPI { r.last = a; return nil }
func (r *recorder) AutoScaling(a activities.Access) activities.AutoScalingAPI {
	r.last = a
	return nil
}

func TestWithOwnRole(t *testing.T) {
	const self = "arn:aws:sts::111111111111:assumed-role/amicrypt-pipeline/amicrypt-worker"
	rec := &recorder{}
	c := WithOwnRole(rec, self)
	calls := map[string]func(activities.Access){
		"EC2": func(a activities.Access) { c.EC2(a) }, "KMS": func(a activities.Access) { c.KMS(a) },
		"IAM": func(a activities.Access) { c.IAM(a) }, "SSM": func(a activities.Access) { c.SSM(a) },
		"STS": func(a activities.Access) { c.STS(a) }, "AutoScaling": func(a activities.Access) { c.AutoScaling(a) },
	}
	for _, tc := range []struct {
		role     string
		wantRole string
	}{
		// The worker's own role, with or without a path: its own credentials.
		{"arn:aws:iam::111111111111:role/amicrypt-pipeline", ""},
		{"arn:aws:iam::111111111111:role/ci/amicrypt-pipeline", ""},
		// Any other role is assumed as before.
		{"arn:aws:iam::222222222222:role/amicrypt-pipeline", "arn:aws:iam::222222222222:role/amicrypt-pipeline"},
		{"arn:aws:iam::111111111111:role/amicrypt-target", "arn:aws:iam::111111111111:role/amicrypt-target"},
		{"arn:aws:iam::111111111111:role/amicrypt-pipeline-2", "arn:aws:iam::111111111111:role/amicrypt-pipeline-2"},
		{"arn:aws-cn:iam::111111111111:role/amicrypt-pipeline", "arn:aws-cn:iam::111111111111:role/amicrypt-pipeline"},
		{"", ""},
	} {
		for name, call := range calls {
			call(activities.Access{Account: "111111111111", Region: "eu-west-1", RoleARN: tc.role, ExternalID: "x"})
			if rec.last.RoleARN != tc.wantRole || rec.last.Region != "eu-west-1" {
				t.Errorf("%s with %q: got access %+v, want role %q", name, tc.role, rec.last, tc.wantRole)
			}
		}
	}

	for _, caller := range []string{
		"arn:aws:iam::111111111111:root",
		"arn:aws:iam::111111111111:user/ci",
		"not an arn",
		"arn:aws:sts::111111111111:federated-user/x",
	} {
		if got := WithOwnRole(rec, caller); got != activities.Clients(rec) {
			t.Errorf("caller %q: clients were wrapped", caller)
		}
	}
}

// A role that may assume itself is assumed again for each run (the clients
// stay as they are); one that may not is used through the worker's own
// credentials, and the reason is given.
func TestOwnRoleClientsAssumeTheRoleAgainWhereItsTrustLetsIt(t *testing.T) {
	const self = "arn:aws:sts::111111111111:assumed-role/amicrypt-pipeline/amicrypt-worker"
	access := activities.Access{RoleARN: "arn:aws:iam::111111111111:role/amicrypt-pipeline", Region: "us-east-1"}
	var asked []string
	ok := func(_ context.Context, role, session, sourceIdentity string) error {
		asked = append(asked, role+" "+session+" "+sourceIdentity)
		return nil
	}
	rec := &recorder{}
	c, whyNot := OwnRoleClients(context.Background(), rec, self, ok)
	c.EC2(access)
	if whyNot != "" || rec.last.RoleARN != access.RoleARN || len(asked) != 1 || !strings.HasPrefix(asked[0], access.RoleARN+" ") || !strings.HasSuffix(asked[0], " amicrypt-worker") {
		t.Errorf("self-assume allowed: why not %q, access %+v, asked %v; want the role assumed again", whyNot, rec.last, asked)
	}
	refused := func(context.Context, string, string, string) error {
		return errors.New("AccessDenied: not authorized to perform sts:SetSourceIdentity")
	}
	c, whyNot = OwnRoleClients(context.Background(), rec, self, refused)
	c.EC2(access)
	if !strings.Contains(whyNot, "sts:SetSourceIdentity") || rec.last.RoleARN != "" {
		t.Errorf("self-assume refused: why not %q, access %+v; want the worker's own credentials and the reason", whyNot, rec.last)
	}
	// Not a role session (a user, the root user): nothing to assume.
	c, whyNot = OwnRoleClients(context.Background(), rec, "arn:aws:iam::111111111111:user/ci", refused)
	c.EC2(access)
	if whyNot != "" || rec.last.RoleARN != access.RoleARN {
		t.Errorf("a user's worker: why not %q, access %+v", whyNot, rec.last)
	}
}
