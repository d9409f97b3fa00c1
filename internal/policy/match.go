package policy

import "strings"

// globMatch reports whether s matches pattern, where * matches any run of
// characters (also none) and ? exactly one character. Letter case counts.
func globMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	pi, ti := 0, 0
	star, mark := -1, 0
	for ti < len(t) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == t[ti]):
			pi++
			ti++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ti
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ti = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// actionMatches compares an action pattern ("kms:ReEncrypt*", "kms:*", "*")
// with an action ("kms:ReEncryptFrom"); action names are case-insensitive.
func actionMatches(pattern, action string) bool {
	return globMatch(strings.ToLower(pattern), strings.ToLower(action))
}

// resourceMatches compares a Resource pattern with the resource a request
// names. "*" matches everything, including a request for no particular
// resource (written "*"). Wildcards may span ARN segments here; AWS does not
// document whether a * in Resource may cross a colon.
func resourceMatches(pattern, resource string) bool {
	return globMatch(pattern, resource)
}

// arnMatches is ArnLike/ArnEquals: the six colon-separated parts of an ARN are
// compared one by one, each allowing * and ? (AWS documents both operators as
// taking wildcards). A value that is not ARN-shaped is compared as a whole.
func arnMatches(pattern, value string) bool {
	pp := strings.SplitN(pattern, ":", 6)
	vp := strings.SplitN(value, ":", 6)
	if len(pp) < 6 || len(vp) < 6 {
		return globMatch(pattern, value)
	}
	for i := range pp {
		if !globMatch(pp[i], vp[i]) {
			return false
		}
	}
	return true
}

func anyMatch(patterns []string, match func(string) bool) (string, bool) {
	for _, p := range patterns {
		if match(p) {
			return p, true
		}
	}
	return "", false
}
