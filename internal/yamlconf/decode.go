package yamlconf

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Positions remembers, per path (accounts[1].id), where a decoded value was
// written and how, and which paths failed to decode (so that later checks do
// not report a second, derived problem there). A nil *Positions is valid and
// knows nothing.
type Positions struct {
	pos      map[string][2]int
	keyPos   map[string][2]int // where the key of a mapping entry was written
	failed   map[string]bool
	unquoted map[string]bool // scalars written as numbers or bools
}

// NewPositions returns an empty Positions.
func NewPositions() *Positions {
	return &Positions{
		pos:      map[string][2]int{},
		keyPos:   map[string][2]int{},
		failed:   map[string]bool{},
		unquoted: map[string]bool{},
	}
}

// Set records where the value at path was written.
func (p *Positions) Set(path string, line, col int) { p.pos[path] = [2]int{line, col} }

// SetKey records where the key of the mapping entry at path was written.
func (p *Positions) SetKey(path string, line, col int) { p.keyPos[path] = [2]int{line, col} }

// At returns where the value at path was written; ok is false when path was
// not written (a default, or not decoded from a file).
func (p *Positions) At(path string) (line, col int, ok bool) {
	if p == nil {
		return 0, 0, false
	}
	pos, ok := p.pos[path]
	return pos[0], pos[1], ok && pos[0] > 0
}

// Key returns where the key of the mapping entry at path was written.
func (p *Positions) Key(path string) (line, col int, ok bool) {
	if p == nil {
		return 0, 0, false
	}
	pos, ok := p.keyPos[path]
	return pos[0], pos[1], ok
}

// Find returns the position of path or, when it was not written, of its
// nearest written ancestor.
func (p *Positions) Find(path string) (line, col int, ok bool) {
	if p == nil {
		return 0, 0, false
	}
	for {
		if pos, ok := p.pos[path]; ok && pos[0] > 0 {
			return pos[0], pos[1], true
		}
		if path == "" {
			return 0, 0, false
		}
		path = Parent(path)
	}
}

// Failed reports whether decoding the value at path failed.
func (p *Positions) Failed(path string) bool { return p != nil && p.failed[path] }

// FailedWithin reports whether decoding failed at path or at an ancestor.
func (p *Positions) FailedWithin(path string) bool {
	if p == nil {
		return false
	}
	for {
		if p.failed[path] {
			return true
		}
		if path == "" {
			return false
		}
		path = Parent(path)
	}
}

// Unquoted reports whether the string at path was written as an unquoted
// number or bool (012345678901, yes): a hint for messages that ask to quote.
func (p *Positions) Unquoted(path string) bool { return p != nil && p.unquoted[path] }

// Where describes a place for notes such as "first at ...": the path, and its
// line when known ("accounts[0].id, line 3").
func (p *Positions) Where(path string) string {
	if line, _, ok := p.Find(path); ok {
		return fmt.Sprintf("%s, line %d", path, line)
	}
	return path
}

var plainKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Child is the path of a mapping entry: a.key, or a["odd key"] when the key
// is not made of letters, digits, _ and -.
func Child(path, key string) string {
	if !plainKeyRe.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// Index is the path of a list item: a[i].
func Index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// Parent strips the last element of a path: a.b[2] → a.b, a.b → a, a → "".
func Parent(path string) string {
	if strings.HasSuffix(path, `"]`) {
		if i := strings.LastIndex(path, `["`); i >= 0 {
			return path[:i]
		}
	}
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndex(path, "["); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		return path[:i]
	}
	return ""
}

// Decoder fills Go values from a Node tree, strictly: unknown keys and values
// of the wrong type are errors (in Report), and where every value was written
// is recorded (in Report.Pos).
//
// Struct fields are matched by their yaml tag (name, or the lower-cased field
// name; "-" skips; ",inline" flattens an embedded struct). Supported field
// types: string (a scalar, as written), bool, int (int32 range), float64,
// time.Duration (a string such as 15m or 1h30m), pointers (null: nil),
// structs, slices and maps with string keys, and any type with a Custom hook.
type Decoder struct {
	// Report receives the problems; Report.Pos the positions.
	Report *Report
	// Custom decodes values of a type its own way. The hook is called after
	// the value's position is recorded; it reports through Fail.
	Custom map[reflect.Type]func(n *Node, path string, v reflect.Value)
	// Init, when set, is called on each new slice element and map value
	// before it is filled: the place to set defaults that differ from the
	// zero value.
	Init func(v reflect.Value)
	// Extensions lists struct types that accept, and ignore, keys beginning
	// with x-: a place to define anchors.
	Extensions []reflect.Type
}

