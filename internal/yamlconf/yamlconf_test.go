package yamlconf

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

type Inner struct {
	Name  string        `yaml:"name"`
	Count int           `yaml:"count"`
	Wait  time.Duration `yaml:"wait"`
}

type doc struct {
	Title  string            `yaml:"title"`
	On     *bool             `yaml:"on"`
	Ratio  float64           `yaml:"ratio"`
	Items  []Inner           `yaml:"items"`
	Labels map[string]string `yaml:"labels"`
	Odd    upper             `yaml:"odd"`
	Skip   string            `yaml:"-"`
	Inner  `yaml:",inline"`
}

// upper is decoded by a Custom hook.
type upper string

func decode(t *testing.T, src string) (*doc, *Decoder) {
	t.Helper()
	n, err := Parse([]byte(src), "t.yaml", Options{Noun: "test file"})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	d := NewDecoder("t.yaml")
	d.Extensions = []reflect.Type{reflect.TypeOf(doc{})}
	d.Init = func(v reflect.Value) {
		if in, ok := v.Addr().Interface().(*Inner); ok {
			in.Count = 7
		}
	}
	d.Custom = map[reflect.Type]func(*Node, string, reflect.Value){
		reflect.TypeOf(upper("")): func(n *Node, path string, v reflect.Value) {
			if n.Kind != Scalar {
				d.Fail(n, path, "expected a word, got %s", n.Describe())
				return
			}
			v.SetString(strings.ToUpper(n.Text))
		},
	}
	var out doc
	d.Decode(n, "", reflect.ValueOf(&out).Elem())
	return &out, d
}

func TestDecode(t *testing.T) {
	out, d := decode(t, `
x-base: &base {name: based, wait: 90s}
title: 0123
on: true
ratio: 1e-1
items:
  - <<: *base
  - {name: own, count: 2, wait: 1h30m}
labels: {"a:b": c}
odd: shout
name: top
`)
	if err := d.Report.Err(); err != nil {
		t.Fatal(err)
	}
	want := &doc{
		Title: "0123", On: ptr(true), Ratio: 0.1,
		Items:  []Inner{{Name: "based", Count: 7, Wait: 90 * time.Second}, {Name: "own", Count: 2, Wait: 90 * time.Minute}},
		Labels: map[string]string{"a:b": "c"},
		Odd:    "SHOUT",
		Inner:  Inner{Name: "top"},
	}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("got  %+v\nwant %+v", out, want)
	}
	pos := d.Positions()
	if line, col, ok := pos.At("items[1].wait"); !ok || line != 8 || col != 33 {
		t.Errorf("items[1].wait at %d:%d %v", line, col, ok)
	}
	if line, col, ok := pos.Key(`labels["a:b"]`); !ok || line != 9 || col != 10 {
		t.Errorf(`labels["a:b"] key at %d:%d %v`, line, col, ok)
	}
	if line, _, ok := pos.Find("items[0].count"); !ok || line != 7 {
		t.Errorf("items[0].count (a default) falls back to items[0]: line %d %v", line, ok)
	}
	if !pos.Unquoted("title") || pos.Unquoted("name") {
		t.Error("Unquoted")
	}
	if got := pos.Where("ratio"); got != "ratio, line 5" {
		t.Errorf("Where = %q", got)
	}
}

func ptr[T any](v T) *T { return &v }

