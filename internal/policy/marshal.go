package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"unicode/utf8"
)

// Marshal writes the document as indented policy JSON that Parse accepts.
// Statement order is kept. A statement that still says what it said when
// parsed is written exactly as it was read (whitespace aside); others are
// written in a canonical form where one-element lists become single strings.
// Booleans and numbers in conditions are written as strings, which AWS accepts.
// A document Parse would refuse is not written: Marshal returns the error.
func (d *Document) Marshal() ([]byte, error) {
	compact, err := d.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, err
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// MarshalJSON writes the document as compact policy JSON; see Marshal.
func (d *Document) MarshalJSON() ([]byte, error) {
	if len(d.Statements) == 0 {
		return nil, errors.New("policy document has no statements; AWS refuses an empty Statement list")
	}
	var b bytes.Buffer
	w := objectWriter{b: &b}
	w.open()
	if d.Version != "" {
		w.field("Version", d.Version)
	}
	if d.ID != "" {
		w.field("Id", d.ID)
	}
	w.key("Statement")
	b.WriteByte('[')
	for i := range d.Statements {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := d.Statements[i].writeJSON(&b); err != nil {
			return nil, &StatementError{Index: i, Sid: d.Statements[i].Sid, Err: err}
		}
	}
	b.WriteByte(']')
	w.close()
	// A document built in code can hold what no policy may (an action without
	// its service prefix, an empty Principal): refuse to write it.
	if _, err := Parse(b.Bytes()); err != nil {
		return nil, fmt.Errorf("the policy would not be accepted: %w", err)
	}
	return b.Bytes(), nil
}

// UnmarshalJSON parses a policy document; see Parse.
func (d *Document) UnmarshalJSON(data []byte) error {
	p, err := Parse(data)
	if err != nil {
		return err
	}
	*d = *p
	return nil
}

func (s *Statement) writeJSON(b *bytes.Buffer) error {
	if s.raw != nil && utf8.Valid(s.raw) {
		if orig, err := parseStatement(0, s.raw); err == nil && sameStatement(orig, *s) {
			return json.Compact(b, s.raw)
		}
	}
	if s.Effect != Allow && s.Effect != Deny {
		return fieldErr("Effect", "must be \"Allow\" or \"Deny\", got %q", s.Effect)
	}
	if (s.Action == nil) == (s.NotAction == nil) {
		return errors.New("exactly one of Action and NotAction must be set")
	}
	w := objectWriter{b: b}
	w.open()
	if s.Sid != "" {
		w.field("Sid", s.Sid)
	}
	w.field("Effect", string(s.Effect))
	if s.Principal != nil {
		w.key("Principal")
		s.Principal.writeJSON(b)
	}
	if s.NotPrincipal != nil {
		w.key("NotPrincipal")
		s.NotPrincipal.writeJSON(b)
	}
	w.list("Action", s.Action)
	w.list("NotAction", s.NotAction)
	w.list("Resource", s.Resource)
	w.list("NotResource", s.NotResource)
	if len(s.Condition) > 0 {
		w.key("Condition")
		writeConditions(b, s.Condition)
	}
	w.close()
	return nil
}

func (p *Principals) writeJSON(b *bytes.Buffer) {
	if p.All {
		writeString(b, "*")
		return
	}
	w := objectWriter{b: b}
	w.open()
	w.list("AWS", p.AWS)
	w.list("Service", p.Service)
	w.list("Federated", p.Federated)
	w.list("CanonicalUser", p.CanonicalUser)
	w.close()
}

// writeConditions groups conditions by operator, operators in order of first
// appearance, and keeps each key's values in order.
func writeConditions(b *bytes.Buffer, conds []Condition) {
	var ops []string
	byOp := map[string][]Condition{}
	for _, c := range conds {
		if _, ok := byOp[c.Operator]; !ok {
			ops = append(ops, c.Operator)
		}
		byOp[c.Operator] = append(byOp[c.Operator], c)
	}
	w := objectWriter{b: b}
	w.open()
	for _, op := range ops {
		w.key(op)
		kw := objectWriter{b: b}
		kw.open()
		for _, c := range byOp[op] {
			kw.list(c.Key, c.Values)
		}
		kw.close()
	}
	w.close()
}

// objectWriter writes a JSON object member by member, in the order given.
type objectWriter struct {
	b *bytes.Buffer
	n int
}

func (w *objectWriter) open()  { w.b.WriteByte('{') }
func (w *objectWriter) close() { w.b.WriteByte('}') }

func (w *objectWriter) key(k string) {
	if w.n > 0 {
		w.b.WriteByte(',')
	}
	w.n++
	writeString(w.b, k)
	w.b.WriteByte(':')
}

func (w *objectWriter) field(k, v string) {
	w.key(k)
	writeString(w.b, v)
}

// list writes a one-element list as a single string and skips a nil list.
func (w *objectWriter) list(k string, vs []string) {
	if vs == nil {
		return
	}
	w.key(k)
	if len(vs) == 1 {
		writeString(w.b, vs[0])
		return
	}
	w.b.WriteByte('[')
	for i, v := range vs {
		if i > 0 {
			w.b.WriteByte(',')
		}
		writeString(w.b, v)
	}
	w.b.WriteByte(']')
}

// writeString writes s as a JSON string without HTML escaping, so placeholders
// such as <aws-account-id> stay readable.
func writeString(b *bytes.Buffer, s string) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Write(bytes.TrimRight(tmp.Bytes(), "\n"))
}

// sameStatement reports whether two statements hold the same elements, as
// written (order and letter case included); the raw JSON is not compared.
func sameStatement(a, b Statement) bool {
	a.raw, b.raw = nil, nil
	return reflect.DeepEqual(a, b)
}

// Clone returns a deep copy of the document.
func (d *Document) Clone() *Document {
	if d == nil {
		return nil
	}
	c := &Document{Version: d.Version, ID: d.ID, Statements: make([]Statement, len(d.Statements))}
	for i, s := range d.Statements {
		c.Statements[i] = s.Clone()
	}
	return c
}

// Clone returns a deep copy of the statement.
func (s Statement) Clone() Statement {
	c := s
	c.Principal = s.Principal.clone()
	c.NotPrincipal = s.NotPrincipal.clone()
	c.Action = cloneStrings(s.Action)
	c.NotAction = cloneStrings(s.NotAction)
	c.Resource = cloneStrings(s.Resource)
	c.NotResource = cloneStrings(s.NotResource)
	if s.Condition != nil {
		c.Condition = make([]Condition, len(s.Condition))
		for i, cond := range s.Condition {
			cond.Values = cloneStrings(cond.Values)
			c.Condition[i] = cond
		}
	}
	return c
}

func (p *Principals) clone() *Principals {
	if p == nil {
		return nil
	}
	return &Principals{All: p.All, AWS: cloneStrings(p.AWS), Service: cloneStrings(p.Service),
		Federated: cloneStrings(p.Federated), CanonicalUser: cloneStrings(p.CanonicalUser)}
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string{}, s...)
}
