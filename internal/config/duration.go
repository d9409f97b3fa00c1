package config

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

// durationForms is how a message names the duration syntax.
const durationForms = "a duration such as 90s, 15m, 1h30m or 7d"

// daysRe is a duration with whole days in front: 7d, 1d12h, -2d.
var daysRe = regexp.MustCompile(`^([-+]?)(\d+)d(.*)$`)

// fractionalDaysRe is 1.5d, which parseDuration refuses: days are whole.
var fractionalDaysRe = regexp.MustCompile(`^\d*[.,]\d+d$`)

const day = 24 * time.Hour

// parseDuration reads a duration as time.ParseDuration does (90s, 15m,
// 1h30m, -1h, 0s), with a whole number of days allowed in front (7d, 1d12h,
// -2d).
func parseDuration(s string) (time.Duration, bool) {
	m := daysRe.FindStringSubmatch(s)
	if m == nil {
		d, err := time.ParseDuration(s)
		return d, err == nil
	}
	sign, digits, rest := m[1], m[2], m[3]
	days, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || days > math.MaxInt64/int64(day) {
		return 0, false
	}
	var more time.Duration
	if rest != "" {
		if rest[0] == '+' || rest[0] == '-' {
			return 0, false
		}
		if more, err = time.ParseDuration(rest); err != nil {
			return 0, false
		}
	}
	d := time.Duration(days) * day
	if more > math.MaxInt64-d {
		return 0, false
	}
	if sign == "-" {
		return -(d + more), true
	}
	return d + more, true
}

// decodeDuration decodes every duration of the config: the decoder's own
// syntax (time.ParseDuration) and days.
func decodeDuration(d *yamlconf.Decoder, n *yamlconf.Node, path string, v reflect.Value) {
	switch {
	case n.Kind == yamlconf.Null:
		v.SetZero()
	case n.Kind == yamlconf.Scalar && n.Type == yamlconf.StringScalar:
		text := strings.TrimSpace(n.Text)
		dur, ok := parseDuration(text)
		switch {
		case ok:
			v.SetInt(int64(dur))
		case fractionalDaysRe.MatchString(text):
			f, _ := strconv.ParseFloat(strings.Replace(strings.TrimSuffix(text, "d"), ",", ".", 1), 64)
			d.Fail(n, path, "%s is not %s: days are whole; write %gh for %g days", n.Describe(), durationForms, f*24, f)
		default:
			d.Fail(n, path, "%s is not %s", n.Describe(), durationForms)
		}
	case n.Kind == yamlconf.Scalar && n.Type == yamlconf.IntScalar && !n.BigUint && n.Int == 0:
		v.SetZero() // 0 needs no unit, as time.ParseDuration says
	case n.Kind == yamlconf.Scalar && (n.Type == yamlconf.IntScalar || n.Type == yamlconf.FloatScalar):
		example := n.Text + "m for minutes"
		if strings.HasSuffix(path, ".grace") || strings.HasSuffix(path, ".retire_after") {
			example = n.Text + "d for days"
			if f, _ := n.FloatValue(); f != math.Trunc(f) {
				example = fmt.Sprintf("%gh for %s days: days are whole", f*24, n.Text)
			}
		}
		d.Fail(n, path, "%s has no unit; write %s (e.g. %s)", n.Describe(), durationForms, example)
	default:
		d.Fail(n, path, "expected %s, got %s", durationForms, n.Describe())
	}
}

// formatDays prints a duration of days as 7d (and 1d12h, 36m), others as
// formatDuration does.
func formatDays(d time.Duration) string {
	if d < 0 && d != math.MinInt64 {
		return "-" + formatDays(-d)
	}
	if d < day {
		return formatDuration(d)
	}
	s := fmt.Sprintf("%dd", d/day)
	if rest := d % day; rest != 0 {
		s += formatDuration(rest)
	}
	return s
}