func TestDecodeErrorsAndReport(t *testing.T) {
	_, d := decode(t, `title: [a]
on: maybe
items:
  - {name: a, cont: 1}
  - wait: 15
  - wait: soon
labels: [x]
odd: {a: 1}
`)
	r := d.Report
	// Later checks: dropped where decoding failed, kept elsewhere.
	r.Errorf("items[0].cont.x", "dropped: items[0].cont failed")
	r.Errorf("labels.x", "dropped: labels failed")
	r.Errorf("items[2]", "a check on items[2]")
	r.KeyErrorf("items", "a check at the key")
	r.Add(&Error{Message: "no position"})
	got := strings.Split(r.Err().Error(), "\n")
	want := []string{
		`t.yaml:1:8: title: expected a string, got a list`,
		`t.yaml:2:5: on: expected true or false, got "maybe"`,
		`t.yaml:3:1: items: a check at the key`,
		`t.yaml:4:15: items[0].cont: unknown key "cont" (did you mean count?); allowed keys: name, count, wait`,
		`t.yaml:5:11: items[1].wait: "15" has no unit; write a duration such as 90s, 15m or 1h30m (e.g. 15m for minutes)`,
		`t.yaml:6:5: items[2]: a check on items[2]`,
		`t.yaml:6:11: items[2].wait: "soon" is not a duration such as 90s, 15m or 1h30m`,
		`t.yaml:7:9: labels: expected a mapping, got a list`,
		`t.yaml:8:6: odd: expected a word, got a mapping`,
		`no position`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	var first *Error
	if !errors.As(r.Err(), &first) || first.Line != 1 || first.Path != "title" || first.File != "t.yaml" {
		t.Errorf("errors.As = %+v", first)
	}
	if r.Len() != 10 {
		t.Errorf("Len = %d", r.Len())
	}
}

func TestUnknownTopLevelKeyMentionsExtensions(t *testing.T) {
	_, d := decode(t, "titel: x\n")
	want := `t.yaml:1:1: titel: unknown key "titel" (did you mean title?); allowed keys: title, on, ratio, items, labels, odd, name, count, wait (and x-<anything> for anchors)`
	if err := d.Report.Err(); err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"a: [b\n", "t.yaml:"},
		{"a: 1\n---\nb: 2\n", "t.yaml:2:1: a test file holds one YAML document; remove the second (after ---)"},
		{"a: !Ref x\n", "t.yaml:1:4: unsupported tag !Ref (test files use plain YAML: no CloudFormation or custom tags)"},
		{"a: *nope\n", "t.yaml:1:4: alias *nope refers to no anchor defined before it (define &nope first)"},
		{"a:\n  <<: *nope\n", "t.yaml:2:7: alias *nope refers to no anchor defined before it"},
		{"a:\n  <<: 3\n", "t.yaml:2:3: merge key << takes a mapping or a list of mappings (usually an alias such as *base), not \"3\""},
		{"a: 1\nb: 2\na: 3\n", "t.yaml:3:1: "},
		{"a: {b: [kms:Decrypt]}\n", `t.yaml:1:9: quote "kms:Decrypt": inside [...] or {...} a value or key containing ':' must be quoted`},
		{"a: {b:c}\n", `t.yaml:1:5: quote "b:c"`},
	} {
		n, err := Parse([]byte(tc.src), "t.yaml", Options{Noun: "test file"})
		if err == nil || n != nil {
			t.Errorf("Parse(%q) = %v, %v; want an error", tc.src, n, err)
			continue
		}
		if lines := strings.Split(err.Error(), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], tc.want) {
			t.Errorf("Parse(%q) = %v\nwant one error starting with %s", tc.src, err, tc.want)
		}
	}
	for _, empty := range []string{"", "# only a comment\n", "---\n"} {
		n, err := Parse([]byte(empty), "t.yaml", Options{})
		if err != nil || n == nil || n.Kind != Null {
			t.Errorf("Parse(%q) = %+v, %v; want a Null node", empty, n, err)
		}
	}
}

func TestAliasBomb(t *testing.T) {
	src := "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	if _, err := Parse([]byte(src), "t.yaml", Options{MaxValues: 500}); err == nil || !strings.Contains(err.Error(), "t.yaml:3:4: this value expands to more than 500 values through aliases") {
		t.Errorf("got %v", err)
	}
	if _, err := Parse([]byte(src), "t.yaml", Options{}); err != nil {
		t.Errorf("under the default bound: %v", err)
	}
}

func TestPaths(t *testing.T) {
	p := Index(Child(Child("", "targets"), "odd key"), 2)
	if p != `targets["odd key"][2]` {
		t.Errorf("path = %s", p)
	}
	for _, want := range []string{`targets["odd key"]`, "targets", ""} {
		p = Parent(p)
		if p != want {
			t.Errorf("Parent = %q, want %q", p, want)
		}
	}
	if Parent("a.b.c") != "a.b" {
		t.Error("Parent(a.b.c)")
	}
}

func TestSuggest(t *testing.T) {
	allowed := []string{"regions", "role_name", "instance_type"}
	for word, want := range map[string]string{"regoins": "regions", "RoleName": "role_name", "instance-type": "instance_type", "zzz": "", "Regions": "regions", "instnace_type": "instance_type", "rgn": ""} {
		if got := Suggest(word, allowed); got != want {
			t.Errorf("Suggest(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestNilPositionsAndZeroReport(t *testing.T) {
	var p *Positions
	if _, _, ok := p.Find("a"); ok || p.Failed("a") || p.FailedWithin("a") || p.Unquoted("a") || p.Where("a") != "a" {
		t.Error("nil Positions knows something")
	}
	var r Report
	r.Errorf("a.b", "x %d", 1)
	if err := r.Err(); err == nil || err.Error() != "a.b: x 1" {
		t.Errorf("got %v", err)
	}
	if (&Report{}).Err() != nil {
		t.Error("an empty report is an error")
	}
}
