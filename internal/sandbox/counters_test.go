package sandbox

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func TestReadOnlyActionFollowsAWSNaming(t *testing.T) {
	for action, want := range map[string]bool{
		"ec2:DescribeImages": true, "GetParameter": true, "kms:ListKeys": true, "cloudtrail:LookupEvents": true,
		"ec2:CopyImage": false, "kms:Decrypt": false, "ssm:PutParameter": false, "ec2:DeregisterImage": false,
	} {
		if got := ReadOnlyAction(action); got != want {
			t.Errorf("ReadOnlyAction(%q) = %v, want %v", action, got, want)
		}
	}
}

// TestCountersTellMutatingCalls: the counters mark each action read-only or
// mutating, and total the mutating calls per account and region, refused
// calls included (a refused call is still a request).
func TestCountersTellMutatingCalls(t *testing.T) {
	e := newTestEnv(t, identityWorld)
	const acct = "111111111111"
	c := e.ec2(acct, "us-east-1")
	must(c.DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))
	must(e.sts(acct, "us-east-1").GetCallerIdentity(e.ctx, &sts.GetCallerIdentityInput{}))
	must(c.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")}))
	if _, err := c.CreateSecurityGroup(e.ctx, &ec2.CreateSecurityGroupInput{GroupName: aws.String("web"), Description: aws.String("web")}); err == nil {
		t.Fatal("a second security group of the same name was created")
	}
	must(e.ec2("222222222222", "us-east-1").DescribeImages(e.ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}}))

	if n := e.srv.MutatingCalls(acct, "us-east-1"); n != 2 {
		t.Fatalf("MutatingCalls(%s) = %d, want 2", acct, n)
	}
	if n := e.srv.MutatingCalls("", ""); n != 2 {
		t.Fatalf("MutatingCalls of everyone = %d, want 2", n)
	}
	if n := e.srv.MutatingCalls("222222222222", ""); n != 0 {
		t.Fatalf("MutatingCalls of a reader = %d, want 0", n)
	}
	for _, r := range e.srv.Counters() {
		if r.Mutating != (r.Action == "ec2:CreateSecurityGroup") {
			t.Errorf("counter %s: mutating = %v", r.Action, r.Mutating)
		}
	}
	var rows []CallSummaryRow
	getJSON(t, e.http.URL+"/_sandbox/counters/summary", &rows)
	if len(rows) != 2 || rows[0] != (CallSummaryRow{Account: acct, Region: "us-east-1", Calls: 4, MutatingCalls: 2}) ||
		rows[1] != (CallSummaryRow{Account: "222222222222", Region: "us-east-1", Calls: 1}) {
		t.Fatalf("/_sandbox/counters/summary: %+v", rows)
	}
}

// TestWritesLeaveOutReadsAndSTS: a plan's reads and its sts:AssumeRole are
// no writes; NewWrites names what changed between two counts.
func TestWritesLeaveOutReadsAndSTS(t *testing.T) {
	rows := []CounterRow{
		{Account: "111111111111", Region: "us-east-1", Action: "ec2:DescribeImages", Calls: 9},
		{Account: "111111111111", Region: "us-east-1", Action: "sts:AssumeRole", Calls: 4, Mutating: true},
		{Account: "111111111111", Region: "us-east-1", Action: "kms:CreateKey", Calls: 1, Mutating: true},
		{Account: "222222222222", Region: "eu-west-1", Action: "ec2:CopyImage", Calls: 2, Mutating: true},
	}
	before := Writes(rows, "")
	if len(before) != 2 || before["111111111111/us-east-1 kms:CreateKey"] != 1 || before["222222222222/eu-west-1 ec2:CopyImage"] != 2 {
		t.Fatalf("Writes = %v", before)
	}
	if one := Writes(rows, "222222222222"); len(one) != 1 {
		t.Errorf("Writes of one account = %v", one)
	}
	rows[0].Calls, rows[1].Calls = 20, 8 // more reads and AssumeRoles: no new write
	if got := NewWrites(before, Writes(rows, "")); len(got) != 0 {
		t.Errorf("reads counted as writes: %v", got)
	}
	rows[3].Calls = 5
	if got := NewWrites(before, Writes(rows, "")); len(got) != 1 || got[0] != "222222222222/eu-west-1 ec2:CopyImage ×3" {
		t.Errorf("NewWrites = %v", got)
	}
}