// NewDecoder returns a Decoder reporting into a new Report for file, with
// new Positions.
func NewDecoder(file string) *Decoder {
	return &Decoder{Report: &Report{File: file, Pos: NewPositions()}}
}

// Positions returns where decoded values were written.
func (d *Decoder) Positions() *Positions { return d.Report.Pos }

// Fail reports that the value n at path could not be decoded, at n's
// position, and marks path failed.
func (d *Decoder) Fail(n *Node, path, format string, args ...any) {
	d.FailAt(n.Line, n.Column, path, format, args...)
}

// FailAt is Fail at an explicit position; line 0 means the position of path
// or its nearest ancestor.
func (d *Decoder) FailAt(line, col int, path, format string, args ...any) {
	pos := d.Report.Pos
	if line == 0 {
		line, col, _ = pos.Find(path)
	}
	if pos != nil {
		pos.failed[path] = true
	}
	d.Report.Add(&Error{File: d.Report.File, Line: line, Column: col, Path: path, Message: fmt.Sprintf(format, args...)})
}

var durationType = reflect.TypeOf(time.Duration(0))

// Decode fills v (settable, e.g. reflect.ValueOf(&x).Elem()) from n, whose
// path is path ("" for a document's root).
func (d *Decoder) Decode(n *Node, path string, v reflect.Value) {
	if n.Line > 0 && d.Report.Pos != nil {
		d.Report.Pos.Set(path, n.Line, n.Column)
	}
	if hook, ok := d.Custom[v.Type()]; ok {
		hook(n, path, v)
		return
	}
	if v.Type() == durationType {
		d.decodeDuration(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.Kind == Null {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.Decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.String:
		switch n.Kind {
		case Null:
			v.SetString("")
		case Scalar:
			v.SetString(n.Text)
			if !n.Quoted && n.Type != StringScalar && d.Report.Pos != nil {
				d.Report.Pos.unquoted[path] = true
			}
		default:
			d.Fail(n, path, "expected a string, got %s", n.Describe())
		}
	case reflect.Bool:
		if n.Kind == Scalar && n.Type == BoolScalar {
			v.SetBool(n.Bool)
			return
		}
		d.Fail(n, path, "expected true or false, got %s", n.Describe())
	case reflect.Int:
		i, ok := n.IntValue()
		if !ok {
			d.Fail(n, path, "expected a whole number, got %s", n.Describe())
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, ok := n.FloatValue()
		if !ok {
			d.Fail(n, path, "expected a number, got %s", n.Describe())
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		switch n.Kind {
		case Null:
			v.SetZero()
		case Sequence:
			s := reflect.MakeSlice(v.Type(), len(n.Items), len(n.Items))
			for i, item := range n.Items {
				el := s.Index(i)
				if d.Init != nil {
					d.Init(el)
				}
				d.Decode(item, Index(path, i), el)
			}
			v.Set(s)
		default:
			d.Fail(n, path, "expected a list, got %s", n.Describe())
		}
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			panic("yamlconf: cannot decode into " + v.Type().String() + ": map keys must be strings")
		}
		switch n.Kind {
		case Null:
			v.SetZero()
		case Mapping:
			m := reflect.MakeMapWithSize(v.Type(), len(n.Entries))
			for _, e := range n.Entries {
				el := reflect.New(v.Type().Elem()).Elem()
				if d.Init != nil {
					d.Init(el)
				}
				p := Child(path, e.Key)
				if d.Report.Pos != nil {
					d.Report.Pos.SetKey(p, e.Line, e.Column)
				}
				d.Decode(e.Value, p, el)
				m.SetMapIndex(reflect.ValueOf(e.Key).Convert(v.Type().Key()), el)
			}
			v.Set(m)
		default:
			d.Fail(n, path, "expected a mapping, got %s", n.Describe())
		}
	default:
		panic("yamlconf: cannot decode into " + v.Type().String())
	}
}

func (d *Decoder) decodeDuration(n *Node, path string, v reflect.Value) {
	const forms = "a duration such as 90s, 15m or 1h30m"
	switch {
	case n.Kind == Null:
		v.SetZero()
	case n.Kind == Scalar && n.Type == StringScalar:
		dur, err := time.ParseDuration(strings.TrimSpace(n.Text))
		if err != nil {
			d.Fail(n, path, "%s is not %s", n.Describe(), forms)
			return
		}
		v.SetInt(int64(dur))
	case n.Kind == Scalar && (n.Type == IntScalar || n.Type == FloatScalar):
		d.Fail(n, path, "%s has no unit; write %s (e.g. %sm for minutes)", n.Describe(), forms, n.Text)
	default:
		d.Fail(n, path, "expected %s, got %s", forms, n.Describe())
	}
}

type fieldInfo struct {
	name  string
	index []int
}

// structFields lists the yaml keys of a struct type in declaration order,
// flattening fields tagged ",inline".
func structFields(t reflect.Type) []fieldInfo {
	var out []fieldInfo
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(","+opts+",", ",inline,") && f.Type.Kind() == reflect.Struct {
			for _, sub := range structFields(f.Type) {
				out = append(out, fieldInfo{name: sub.name, index: append([]int{i}, sub.index...)})
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out = append(out, fieldInfo{name: name, index: []int{i}})
	}
	return out
}

// Keys lists the yaml keys a struct type accepts, in declaration order.
func Keys(t reflect.Type) []string {
	fields := structFields(t)
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

func (d *Decoder) extensible(t reflect.Type) bool {
	for _, x := range d.Extensions {
		if x == t {
			return true
		}
	}
	return false
}

func (d *Decoder) decodeStruct(n *Node, path string, v reflect.Value) {
	fields := structFields(v.Type())
	if n.Kind == Null {
		return
	}
	if n.Kind != Mapping {
		d.Fail(n, path, "expected a mapping with keys %s; got %s", strings.Join(Keys(v.Type()), ", "), n.Describe())
		return
	}
	ext := d.extensible(v.Type())
	for _, e := range n.Entries {
		if ext && strings.HasPrefix(e.Key, "x-") {
			continue // extension keys: a place for anchors, ignored
		}
		var field *fieldInfo
		for i := range fields {
			if fields[i].name == e.Key {
				field = &fields[i]
				break
			}
		}
		p := Child(path, e.Key)
		if field == nil {
			d.unknownKey(e, p, Keys(v.Type()), ext)
			continue
		}
		if d.Report.Pos != nil {
			d.Report.Pos.SetKey(p, e.Line, e.Column)
		}
		d.Decode(e.Value, p, v.FieldByIndex(field.index))
	}
}

func (d *Decoder) unknownKey(e Entry, path string, allowed []string, ext bool) {
	msg := fmt.Sprintf("unknown key %q", e.Key)
	if s := Suggest(e.Key, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	msg += "; allowed keys: " + strings.Join(allowed, ", ")
	if ext {
		msg += " (and x-<anything> for anchors)"
	}
	d.FailAt(e.Line, e.Column, path, "%s", msg)
}

// Suggest returns the word of allowed nearest to word when word is a likely
// typo of it (same letters but for case, _ and -, or a small edit distance);
// "" otherwise.
func Suggest(word string, allowed []string) string {
	lk := strings.ToLower(word)
	best, bestDist := "", max(1, len(lk)/3)+1
	for _, a := range allowed {
		if strings.ToLower(a) == lk || strings.ReplaceAll(strings.ToLower(a), "_", "") == strings.ReplaceAll(strings.ReplaceAll(lk, "-", ""), "_", "") {
			return a
		}
		dist := editDistance(lk, a)
		if dist < bestDist || (dist == bestDist && best != "" && commonPrefix(lk, a) > commonPrefix(lk, best)) {
			best, bestDist = a, dist
		}
	}
	return best
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of neighbours (regoins →
// regions) each cost 1.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
