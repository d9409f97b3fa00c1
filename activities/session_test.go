package activities

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

var sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)

func TestSessionNamesFitSTS(t *testing.T) {
	for _, run := range []string{
		"amicrypt-run-web-2026-11-23",
		"amicrypt-plan-" + strings.Repeat("golden-ami-", 8) + "20261123T100000.000Z",
		"amicrypt-target-ami-0123456789abcdef0-222222222222-ap-southeast-2",
		"a run/with:odd chars",
	} {
		for _, c := range sessionClasses {
			name := SessionName(run, c.Name)
			if !sessionNameRE.MatchString(name) || !strings.HasPrefix(name, "amicrypt-") || !strings.HasSuffix(name, "-"+c.Name) {
				t.Errorf("SessionName(%q, %q) = %q: not amicrypt-<run>-<step> within STS's limits", run, c.Name, name)
			}
		}
	}
	long := "amicrypt-plan-" + strings.Repeat("x", 80)
	if SessionName(long+"1", "read") == SessionName(long+"2", "read") {
		t.Error("two long runs share a session name")
	}
	if got := SessionName("amicrypt-run-r1", "copy"); got != "amicrypt-run-r1-copy" {
		t.Errorf("a short run: %q", got)
	}
}

func TestSessionPoliciesFitSTSAndReadsCannotWrite(t *testing.T) {
	for name, c := range sessionClasses {
		p := c.Policy()
		if len(p) > 2048 {
			t.Errorf("%s's %s session policy has %d characters; STS takes 2,048", name, c.Name, len(p))
		}
		if !json.Valid([]byte(p)) {
			t.Errorf("%s's session policy is not JSON: %s", name, p)
		}
	}
	for _, a := range ReadSession.Actions {
		verb := a[strings.Index(a, ":")+1:]
		if !strings.HasPrefix(verb, "Describe") && !strings.HasPrefix(verb, "Get") && !strings.HasPrefix(verb, "List") && a != "cloudtrail:LookupEvents" {
			t.Errorf("the read-only session allows %s", a)
		}
	}
}
