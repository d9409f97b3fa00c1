package policy

import (
	"strings"
	"testing"
)

// A session assumed with a session policy may do only what both its role's
// policies and the session policy allow (IAM User Guide, "Session policies").
func TestSessionPolicyNarrowsTheRole(t *testing.T) {
	role := mustParse(t, `{"Version": "2012-10-17", "Statement": [{"Sid": "All", "Effect": "Allow", "Action": ["ec2:*", "kms:*"], "Resource": "*"}]}`)
	readOnly := mustParse(t, `{"Version": "2012-10-17", "Statement": [
		{"Sid": "Read", "Effect": "Allow", "Action": ["ec2:Describe*", "kms:Describe*"], "Resource": "*"},
		{"Sid": "NeverDeregister", "Effect": "Deny", "Action": "ec2:DeregisterImage", "Resource": "*"}]}`)
	s := developer
	s.RoleARN = "arn:aws:iam::111122223333:role/Developer"
	s.IdentityPolicies = []*Document{role}
	s.SessionPolicies = []*Document{readOnly}

	if d := EvaluateIdentity(Request{Principal: s, Action: "ec2:DescribeImages", Resource: "*"}); !d.Allowed {
		t.Errorf("DescribeImages: refused, %s", d.Reason)
	}
	d := EvaluateIdentity(Request{Principal: s, Action: "ec2:CopyImage", Resource: "*"})
	if d.Allowed || !strings.Contains(d.Reason, "session policy") {
		t.Errorf("CopyImage: allowed %v, %s; want refused by the session policy", d.Allowed, d.Reason)
	}
	d = EvaluateIdentity(Request{Principal: s, Action: "ec2:DeregisterImage", Resource: "*"})
	if d.Allowed || !d.ExplicitDeny || d.DecidedBy[0] != "session:NeverDeregister" {
		t.Errorf("DeregisterImage: %+v; want the session policy's explicit deny", d)
	}
	// The session policy grants nothing the role does not have.
	d = EvaluateIdentity(Request{Principal: Principal{ARN: s.ARN, RoleARN: s.RoleARN, SessionPolicies: []*Document{readOnly}}, Action: "ec2:DescribeImages", Resource: "*"})
	if d.Allowed {
		t.Errorf("a session policy alone allowed DescribeImages: %s", d.Reason)
	}

	key := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	byRole := mustPolicy(t, `{"Sid": "Dev", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111122223333:role/Developer"}, "Action": "kms:*", "Resource": "*"}`)
	if d := EvaluateKMS(byRole, "", nil, Request{Principal: s, Action: "kms:DescribeKey", Resource: key}); !d.Allowed {
		t.Errorf("DescribeKey through a key policy naming the role: refused, %s", d.Reason)
	}
	d = EvaluateKMS(byRole, "", nil, Request{Principal: s, Action: "kms:ScheduleKeyDeletion", Resource: key})
	if d.Allowed || !strings.Contains(d.Reason, "session policy") {
		t.Errorf("ScheduleKeyDeletion through a key policy naming the role: allowed %v, %s; want refused by the session policy", d.Allowed, d.Reason)
	}
	bySession := mustPolicy(t, `{"Sid": "ThisSession", "Effect": "Allow", "Principal": {"AWS": "`+s.ARN+`"}, "Action": "kms:*", "Resource": "*"}`)
	if d := EvaluateKMS(bySession, "", nil, Request{Principal: s, Action: "kms:ScheduleKeyDeletion", Resource: key}); !d.Allowed {
		t.Errorf("a key policy naming the session ARN itself is not limited by the session policy, but: %s", d.Reason)
	}
}
