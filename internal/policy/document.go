// Package policy parses, builds and evaluates AWS IAM policy documents: KMS key
// policies and grants, identity-based policies and role trust policies. It does
// no I/O. The AWS sandbox uses it to grant or deny calls the way AWS would, and
// diagnosis uses it to say what a key policy is missing before hours of copying.
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Policy language versions AWS accepts in the Version element.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Effect is a statement's Effect element.
type Effect string

// The two effects AWS accepts.
const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Document is one IAM policy document: a key policy, an identity-based policy
// or a role trust policy. Parse reads one; Marshal writes it back.
type Document struct {
	Version    string // "2012-10-17", "2008-10-17" or empty when the document has none
	ID         string // the Id element, empty when absent
	Statements []Statement
}

// Statement is one element of a document's Statement list. A nil slice or
// pointer means the element is absent: a statement has Action or NotAction,
// at most one of Principal and NotPrincipal, at most one of Resource and
// NotResource.
type Statement struct {
	Sid          string
	Effect       Effect
	Principal    *Principals
	NotPrincipal *Principals
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Condition    []Condition // in document order, grouped by operator when written

	// raw is the statement's JSON as parsed. Marshal writes it unchanged while
	// the statement still says what raw says, so a policy owner's statements
	// keep their formatting through a merge.
	raw []byte
}

// Principals is a Principal or NotPrincipal element.
type Principals struct {
	// All is the bare "*" form: every principal. {"AWS": "*"} is kept as
	// AWS = ["*"]; AWS documents the two as equivalent and they evaluate alike.
	All           bool
	AWS           []string // account ids, ARNs of accounts, users, roles and sessions, or "*"
	Service       []string // service principals such as "ec2.amazonaws.com"
	Federated     []string // identity providers
	CanonicalUser []string // S3 canonical user ids; parsed, never matched
}

// Condition is one condition key under one operator, e.g. StringEquals
// kms:ViaService = ["ec2.us-east-1.amazonaws.com"].
type Condition struct {
	// Operator as written, with any ForAnyValue:/ForAllValues: qualifier and
	// IfExists suffix, e.g. "ForAllValues:StringEquals" or "StringLikeIfExists".
	Operator string
	Key      string   // condition key as written; matched case-insensitively
	Values   []string // booleans and numbers are kept as their JSON text
}

// Label names a statement in messages and Decision.DecidedBy: its Sid, or
// "statement[i]" (i counting from 0) when it has none.
func (s Statement) Label(i int) string {
	if s.Sid != "" {
		return s.Sid
	}
	return fmt.Sprintf("statement[%d]", i)
}

// StatementError is a Parse error inside one statement.
type StatementError struct {
	Index int    // position in the Statement list, counting from 0
	Sid   string // the statement's Sid, empty when it has none or it is unreadable
	Err   error
}

// Error names the statement and what is wrong with it.
func (e *StatementError) Error() string {
	if e.Sid != "" {
		return fmt.Sprintf("statement %d (%q): %v", e.Index, e.Sid, e.Err)
	}
	return fmt.Sprintf("statement %d: %v", e.Index, e.Err)
}

// Unwrap returns the error about the statement's field.
func (e *StatementError) Unwrap() error { return e.Err }

// Parse reads a policy document as AWS writes it. Errors inside a statement are
// *StatementError and name the statement (index from 0 and Sid) and the field,
// e.g. `statement 2 ("Allow use of the key"): Effect must be "Allow" or "Deny", got "Permit"`.
//
// Element names are case-sensitive and unknown elements are refused, as IAM does.
// Condition operators are accepted in any letter case (AWS's own behaviour for
// a lower-case operator is not documented).
func Parse(data []byte) (*Document, error) {
	var probe json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("policy document is not valid JSON: %w", err)
	}
	members, err := decodeObject(probe)
	if err != nil {
		return nil, fmt.Errorf("policy document: %w", err)
	}
	d := &Document{}
	sawStatement := false
	for _, m := range members {
		switch m.name {
		case "Version":
			if err := json.Unmarshal(m.value, &d.Version); err != nil {
				return nil, fieldErr("Version", "must be a string, got %s", short(m.value))
			}
			if d.Version != Version2012 && d.Version != Version2008 {
				return nil, fieldErr("Version", "must be %q or %q, got %q", Version2012, Version2008, d.Version)
			}
		case "Id":
			if err := json.Unmarshal(m.value, &d.ID); err != nil {
				return nil, fieldErr("Id", "must be a string, got %s", short(m.value))
			}
		case "Statement":
			sawStatement = true
			if d.Statements, err = parseStatements(m.value); err != nil {
				return nil, err
			}
		default:
			return nil, unknownField("policy document", m.name, "Version", "Id", "Statement")
		}
	}
	if !sawStatement {
		return nil, errors.New("policy document has no Statement")
	}
	return d, nil
}

