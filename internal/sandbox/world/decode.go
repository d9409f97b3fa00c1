package world

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// decoder fills the exported types from a ynode tree, strictly: unknown keys
// and values of the wrong type are errors. It records where every value was
// written, so that the checks after it can point at the file.
type decoder struct {
	file   string
	errs   []*Error
	places *places
}

// places remembers, per path (accounts[1].id), where the value was written
// and how, plus which paths already failed to decode (so the checks do not
// report a second, derived problem there).
type places struct {
	pos        map[string][2]int
	keyPos     map[string][2]int // where the key of a mapping entry was written
	failed     map[string]bool
	unquoted   map[string]bool        // scalars written as numbers or bools
	keyOrigins map[string][]keyOrigin // "accounts[0].keys" → per Key
}

// keyOrigin is where one Key came from: the keys: entry, and its region (a
// region: value or one item of regions:).
type keyOrigin struct {
	entry, region string
}

func newPlaces() *places {
	return &places{
		pos:        map[string][2]int{},
		keyPos:     map[string][2]int{},
		failed:     map[string]bool{},
		unquoted:   map[string]bool{},
		keyOrigins: map[string][]keyOrigin{},
	}
}

func (d *decoder) fail(n *ynode, path, format string, args ...any) {
	d.failAt(n.line, n.col, path, format, args...)
}

func (d *decoder) failAt(line, col int, path, format string, args ...any) {
	if line == 0 {
		if p, ok := d.places.find(path); ok {
			line, col = p[0], p[1]
		}
	}
	d.places.failed[path] = true
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Column: col, Path: path, Message: fmt.Sprintf(format, args...)})
}

// keyAt returns where the key of a mapping entry was written.
func (p *places) keyAt(path string) ([2]int, bool) {
	if p == nil {
		return [2]int{}, false
	}
	pos, ok := p.keyPos[path]
	return pos, ok
}

// find returns the position of path or of its nearest ancestor.
func (p *places) find(path string) ([2]int, bool) {
	if p == nil {
		return [2]int{}, false
	}
	for {
		if pos, ok := p.pos[path]; ok && pos[0] > 0 {
			return pos, true
		}
		if path == "" {
			return [2]int{}, false
		}
		path = parentPath(path)
	}
}

var plainKeyRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func childPath(path, key string) string {
	if !plainKeyRe.MatchString(key) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// parentPath strips the last element of a path: a.b[2] → a.b, a.b → a.
func parentPath(path string) string {
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

var (
	rawMessageType     = reflect.TypeOf(json.RawMessage(nil))
	encryptionSpecType = reflect.TypeOf(EncryptionSpec{})
	namedPoliciesType  = reflect.TypeOf([]NamedPolicy(nil))
	keysType           = reflect.TypeOf([]Key(nil))
	worldType          = reflect.TypeOf(World{})
)

// defaulter is implemented by types whose zero value is not their world-file
// default; decode calls it on a new element before filling it.
type defaulter interface{ setDefaults() }

func (d *decoder) decode(n *ynode, path string, v reflect.Value) {
	if n.line > 0 {
		d.places.pos[path] = [2]int{n.line, n.col}
	}
	switch v.Type() {
	case rawMessageType:
		d.decodePolicy(n, path, v)
		return
	case encryptionSpecType:
		d.decodeEncryption(n, path, v)
		return
	case namedPoliciesType:
		d.decodePolicies(n, path, v)
		return
	case keysType:
		d.decodeKeys(n, path, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if n.kind == nullNode {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.String:
		switch n.kind {
		case nullNode:
			v.SetString("")
		case scalarNode:
			v.SetString(n.text)
			if !n.quoted && n.st != strScalar {
				d.places.unquoted[path] = true
			}
		default:
			d.fail(n, path, "expected a string, got %s", n.describe())
		}
	case reflect.Bool:
		if n.kind == scalarNode && n.st == boolScalar {
			v.SetBool(n.bval)
			return
		}
		d.fail(n, path, "expected true or false, got %s", n.describe())
	case reflect.Int:
		i, ok := intValue(n)
		if !ok {
			d.fail(n, path, "expected a whole number, got %s", n.describe())
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		f, ok := floatValue(n)
		if !ok {
			d.fail(n, path, "expected a number, got %s", n.describe())
			return
		}
		v.SetFloat(f)
	case reflect.Slice:
		switch n.kind {
		case nullNode:
			v.SetZero()
		case seqNode:
			s := reflect.MakeSlice(v.Type(), len(n.items), len(n.items))
			for i, item := range n.items {
				el := s.Index(i)
				if df, ok := el.Addr().Interface().(defaulter); ok {
					df.setDefaults()
				}
				d.decode(item, indexPath(path, i), el)
			}
			v.Set(s)
		default:
			d.fail(n, path, "expected a list, got %s", n.describe())
		}
	case reflect.Map:
		switch n.kind {
		case nullNode:
			v.SetZero()
		case mapNode:
			m := reflect.MakeMapWithSize(v.Type(), len(n.entries))
			for _, e := range n.entries {
				el := reflect.New(v.Type().Elem()).Elem()
				d.places.keyPos[childPath(path, e.key)] = [2]int{e.line, e.col}
				d.decode(e.val, childPath(path, e.key), el)
				m.SetMapIndex(reflect.ValueOf(e.key), el)
			}
			v.Set(m)
		default:
			d.fail(n, path, "expected a mapping, got %s", n.describe())
		}
	default:
		panic("world: cannot decode into " + v.Type().String())
	}
}

func intValue(n *ynode) (int64, bool) {
	if n.kind != scalarNode {
		return 0, false
	}
	switch n.st {
	case intScalar:
		if n.uintOK || n.ival > math.MaxInt32 || n.ival < math.MinInt32 {
			return 0, false
		}
		return n.ival, true
	case floatScalar:
		if n.fval == math.Trunc(n.fval) && math.Abs(n.fval) <= math.MaxInt32 {
			return int64(n.fval), true
		}
	case strScalar:
		if !n.quoted {
			if f, err := strconv.ParseFloat(n.text, 64); err == nil && f == math.Trunc(f) && math.Abs(f) <= math.MaxInt32 {
				return int64(f), true
			}
		}
	}
	return 0, false
}

func floatValue(n *ynode) (float64, bool) {
	if n.kind != scalarNode {
		return 0, false
	}
	switch n.st {
	case intScalar:
		if n.uintOK {
			return float64(n.uval), true
		}
		return float64(n.ival), true
	case floatScalar:
		return n.fval, true
	case strScalar:
		if !n.quoted {
			if f, err := strconv.ParseFloat(n.text, 64); err == nil {
				return f, true
			}
		}
	}
	return 0, false
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

func fieldNames(fields []fieldInfo) []string {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	return names
}

func (d *decoder) decodeStruct(n *ynode, path string, v reflect.Value) {
	fields := structFields(v.Type())
	if n.kind == nullNode {
		return
	}
	if n.kind != mapNode {
		d.fail(n, path, "expected a mapping with keys %s; got %s", strings.Join(fieldNames(fields), ", "), n.describe())
		return
	}
	for _, e := range n.entries {
		if v.Type() == worldType && strings.HasPrefix(e.key, "x-") {
			continue // extension keys: a place for anchors, ignored
		}
		var field *fieldInfo
		for i := range fields {
			if fields[i].name == e.key {
				field = &fields[i]
				break
			}
		}
		p := childPath(path, e.key)
		if field == nil {
			d.unknownKey(e, p, fieldNames(fields), v.Type() == worldType)
			continue
		}
		d.places.keyPos[p] = [2]int{e.line, e.col}
		d.decode(e.val, p, v.FieldByIndex(field.index))
	}
}

func (d *decoder) unknownKey(e yentry, path string, allowed []string, top bool) {
	msg := fmt.Sprintf("unknown key %q", e.key)
	if s := closest(e.key, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	msg += "; allowed keys: " + strings.Join(allowed, ", ")
	if top {
		msg += " (and x-<anything> for anchors)"
	}
	d.failAt(e.line, e.col, path, "%s", msg)
}

// closest returns the allowed key nearest to key when it is a likely typo.
func closest(key string, allowed []string) string {
	lk := strings.ToLower(key)
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

func editDistance(a, b string) int {
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
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// decodePolicy reads a policy document: a YAML mapping, or a string holding
// JSON; either way the result is canonical JSON.
func (d *decoder) decodePolicy(n *ynode, path string, v reflect.Value) {
	var doc []byte
	switch {
	case n.kind == nullNode:
		v.SetZero()
		return
	case n.kind == mapNode:
		b, err := nodeJSON(n)
		if err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		doc = b
	case n.kind == scalarNode && n.st == strScalar:
		b, err := canonicalJSON([]byte(n.text))
		if err != nil {
			d.fail(n, path, "%v", err)
			return
		}
		doc = b
	default:
		d.fail(n, path, "expected a policy document: a mapping, or a string holding a JSON object; got %s", n.describe())
		return
	}
	v.Set(reflect.ValueOf(json.RawMessage(doc)))
}

func (d *decoder) decodeEncryption(n *ynode, path string, v reflect.Value) {
	const forms = "false (not encrypted), aws-managed (the AWS managed key aws/ebs) or alias/<name> (a key this account declares in the image's region)"
	spec := EncryptionSpec{Mode: EncryptionNone}
	switch {
	case n.kind == nullNode:
	case n.kind == scalarNode && n.st == boolScalar && !n.bval:
	case n.kind == scalarNode && n.st == boolScalar:
		d.fail(n, path, "true does not say which key; use %s", forms)
		return
	case n.kind == scalarNode && (n.text == "false" || n.text == "none"):
	case n.kind == scalarNode && (n.text == "aws-managed" || n.text == "alias/aws/ebs"):
		spec.Mode = EncryptionAWSManaged
	case n.kind == scalarNode && strings.HasPrefix(n.text, "alias/"):
		spec = EncryptionSpec{Mode: EncryptionKey, KeyAlias: n.text}
	default:
		d.fail(n, path, "%s is not an encryption; use %s", n.describe(), forms)
		return
	}
	v.Set(reflect.ValueOf(spec))
}

// decodePolicies reads inline policies: a mapping name → document, or a list
// of documents or of {name, document} pairs.
func (d *decoder) decodePolicies(n *ynode, path string, v reflect.Value) {
	var out []NamedPolicy
	switch n.kind {
	case nullNode:
		v.SetZero()
		return
	case mapNode:
		for _, e := range n.entries {
			np := NamedPolicy{Name: e.key}
			d.places.keyPos[childPath(path, e.key)] = [2]int{e.line, e.col}
			d.decode(e.val, childPath(path, e.key), reflect.ValueOf(&np.Document).Elem())
			out = append(out, np)
		}
	case seqNode:
		for i, item := range n.items {
			p := indexPath(path, i)
			np := NamedPolicy{Name: fmt.Sprintf("inline-%d", i+1)}
			if isNamedPolicy(item) {
				d.decode(item, p, reflect.ValueOf(&np).Elem())
			} else {
				d.decode(item, p, reflect.ValueOf(&np.Document).Elem())
			}
			out = append(out, np)
		}
	default:
		d.fail(n, path, "expected policies as a mapping name → document, or a list of documents; got %s", n.describe())
		return
	}
	v.Set(reflect.ValueOf(out))
}

// isNamedPolicy: a list item {name: ..., document: ...} rather than a policy
// document (whose keys are capitalised: Version, Statement, Id).
func isNamedPolicy(n *ynode) bool {
	if n.kind != mapNode {
		return false
	}
	if _, ok := n.lookup("document"); !ok {
		return false
	}
	for _, e := range n.entries {
		if e.key != "name" && e.key != "document" {
			return false
		}
	}
	return true
}

// keyEntry is one keys: item of a world file; regions: declares one key per
// region.
type keyEntry struct {
	Key     `yaml:",inline"`
	Regions []string `yaml:"regions"`
}

func (d *decoder) decodeKeys(n *ynode, path string, v reflect.Value) {
	switch n.kind {
	case nullNode:
		v.SetZero()
		return
	case seqNode:
	default:
		d.fail(n, path, "expected a list of keys, got %s", n.describe())
		return
	}
	var keys []Key
	var origins []keyOrigin
	for i, item := range n.items {
		p := indexPath(path, i)
		var ke keyEntry
		ke.setDefaults()
		d.decode(item, p, reflect.ValueOf(&ke).Elem())
		_, hasRegion := item.lookup("region")
		rs, hasRegions := item.lookup("regions")
		switch {
		case hasRegion && hasRegions:
			d.failAt(rs.line, rs.col, childPath(p, "regions"), "give either region or regions, not both")
		case hasRegions && len(ke.Regions) == 0:
			if !d.places.failed[childPath(p, "regions")] {
				d.fail(rs.val, childPath(p, "regions"), "list at least one region")
			}
			keys = append(keys, ke.Key)
			origins = append(origins, keyOrigin{entry: p, region: childPath(p, "regions")})
			continue
		case hasRegions:
			for j, r := range ke.Regions {
				k := copyKey(ke.Key)
				k.Region = r
				keys = append(keys, k)
				origins = append(origins, keyOrigin{entry: p, region: indexPath(childPath(p, "regions"), j)})
			}
			continue
		}
		keys = append(keys, ke.Key)
		origins = append(origins, keyOrigin{entry: p, region: childPath(p, "region")})
	}
	d.places.keyOrigins[path] = origins
	v.Set(reflect.ValueOf(keys))
}

func copyKey(k Key) Key {
	if k.Policy != nil {
		k.Policy = append(json.RawMessage(nil), k.Policy...)
	}
	if k.Tags != nil {
		tags := make(map[string]string, len(k.Tags))
		for tk, tv := range k.Tags {
			tags[tk] = tv
		}
		k.Tags = tags
	}
	if k.Grants != nil {
		grants := make([]Grant, len(k.Grants))
		for i, g := range k.Grants {
			g.Operations = append([]string(nil), g.Operations...)
			grants[i] = g
		}
		k.Grants = grants
	}
	return k
}
