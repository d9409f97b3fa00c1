package policy

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

type setQualifier int

const (
	singleValued setQualifier = iota
	forAnyValue
	forAllValues
)

// operator is a parsed condition operator such as "ForAllValues:StringLikeIfExists".
type operator struct {
	qualifier setQualifier
	name      string // canonical base name, e.g. "StringLike"
	ifExists  bool
	negated   bool // StringNotEquals, ArnNotLike, NotIpAddress, ...
	null      bool // the Null operator: tests presence, not values
	// match is the positive comparison of one request value with one policy value.
	match func(requestValue, policyValue string) bool
}

type baseOperator struct {
	name    string
	negated bool
	match   func(requestValue, policyValue string) bool
}

var baseOperators = func() map[string]baseOperator {
	m := map[string]baseOperator{}
	add := func(name, negatedName string, match func(string, string) bool) {
		m[strings.ToLower(name)] = baseOperator{name: name, match: match}
		if negatedName != "" {
			m[strings.ToLower(negatedName)] = baseOperator{name: negatedName, negated: true, match: match}
		}
	}
	add("StringEquals", "StringNotEquals", func(r, p string) bool { return r == p })
	add("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", strings.EqualFold)
	add("StringLike", "StringNotLike", func(r, p string) bool { return globMatch(p, r) })
	add("NumericEquals", "NumericNotEquals", numeric(func(c int) bool { return c == 0 }))
	add("NumericLessThan", "", numeric(func(c int) bool { return c < 0 }))
	add("NumericLessThanEquals", "", numeric(func(c int) bool { return c <= 0 }))
	add("NumericGreaterThan", "", numeric(func(c int) bool { return c > 0 }))
	add("NumericGreaterThanEquals", "", numeric(func(c int) bool { return c >= 0 }))
	add("DateEquals", "DateNotEquals", date(func(c int) bool { return c == 0 }))
	add("DateLessThan", "", date(func(c int) bool { return c < 0 }))
	add("DateLessThanEquals", "", date(func(c int) bool { return c <= 0 }))
	add("DateGreaterThan", "", date(func(c int) bool { return c > 0 }))
	add("DateGreaterThanEquals", "", date(func(c int) bool { return c >= 0 }))
	add("Bool", "", strings.EqualFold)
	add("BinaryEquals", "", func(r, p string) bool { return r == p })
	add("IpAddress", "NotIpAddress", ipInRange)
	add("ArnEquals", "ArnNotEquals", func(r, p string) bool { return arnMatches(p, r) })
	add("ArnLike", "ArnNotLike", func(r, p string) bool { return arnMatches(p, r) })
	m["null"] = baseOperator{name: "Null"}
	return m
}()

// parseOperator reads a condition operator. Letter case is not significant.
func parseOperator(s string) (operator, error) {
	var op operator
	rest := s
	lower := strings.ToLower(rest)
	switch {
	case strings.HasPrefix(lower, "foranyvalue:"):
		op.qualifier, rest = forAnyValue, rest[len("ForAnyValue:"):]
	case strings.HasPrefix(lower, "forallvalues:"):
		op.qualifier, rest = forAllValues, rest[len("ForAllValues:"):]
	}
	lower = strings.ToLower(rest)
	if strings.HasSuffix(lower, "ifexists") {
		op.ifExists, lower = true, strings.TrimSuffix(lower, "ifexists")
	}
	base, ok := baseOperators[lower]
	if !ok {
		return operator{}, fmt.Errorf("%q is not a condition operator AWS knows (StringEquals, StringLike, ArnLike, Bool, Null, NumericEquals, ...)", s)
	}
	op.name, op.negated, op.match = base.name, base.negated, base.match
	if base.name == "Null" {
		if op.ifExists || op.qualifier != singleValued {
			return operator{}, fmt.Errorf("%q: Null takes no ForAnyValue:/ForAllValues: qualifier and no IfExists", s)
		}
		op.null = true
	}
	return op, nil
}

