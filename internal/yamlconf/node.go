package yamlconf

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// This file turns goccy/go-yaml's AST into a small tree of plain values that
// keep their line and column, with aliases resolved and merge keys (<<)
// applied, so that the decoder and the checks can point at the exact place a
// value was written.

// Kind is the kind of a Node.
type Kind int

// Node kinds.
const (
	Null Kind = iota
	Scalar
	Mapping
	Sequence
)

// ScalarType is how YAML resolved a scalar.
type ScalarType int

// Scalar types.
const (
	StringScalar ScalarType = iota
	IntScalar
	FloatScalar
	BoolScalar
)

// Node is one YAML value with its position. Aliases are resolved (an alias is
// the anchored node itself, shared) and merge keys applied, so a Node tree is
// plain data: scalars, mappings and sequences.
type Node struct {
	Kind Kind
	// Line and Column are 1-based; 0 when unknown.
	Line, Column int

	// Type is the resolved type of a Scalar.
	Type ScalarType
	// Text is the string value, or the source text of a number or bool (so
	// an unquoted 012345678901 keeps its leading zero).
	Text string
	// Quoted: written quoted, as a block scalar, or tagged !!str.
	Quoted bool
	// Int is an IntScalar's value unless BigUint is set, when it is Uint
	// (too big for int64).
	Int     int64
	Uint    uint64
	BigUint bool
	// Float is a FloatScalar's value.
	Float float64
	// Bool is a BoolScalar's value.
	Bool bool

	// Entries of a Mapping, in file order (merged entries where << was).
	Entries []Entry
	// Items of a Sequence.
	Items []*Node

	size   int  // values in this one once aliases are expanded (itself included)
	broken bool // stands for a value already reported (an alias to nothing)
}

// Entry is one key: value of a mapping. Line and Column are the key's.
type Entry struct {
	Key          string
	Line, Column int
	Value        *Node
}

// Describe names a value for messages: "a mapping", "a list", "nothing
// (null)" or the quoted scalar text.
func (n *Node) Describe() string {
	switch n.Kind {
	case Null:
		return "nothing (null)"
	case Mapping:
		return "a mapping"
	case Sequence:
		return "a list"
	}
	return strconv.Quote(n.Text)
}