func parseStatements(raw json.RawMessage) ([]Statement, error) {
	switch firstByte(raw) {
	case '{':
		s, err := parseStatement(0, raw)
		if err != nil {
			return nil, err
		}
		return []Statement{s}, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fieldErr("Statement", "is not a list of objects: %w", err)
		}
		if len(items) == 0 {
			return nil, fieldErr("Statement", "must hold at least one statement")
		}
		out := make([]Statement, 0, len(items))
		for i, item := range items {
			s, err := parseStatement(i, item)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fieldErr("Statement", "must be an object or a list of objects, got %s", short(raw))
	}
}

func parseStatement(i int, raw json.RawMessage) (Statement, error) {
	var s Statement
	fail := func(err error) (Statement, error) {
		return Statement{}, &StatementError{Index: i, Sid: s.Sid, Err: err}
	}
	members, err := decodeObject(raw)
	if err != nil {
		var named struct{ Sid any }
		if json.Unmarshal(raw, &named) == nil {
			s.Sid, _ = named.Sid.(string)
		}
		return fail(err)
	}
	// Read the Sid first so every later error can name it.
	for _, m := range members {
		if m.name == "Sid" {
			if err := json.Unmarshal(m.value, &s.Sid); err != nil {
				return fail(fieldErr("Sid", "must be a string, got %s", short(m.value)))
			}
		}
	}
	for _, m := range members {
		switch m.name {
		case "Sid":
		case "Effect":
			var e string
			if err := json.Unmarshal(m.value, &e); err != nil {
				return fail(fieldErr("Effect", "must be \"Allow\" or \"Deny\", got %s", short(m.value)))
			}
			if e != string(Allow) && e != string(Deny) {
				return fail(fieldErr("Effect", "must be \"Allow\" or \"Deny\", got %q", e))
			}
			s.Effect = Effect(e)
		case "Principal", "NotPrincipal":
			p, err := parsePrincipals(m.name, m.value)
			if err != nil {
				return fail(err)
			}
			if m.name == "Principal" {
				s.Principal = p
			} else {
				s.NotPrincipal = p
			}
		case "Action", "NotAction":
			list, err := stringList(m.name, m.value)
			if err != nil {
				return fail(err)
			}
			for _, a := range list {
				if err := checkAction(a); err != nil {
					return fail(fmt.Errorf("%s %w", m.name, err))
				}
			}
			if m.name == "Action" {
				s.Action = list
			} else {
				s.NotAction = list
			}
		case "Resource", "NotResource":
			list, err := stringList(m.name, m.value)
			if err != nil {
				return fail(err)
			}
			if m.name == "Resource" {
				s.Resource = list
			} else {
				s.NotResource = list
			}
		case "Condition":
			c, err := parseConditions(m.value)
			if err != nil {
				return fail(err)
			}
			s.Condition = c
		default:
			return fail(unknownField("statement", m.name, "Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"))
		}
	}
	switch {
	case s.Effect == "":
		return fail(fieldErr("Effect", `is missing; it must be "Allow" or "Deny"`))
	case s.Action == nil && s.NotAction == nil:
		return fail(fieldErr("Action", "(or NotAction) is missing"))
	case s.Action != nil && s.NotAction != nil:
		return fail(fieldErr("Action", "and NotAction cannot both be present"))
	case s.Resource != nil && s.NotResource != nil:
		return fail(fieldErr("Resource", "and NotResource cannot both be present"))
	case s.Principal != nil && s.NotPrincipal != nil:
		return fail(fieldErr("Principal", "and NotPrincipal cannot both be present"))
	}
	s.raw = append([]byte(nil), raw...)
	return s, nil
}

// fieldErr is an error about one element of a document; its text starts with
// the element's name, e.g. `Effect must be "Allow" or "Deny", got "Permit"`.
func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%s "+format, append([]any{field}, args...)...)
}

func checkAction(a string) error {
	if a == "*" {
		return nil
	}
	if i := strings.IndexByte(a, ':'); i <= 0 || i == len(a)-1 {
		return fmt.Errorf("%q must be \"*\" or \"service:action\" such as \"kms:Decrypt\"", a)
	}
	return nil
}

func parsePrincipals(field string, raw json.RawMessage) (*Principals, error) {
	if firstByte(raw) == '"' {
		var s string
		_ = json.Unmarshal(raw, &s)
		if s != "*" {
			return nil, fmt.Errorf(`%s must be "*" or an object such as {"AWS": "arn:aws:iam::111122223333:root"}, got %q`, field, s)
		}
		return &Principals{All: true}, nil
	}
	members, err := decodeObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("%s names no principal", field)
	}
	p := &Principals{}
	for _, m := range members {
		list, err := stringList(field+" "+m.name, m.value)
		if err != nil {
			return nil, err
		}
		switch m.name {
		case "AWS":
			p.AWS = list
		case "Service":
			p.Service = list
		case "Federated":
			p.Federated = list
		case "CanonicalUser":
			p.CanonicalUser = list
		default:
			return nil, unknownField(field, m.name, "AWS", "Service", "Federated", "CanonicalUser")
		}
	}
	return p, nil
}