// holds evaluates one condition against the request context.
func (c Condition) holds(ctx requestContext) bool {
	op, err := parseOperator(c.Operator)
	if err != nil {
		return false // Parse refuses unknown operators; a hand-built one never holds
	}
	values, present := ctx.lookup(c.Key)
	if op.null {
		// "Null": "true" holds when the key is absent, "false" when present.
		for _, v := range c.Values {
			if strings.EqualFold(v, "true") && !present || strings.EqualFold(v, "false") && present {
				return true
			}
		}
		return false
	}
	if !present {
		switch {
		case op.ifExists:
			return true
		case op.qualifier == forAllValues:
			return true // every one of no values matches
		case op.qualifier == forAnyValue:
			return false
		}
		// A missing key matches nothing: positive operators fail, negated ones
		// hold (IAM documents both).
		return op.negated
	}
	// matchesPolicy: does one request value match any of the policy's values?
	matchesPolicy := func(v string) bool {
		for _, p := range c.Values {
			if op.match(v, p) {
				return true
			}
		}
		return false
	}
	// ok is the per-value test: for a negated operator, the value matches none
	// of the policy's values (NOR), otherwise at least one (OR).
	ok := func(v string) bool { return matchesPolicy(v) != op.negated }
	switch op.qualifier {
	case forAllValues:
		for _, v := range values {
			if !ok(v) {
				return false
			}
		}
		return true
	case forAnyValue:
		for _, v := range values {
			if ok(v) {
				return true
			}
		}
		return false
	}
	// A plain operator with a multivalued key: a positive operator holds when
	// any request value matches; a negated one when none does. AWS calls this
	// case unpredictable and advises a qualifier.
	for _, v := range values {
		if matchesPolicy(v) {
			return !op.negated
		}
	}
	return op.negated
}

// explain describes a condition that does not hold, with what the request
// carried, e.g. `StringEquals kms:ViaService "ec2.us-east-1.amazonaws.com" does not hold (request has "ec2.us-west-2.amazonaws.com")`.
// A secret's values (sts:ExternalId) are not shown: explanations end in
// error messages, reports and logs.
func (c Condition) explain(ctx requestContext) string {
	want := quoteList(c.Values)
	got := "request has no " + c.Key
	vs, ok := ctx.lookup(c.Key)
	if ok {
		got = "request has " + quoteList(vs)
	}
	if secretConditionKey(c.Key) {
		want = "(its value not shown)"
		if ok {
			got = "the request's " + c.Key + " differs, not shown"
		}
	}
	return fmt.Sprintf("%s %s %s does not hold (%s)", c.Operator, c.Key, want, got)
}

// secretConditionKey: sts:ExternalId is a shared secret against the
// confused deputy (IAM's documentation) — its values are never printed.
func secretConditionKey(key string) bool {
	return strings.EqualFold(key, "sts:ExternalId")
}

// String writes the condition as it reads in a policy, e.g.
// `StringEquals kms:CallerAccount "111122223333"`.
func (c Condition) String() string {
	return fmt.Sprintf("%s %s %s", c.Operator, c.Key, quoteList(c.Values))
}

func quoteList(vs []string) string {
	if len(vs) == 1 {
		return strconv.Quote(vs[0])
	}
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// conditionsHold evaluates a statement's conditions (all must hold) and
// returns the first that does not.
func conditionsHold(conds []Condition, ctx requestContext) (Condition, bool) {
	for _, c := range conds {
		if !c.holds(ctx) {
			return c, false
		}
	}
	return Condition{}, true
}

func numeric(test func(int) bool) func(string, string) bool {
	return func(r, p string) bool {
		a, err1 := strconv.ParseFloat(strings.TrimSpace(r), 64)
		b, err2 := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err1 != nil || err2 != nil {
			return false
		}
		switch {
		case a < b:
			return test(-1)
		case a > b:
			return test(1)
		}
		return test(0)
	}
}

// date compares ISO 8601 (RFC 3339) times or epoch seconds.
func date(test func(int) bool) func(string, string) bool {
	parse := func(s string) (time.Time, bool) {
		s = strings.TrimSpace(s)
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700", "2006-01-02T15:04Z07:00", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0), true
		}
		return time.Time{}, false
	}
	return func(r, p string) bool {
		a, ok1 := parse(r)
		b, ok2 := parse(p)
		return ok1 && ok2 && test(a.Compare(b))
	}
}

func ipInRange(r, p string) bool {
	addr, err := netip.ParseAddr(strings.TrimSpace(r))
	if err != nil {
		return false
	}
	if pfx, err := netip.ParsePrefix(strings.TrimSpace(p)); err == nil {
		return pfx.Contains(addr)
	}
	if a, err := netip.ParseAddr(strings.TrimSpace(p)); err == nil {
		return a == addr
	}
	return false
}

// requestContext holds a request's condition keys, looked up case-insensitively.
type requestContext struct {
	values map[string][]string // lower-cased key -> values
}

func newRequestContext(in map[string][]string) requestContext {
	ctx := requestContext{values: make(map[string][]string, len(in)+8)}
	for k, vs := range in {
		lk := strings.ToLower(k)
		ctx.values[lk] = append(ctx.values[lk], vs...)
	}
	return ctx
}

// lookup returns the key's values; a key with no values counts as absent.
func (ctx requestContext) lookup(key string) ([]string, bool) {
	vs := ctx.values[strings.ToLower(key)]
	return vs, len(vs) > 0
}

// setDefault adds a key the request did not carry.
func (ctx requestContext) setDefault(key, value string) {
	lk := strings.ToLower(key)
	if value == "" || len(ctx.values[lk]) > 0 {
		return
	}
	ctx.values[lk] = []string{value}
}
