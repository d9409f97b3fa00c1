package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/workflows"
)

// A sweep's input (and a schedule's action) carries every target the
// config lists one by one, compressed: tens of thousands are warned about,
// more than Temporal accepts are refused before anything starts, both
// naming the organization selectors as the remedy.
func TestASweepOfTooManyListedTargetsIsRefused(t *testing.T) {
	listed := func(n int) workflows.SweepInput {
		in := workflows.SweepInput{Operator: "alice"}
		for i := range n {
			acct := fmt.Sprintf("%012d", 100000000000+i*7919)
			for _, r := range []string{"us-east-1", "eu-west-1"} {
				in.Targets = append(in.Targets, activities.Target{Account: acct, Name: fmt.Sprintf("team-%d-%s", i, r), Region: r,
					RoleARN: "arn:aws:iam::" + acct + ":role/amicrypt-target", KeyAlias: "alias/amicrypt-" + acct, ExternalID: fmt.Sprintf("ext-%x", i*104729)})
			}
		}
		return in
	}
	if w, err := sweepInputFits(listed(100)); w != "" || err != nil {
		t.Errorf("200 targets: warning %q, error %v", w, err)
	}
	// 10,000 targets: 2.9 MB of JSON, 127 KB compressed.
	if w, err := sweepInputFits(listed(5000)); w != "" || err != nil {
		t.Errorf("10,000 targets: warning %q, error %v", w, err)
	}
	w, err := sweepInputFits(listed(25000))
	if err != nil || !strings.Contains(w, "50000 targets") || !strings.Contains(w, "organizational_unit") {
		t.Errorf("50,000 targets: warning %q, error %v", w, err)
	}
	_, err = sweepInputFits(listed(90000))
	if err == nil || !strings.Contains(err.Error(), "over the 2 MB Temporal accepts; nothing was started") {
		t.Errorf("180,000 targets: %v", err)
	}
}