// Lookup returns the entry of a mapping with this key.
func (n *Node) Lookup(key string) (Entry, bool) {
	for _, e := range n.Entries {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// IntValue returns a scalar as a whole number in the int32 range: an
// integer, a float without a fraction (3.0, 1e3) or such a number written as
// an unquoted string.
func (n *Node) IntValue() (int64, bool) {
	if n.Kind != Scalar {
		return 0, false
	}
	switch n.Type {
	case IntScalar:
		if n.BigUint || n.Int > math.MaxInt32 || n.Int < math.MinInt32 {
			return 0, false
		}
		return n.Int, true
	case FloatScalar:
		if n.Float == math.Trunc(n.Float) && math.Abs(n.Float) <= math.MaxInt32 {
			return int64(n.Float), true
		}
	case StringScalar:
		if !n.Quoted {
			if f, err := strconv.ParseFloat(n.Text, 64); err == nil && f == math.Trunc(f) && math.Abs(f) <= math.MaxInt32 {
				return int64(f), true
			}
		}
	}
	return 0, false
}

// FloatValue returns a scalar as a number.
func (n *Node) FloatValue() (float64, bool) {
	if n.Kind != Scalar {
		return 0, false
	}
	switch n.Type {
	case IntScalar:
		if n.BigUint {
			return float64(n.Uint), true
		}
		return float64(n.Int), true
	case FloatScalar:
		return n.Float, true
	case StringScalar:
		if !n.Quoted {
			if f, err := strconv.ParseFloat(n.Text, 64); err == nil {
				return f, true
			}
		}
	}
	return 0, false
}

// DefaultMaxValues bounds the expanded size of a document: aliases share
// nodes, so a few lines of nested aliases could otherwise stand for billions
// of values.
const DefaultMaxValues = 1_000_000

// Options tune Parse.
type Options struct {
	// Noun names the file in messages, e.g. "world file" ("a world file holds
	// one YAML document"); default "YAML file".
	Noun string
	// MaxValues bounds the values a document may expand to through aliases;
	// 0 means DefaultMaxValues.
	MaxValues int
}

// Parse reads one YAML document into a Node tree. filename is used in
// messages only. An empty document (nothing, or only comments) gives a Null
// node without position and no error: the caller says what it needed. All
// problems are returned at once, as [Error]s joined by [Join]; Parse never
// panics.
func Parse(data []byte, filename string, opt Options) (n *Node, err error) {
	if opt.Noun == "" {
		opt.Noun = "YAML file"
	}
	if opt.MaxValues <= 0 {
		opt.MaxValues = DefaultMaxValues
	}
	defer func() {
		// The YAML parser has panicked on odd input before; a file a person
		// wrote must never crash the program.
		if r := recover(); r != nil {
			n, err = nil, Join([]*Error{{File: filename, Message: fmt.Sprintf("cannot read this YAML (parser failure: %v)", r)}})
		}
	}()
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		e := &Error{File: filename, Message: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			e.Message = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil && tk.Position != nil {
				e.Line, e.Column = tk.Position.Line, tk.Position.Column
			}
		}
		if flowColonRe.Match(sourceLine(data, e.Line)) {
			e.Message += ` (inside [...] or {...}, quote values that contain ":", e.g. ["ec2:*"])`
		}
		return nil, Join([]*Error{e})
	}

	var body *Node
	conv := &converter{opt: opt}
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		if body != nil {
			line, col := position(doc.GetToken())
			if doc.Start != nil {
				line, col = position(doc.Start)
			}
			conv.errs = append(conv.errs, &Error{Line: line, Column: col, Message: fmt.Sprintf("a %s holds one YAML document; remove the second (after ---)", opt.Noun)})
			break
		}
		body = conv.convert(doc.Body)
	}
	if len(conv.errs) > 0 {
		for _, e := range conv.errs {
			e.File = filename
		}
		return nil, Join(conv.errs)
	}
	if body == nil {
		body = &Node{Kind: Null}
	}
	return body, nil
}

// flowColonRe finds a plain scalar with a colon inside [...] or {...}, which
// goccy/go-yaml v1.19 misreads.
var flowColonRe = regexp.MustCompile(`[\[{,]\s*[A-Za-z0-9_.-]+:[^\s]`)

func sourceLine(data []byte, line int) []byte {
	if line < 1 {
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return nil
	}
	return lines[line-1]
}

type converter struct {
	opt      Options
	anchors  map[string]*Node
	errs     []*Error
	depth    int
	tooLarge bool
}

// sized sets y's expanded size, refusing a collection that expands too far.
func (c *converter) sized(y *Node, tk *token.Token) *Node {
	y.size = 1
	for _, e := range y.Entries {
		y.size += max(1, e.Value.size)
	}
	for _, item := range y.Items {
		y.size += max(1, item.size)
	}
	if y.size > c.opt.MaxValues {
		if !c.tooLarge {
			c.tooLarge = true
			c.errAt(tk, "this value expands to more than %d values through aliases", c.opt.MaxValues)
		}
		return &Node{Kind: Null, Line: y.Line, Column: y.Column, size: 1}
	}
	return y
}

func (c *converter) errAt(tk *token.Token, format string, args ...any) {
	e := &Error{Message: fmt.Sprintf(format, args...)}
	if tk != nil && tk.Position != nil {
		e.Line, e.Column = tk.Position.Line, tk.Position.Column
	}
	c.errs = append(c.errs, e)
}

