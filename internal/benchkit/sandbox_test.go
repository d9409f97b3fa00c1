package benchkit

import (
	"testing"

	"github.com/amicrypt/amicrypt/internal/sandbox"
)

// Since counts what was called between two readings: a row new since the
// first, and the growth of the others, throttles included.
func TestCallsSince(t *testing.T) {
	before := countCalls([]sandbox.CounterRow{
		{Account: BuilderAccount, Region: "us-east-1", Action: "sts:AssumeRole", Calls: 1},
		{Account: "200000000000", Region: "us-east-1", Action: "ec2:DescribeImages", Calls: 3, Throttled: 1},
	})
	after := countCalls([]sandbox.CounterRow{
		{Account: BuilderAccount, Region: "us-east-1", Action: "sts:AssumeRole", Calls: 1},
		{Account: BuilderAccount, Region: "us-east-1", Action: "ec2:DescribeImageAttribute", Calls: 2},
		{Account: "200000000000", Region: "us-east-1", Action: "ec2:DescribeImages", Calls: 7, Throttled: 2},
	})
	d := after.Since(before)
	if d.Total != 6 || d.Builder != 2 || d.Throttled != 1 || len(d.Rows) != 2 ||
		d.ByAction["ec2:DescribeImages"] != 4 || d.ByAction["ec2:DescribeImageAttribute"] != 2 || d.ThrottledByAction["ec2:DescribeImages"] != 1 {
		t.Errorf("since: %+v", d)
	}
	if _, ok := d.ByAction["sts:AssumeRole"]; ok {
		t.Error("an action not called since is listed")
	}
}
