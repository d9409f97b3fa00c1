package config

import (
	"errors"
	"fmt"
	"strings"
)

// ParseSources reads --source flag values into region → AMI id. Each value is
// REGION=AMI (us-east-1=ami-0123456789abcdef0); REGION:AMI, Packer's artifact
// id form, is accepted too, as is a comma-separated list of either
// (us-east-1:ami-...,eu-west-1:ami-...). Malformed items, bad regions or AMI
// ids, and a region given twice are errors naming the flag value; all are
// reported at once.
func ParseSources(flags []string) (map[string]string, error) {
	out := map[string]string{}
	firstFlag := map[string]string{}
	var errs []error
	for _, flag := range flags {
		items := strings.Split(flag, ",")
		for _, raw := range items {
			item := strings.TrimSpace(raw)
			where := fmt.Sprintf("--source %q", flag)
			if len(items) > 1 {
				where += fmt.Sprintf(" (item %q)", item)
			}
			fail := func(format string, args ...any) {
				errs = append(errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
			}
			if item == "" {
				fail("expected REGION=AMI, e.g. us-east-1=ami-0123456789abcdef0; got nothing")
				continue
			}
			sep := strings.IndexAny(item, "=:")
			if sep < 0 {
				fail("expected REGION=AMI, e.g. us-east-1=%s", exampleAMI(item))
				continue
			}
			region, id := strings.TrimSpace(item[:sep]), strings.TrimSpace(item[sep+1:])
			bad := false
			if region == "" || id == "" {
				fail("expected REGION=AMI, e.g. us-east-1=ami-0123456789abcdef0; the %s is missing", map[bool]string{true: "region", false: "AMI id"}[region == ""])
				continue
			}
			if msg := regionProblem(region); msg != "" {
				fail("%s", msg)
				bad = true
			}
			if msg := amiProblem(id); msg != "" {
				fail("%s", msg)
				bad = true
			}
			if bad {
				continue
			}
			if first, dup := firstFlag[region]; dup {
				fail("region %s is given twice (first in --source %q): give one image per region", region, first)
				continue
			}
			firstFlag[region] = flag
			out[region] = id
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// exampleAMI makes the hint use the user's AMI id when that is what they gave.
func exampleAMI(item string) string {
	if amiRe.MatchString(item) {
		return item
	}
	return "ami-0123456789abcdef0"
}