func position(tk *token.Token) (int, int) {
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

func (c *converter) convert(n ast.Node) *Node {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 200 {
		c.errAt(n.GetToken(), "nesting is too deep")
		return &Node{Kind: Null}
	}
	switch n := n.(type) {
	case nil:
		return &Node{Kind: Null}
	case *ast.NullNode:
		y := &Node{Kind: Null}
		y.Line, y.Column = position(n.GetToken())
		return y
	case *ast.StringNode:
		y := &Node{Kind: Scalar, Type: StringScalar, Text: n.Value}
		tk := n.GetToken()
		y.Line, y.Column = position(tk)
		y.Quoted = tk != nil && (tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType)
		return y
	case *ast.LiteralNode:
		y := &Node{Kind: Scalar, Type: StringScalar, Quoted: true}
		if n.Value != nil {
			y.Text = n.Value.Value
		}
		y.Line, y.Column = position(n.GetToken())
		return y
	case *ast.IntegerNode:
		y := &Node{Kind: Scalar, Type: IntScalar, Text: n.GetToken().Value}
		y.Line, y.Column = position(n.GetToken())
		switch v := n.Value.(type) {
		case int64:
			y.Int = v
		case uint64:
			y.Uint, y.BigUint = v, true
			if v <= math.MaxInt64 {
				y.Int, y.BigUint = int64(v), false
			}
		case int:
			y.Int = int64(v)
		default:
			y.Type = StringScalar
		}
		return y
	case *ast.FloatNode:
		y := &Node{Kind: Scalar, Type: FloatScalar, Text: n.GetToken().Value, Float: n.Value}
		y.Line, y.Column = position(n.GetToken())
		return y
	case *ast.InfinityNode:
		y := &Node{Kind: Scalar, Type: FloatScalar, Text: n.GetToken().Value, Float: n.Value}
		y.Line, y.Column = position(n.GetToken())
		return y
	case *ast.NanNode:
		y := &Node{Kind: Scalar, Type: FloatScalar, Text: n.GetToken().Value, Float: math.NaN()}
		y.Line, y.Column = position(n.GetToken())
		return y
	case *ast.BoolNode:
		y := &Node{Kind: Scalar, Type: BoolScalar, Text: n.GetToken().Value, Bool: n.Value}
		y.Line, y.Column = position(n.GetToken())
		return y
	case *ast.AnchorNode:
		v := c.convert(n.Value)
		if n.Name != nil {
			if c.anchors == nil {
				c.anchors = map[string]*Node{}
			}
			c.anchors[n.Name.GetToken().Value] = v
		}
		return v
	case *ast.AliasNode:
		name := ""
		if n.Value != nil {
			name = n.Value.GetToken().Value
		}
		v, ok := c.anchors[name]
		if !ok {
			c.errAt(n.GetToken(), "alias *%s refers to no anchor defined before it (define &%s first)", name, name)
			return &Node{Kind: Null, broken: true}
		}
		return v
	case *ast.TagNode:
		tag := n.Start.Value
		v := c.convert(n.Value)
		switch tag {
		case "!!str", "tag:yaml.org,2002:str":
			if v.Kind == Scalar {
				cp := *v
				cp.Type, cp.Quoted = StringScalar, true
				return &cp
			}
			if v.Kind == Null {
				return &Node{Kind: Scalar, Type: StringScalar, Quoted: true, Line: v.Line, Column: v.Column}
			}
			c.errAt(n.Start, "!!str applies to a scalar, not %s", v.Describe())
			return v
		case "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!timestamp":
			return v
		}
		c.errAt(n.Start, "unsupported tag %s (%ss use plain YAML: no CloudFormation or custom tags)", tag, c.opt.Noun)
		return v
	case *ast.MappingNode:
		return c.mapping(n, n.Values)
	case *ast.MappingValueNode:
		return c.mapping(nil, []*ast.MappingValueNode{n})
	case *ast.SequenceNode:
		y := &Node{Kind: Sequence}
		y.Line, y.Column = position(n.GetToken())
		for _, item := range n.Values {
			y.Items = append(y.Items, c.convert(item))
		}
		return c.sized(y, n.GetToken())
	case *ast.CommentGroupNode, *ast.CommentNode:
		return &Node{Kind: Null}
	default:
		c.errAt(n.GetToken(), "unsupported YAML construct (%s)", n.Type())
		return &Node{Kind: Null}
	}
}

func (c *converter) mapping(m *ast.MappingNode, values []*ast.MappingValueNode) *Node {
	y := &Node{Kind: Mapping}
	if m != nil {
		y.Line, y.Column = position(m.GetToken())
	}
	type mapKey struct {
		text      string
		merge     bool
		line, col int
	}
	keys := make([]mapKey, len(values))
	explicit := map[string]int{}
	for i, mv := range values {
		k := mapKey{}
		k.line, k.col = position(mv.Key.GetToken())
		if i == 0 && (m == nil || !m.IsFlowStyle) {
			// A block mapping is where its first key is written.
			y.Line, y.Column = k.line, k.col
		}
		switch key := mv.Key.(type) {
		case *ast.MergeKeyNode:
			k.merge = true
		default:
			kv := c.convert(key)
			if kv.Kind != Scalar {
				c.errAt(mv.Key.GetToken(), "a mapping key must be a plain string, not %s", kv.Describe())
				continue
			}
			k.text = kv.Text
			if !kv.Quoted && colonJoined(mv) {
				// Inside [...] and {...}, goccy/go-yaml v1.19 splits a plain
				// scalar at its first colon: [kms:Decrypt] becomes
				// [{kms: Decrypt}] and {kms:ViaService: x} gets the key "kms".
				// Refuse rather than build a wrong value.
				text := k.text + ":"
				if vt := mv.Value.GetToken(); vt != nil {
					text += vt.Value
				}
				c.errAt(mv.Key.GetToken(), "quote %q: inside [...] or {...} a value or key containing ':' must be quoted, e.g. [\"kms:Decrypt\"] or {\"kms:ViaService\": ...} (or use block style, one item per line)", text)
				continue
			}
			if first, dup := explicit[k.text]; dup {
				c.errAt(mv.Key.GetToken(), "key %q is given twice (first on line %d)", k.text, keys[first].line)
				continue
			}
			explicit[k.text] = i
		}
		keys[i] = k
	}
	added := map[string]bool{}
	for i, mv := range values {
		k := keys[i]
		if k.merge {
			v := c.convert(mv.Value)
			var sources []*Node
			switch v.Kind {
			case Mapping:
				sources = []*Node{v}
			case Sequence:
				for _, s := range v.Items {
					if s.Kind != Mapping {
						if s.broken {
							continue
						}
						c.errAt(mv.Key.GetToken(), "merge key << takes a mapping or a list of mappings; item is %s", s.Describe())
						continue
					}
					sources = append(sources, s)
				}
			case Null:
				if !v.broken {
					c.errAt(mv.Key.GetToken(), "merge key << takes a mapping or a list of mappings (usually an alias such as *base), not %s", v.Describe())
				}
			default:
				c.errAt(mv.Key.GetToken(), "merge key << takes a mapping or a list of mappings (usually an alias such as *base), not %s", v.Describe())
			}
			for _, s := range sources {
				for _, e := range s.Entries {
					if _, isExplicit := explicit[e.Key]; isExplicit || added[e.Key] {
						continue
					}
					added[e.Key] = true
					y.Entries = append(y.Entries, e)
				}
			}
			continue
		}
		if k.text == "" && k.line == 0 {
			continue // skipped above (bad or duplicate key)
		}
		if first, ok := explicit[k.text]; !ok || first != i {
			continue
		}
		v := c.convert(mv.Value)
		if nn, ok := mv.Value.(*ast.NullNode); ok && nn.GetToken() != nil && nn.GetToken().Type == token.ImplicitNullType {
			v = &Node{Kind: Null, Line: k.line, Column: k.col} // "key:" with nothing after it
		}
		y.Entries = append(y.Entries, Entry{Key: k.text, Line: k.line, Column: k.col, Value: v})
	}
	var tk *token.Token
	if len(values) > 0 {
		tk = values[0].GetToken()
	}
	return c.sized(y, tk)
}

// colonJoined reports whether a mapping entry's ':' is directly followed by
// its value, as in {a:b} or {kms:CallerAccount: x}.
func colonJoined(mv *ast.MappingValueNode) bool {
	if mv.Start == nil || mv.Start.Position == nil || mv.Value == nil {
		return false
	}
	if _, isNull := mv.Value.(*ast.NullNode); isNull {
		return false
	}
	vt := mv.Value.GetToken()
	if vt == nil || vt.Position == nil {
		return false
	}
	return vt.Position.Line == mv.Start.Position.Line && vt.Position.Column == mv.Start.Position.Column+1
}