func parseConditions(raw json.RawMessage) ([]Condition, error) {
	ops, err := decodeObject(raw)
	if err != nil {
		return nil, fieldErr("Condition", "%w", err)
	}
	var out []Condition
	for _, op := range ops {
		if _, err := parseOperator(op.name); err != nil {
			return nil, fieldErr("Condition", "%w", err)
		}
		keys, err := decodeObject(op.value)
		if err != nil {
			return nil, fieldErr("Condition", "%s: %w", op.name, err)
		}
		if len(keys) == 0 {
			return nil, fieldErr("Condition", "%s names no condition key", op.name)
		}
		for _, k := range keys {
			if k.name == "" {
				return nil, fieldErr("Condition", "%s has an empty condition key", op.name)
			}
			vals, err := conditionValues(k.value)
			if err != nil {
				return nil, fieldErr("Condition", "%s %q: %w", op.name, k.name, err)
			}
			out = append(out, Condition{Operator: op.name, Key: k.name, Values: vals})
		}
	}
	return out, nil
}

// conditionValues reads a condition's value: a string, boolean or number, or a
// non-empty list of them. Booleans and numbers keep their JSON text. An empty
// list is refused: what AWS does with one is not documented.
func conditionValues(raw json.RawMessage) ([]string, error) {
	scalar := func(r json.RawMessage) (string, bool) {
		switch b := firstByte(r); {
		case b == '"':
			var s string
			if json.Unmarshal(r, &s) != nil {
				return "", false
			}
			return s, true
		case b == 't' || b == 'f':
			return string(bytes.TrimSpace(r)), true
		case b == '-' || (b >= '0' && b <= '9'):
			return string(bytes.TrimSpace(r)), true
		}
		return "", false
	}
	if firstByte(raw) == '[' {
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return nil, errors.New("values must not be an empty list")
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			v, ok := scalar(it)
			if !ok {
				return nil, fmt.Errorf("values must be strings, booleans or numbers, got %s", short(it))
			}
			out = append(out, v)
		}
		return out, nil
	}
	v, ok := scalar(raw)
	if !ok {
		return nil, fmt.Errorf("values must be strings, booleans or numbers, got %s", short(raw))
	}
	return []string{v}, nil
}

// stringList reads an element that AWS lets be one string or a list of strings.
func stringList(field string, raw json.RawMessage) ([]string, error) {
	var out []string
	switch firstByte(raw) {
	case '"':
		var s string
		_ = json.Unmarshal(raw, &s)
		out = []string{s}
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		if len(items) == 0 {
			return nil, fmt.Errorf("%s must not be an empty list", field)
		}
		for j, it := range items {
			var s string
			if firstByte(it) != '"' || json.Unmarshal(it, &s) != nil {
				return nil, fmt.Errorf("%s[%d] must be a string, got %s", field, j, short(it))
			}
			out = append(out, s)
		}
	default:
		return nil, fmt.Errorf("%s must be a string or a list of strings, got %s", field, short(raw))
	}
	for _, s := range out {
		if s == "" {
			return nil, fmt.Errorf("%s holds an empty string", field)
		}
	}
	return out, nil
}

// member is one name/value pair of a JSON object, in document order.
type member struct {
	name  string
	value json.RawMessage
}

// decodeObject reads a JSON object keeping its members' order and refusing
// duplicate names (AWS's handling of duplicates is not documented; a duplicate
// is almost always a mistake that would silently drop one of the values).
func decodeObject(raw []byte) ([]member, error) {
	if firstByte(raw) != '{' {
		return nil, fmt.Errorf("must be a JSON object, got %s", short(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var out []member
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, fmt.Errorf("field %q appears twice", name)
		}
		seen[name] = true
		out = append(out, member{name: name, value: v})
	}
	return out, nil
}

func unknownField(where, name string, known ...string) error {
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return fmt.Errorf("unknown field %q in %s (element names are case-sensitive: did you mean %q?)", name, where, k)
		}
	}
	return fmt.Errorf("unknown field %q in %s (known: %s)", name, where, strings.Join(known, ", "))
}

func firstByte(raw []byte) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	return raw[0]
}

// short quotes a raw JSON value for an error message, cut to a readable length.
func short(raw []byte) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 60 {
		s = s[:57] + "..."
	}
	return s
}
