package world

import (
	"fmt"
	"math"
	"strconv"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// This file turns goccy/go-yaml's AST into a small tree of plain values that
// keep their line and column, with aliases resolved and merge keys (<<)
// applied, so that the decoder and the checks can point at the exact place a
// value was written.

type nodeKind int

const (
	nullNode nodeKind = iota
	scalarNode
	mapNode
	seqNode
)

type scalarType int

const (
	strScalar scalarType = iota
	intScalar
	floatScalar
	boolScalar
)

type ynode struct {
	kind      nodeKind
	line, col int

	// scalars
	st     scalarType
	text   string // the string value, or the source text of a number or bool
	quoted bool   // written quoted, as a block scalar, or tagged !!str
	ival   int64  // intScalar (uintOK: the value is uval, too big for int64)
	uval   uint64
	uintOK bool
	fval   float64 // floatScalar
	bval   bool    // boolScalar

	entries []yentry // mapNode, in file order (merged entries where << was)
	items   []*ynode // seqNode

	size int // values in this one once aliases are expanded (itself included)
}

// maxValues bounds the expanded size of a world file: aliases share nodes, so
// a few lines of nested aliases could otherwise stand for billions of values.
const maxValues = 1_000_000

type yentry struct {
	key       string
	line, col int
	val       *ynode
}

func (n *ynode) describe() string {
	switch n.kind {
	case nullNode:
		return "nothing (null)"
	case mapNode:
		return "a mapping"
	case seqNode:
		return "a list"
	}
	return strconv.Quote(n.text)
}

func (n *ynode) lookup(key string) (yentry, bool) {
	for _, e := range n.entries {
		if e.key == key {
			return e, true
		}
	}
	return yentry{}, false
}

type converter struct {
	anchors  map[string]*ynode
	errs     []*Error
	depth    int
	tooLarge bool
}

// sized sets y's expanded size, refusing a collection that expands too far.
func (c *converter) sized(y *ynode, tk *token.Token) *ynode {
	y.size = 1
	for _, e := range y.entries {
		y.size += max(1, e.val.size)
	}
	for _, item := range y.items {
		y.size += max(1, item.size)
	}
	if y.size > maxValues {
		if !c.tooLarge {
			c.tooLarge = true
			c.errAt(tk, "this value expands to more than %d values through aliases", maxValues)
		}
		return &ynode{kind: nullNode, line: y.line, col: y.col, size: 1}
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

func (c *converter) convert(n ast.Node) *ynode {
	c.depth++
	defer func() { c.depth-- }()
	if c.depth > 200 {
		c.errAt(n.GetToken(), "nesting is too deep")
		return &ynode{kind: nullNode}
	}
	switch n := n.(type) {
	case nil:
		return &ynode{kind: nullNode}
	case *ast.NullNode:
		y := &ynode{kind: nullNode}
		y.line, y.col = position(n.GetToken())
		return y
	case *ast.StringNode:
		y := &ynode{kind: scalarNode, st: strScalar, text: n.Value}
		tk := n.GetToken()
		y.line, y.col = position(tk)
		y.quoted = tk != nil && (tk.Type == token.SingleQuoteType || tk.Type == token.DoubleQuoteType)
		return y
	case *ast.LiteralNode:
		y := &ynode{kind: scalarNode, st: strScalar, quoted: true}
		if n.Value != nil {
			y.text = n.Value.Value
		}
		y.line, y.col = position(n.GetToken())
		return y
	case *ast.IntegerNode:
		y := &ynode{kind: scalarNode, st: intScalar, text: n.GetToken().Value}
		y.line, y.col = position(n.GetToken())
		switch v := n.Value.(type) {
		case int64:
			y.ival = v
		case uint64:
			y.uval, y.uintOK = v, true
			if v <= math.MaxInt64 {
				y.ival, y.uintOK = int64(v), false
			}
		case int:
			y.ival = int64(v)
		default:
			y.st = strScalar
		}
		return y
	case *ast.FloatNode:
		y := &ynode{kind: scalarNode, st: floatScalar, text: n.GetToken().Value, fval: n.Value}
		y.line, y.col = position(n.GetToken())
		return y
	case *ast.InfinityNode:
		y := &ynode{kind: scalarNode, st: floatScalar, text: n.GetToken().Value, fval: n.Value}
		y.line, y.col = position(n.GetToken())
		return y
	case *ast.NanNode:
		y := &ynode{kind: scalarNode, st: floatScalar, text: n.GetToken().Value, fval: math.NaN()}
		y.line, y.col = position(n.GetToken())
		return y
	case *ast.BoolNode:
		y := &ynode{kind: scalarNode, st: boolScalar, text: n.GetToken().Value, bval: n.Value}
		y.line, y.col = position(n.GetToken())
		return y
	case *ast.AnchorNode:
		v := c.convert(n.Value)
		if n.Name != nil {
			if c.anchors == nil {
				c.anchors = map[string]*ynode{}
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
			return &ynode{kind: nullNode}
		}
		return v
	case *ast.TagNode:
		tag := n.Start.Value
		v := c.convert(n.Value)
		switch tag {
		case "!!str", "tag:yaml.org,2002:str":
			if v.kind == scalarNode {
				cp := *v
				cp.st, cp.quoted = strScalar, true
				return &cp
			}
			if v.kind == nullNode {
				return &ynode{kind: scalarNode, st: strScalar, quoted: true, line: v.line, col: v.col}
			}
			c.errAt(n.Start, "!!str applies to a scalar, not %s", v.describe())
			return v
		case "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq", "!!timestamp":
			return v
		}
		c.errAt(n.Start, "unsupported tag %s (world files use plain YAML: no CloudFormation or custom tags)", tag)
		return v
	case *ast.MappingNode:
		return c.mapping(n, n.Values)
	case *ast.MappingValueNode:
		return c.mapping(nil, []*ast.MappingValueNode{n})
	case *ast.SequenceNode:
		y := &ynode{kind: seqNode}
		y.line, y.col = position(n.GetToken())
		for _, item := range n.Values {
			y.items = append(y.items, c.convert(item))
		}
		return c.sized(y, n.GetToken())
	case *ast.CommentGroupNode, *ast.CommentNode:
		return &ynode{kind: nullNode}
	default:
		c.errAt(n.GetToken(), "unsupported YAML construct (%s)", n.Type())
		return &ynode{kind: nullNode}
	}
}

func (c *converter) mapping(m *ast.MappingNode, values []*ast.MappingValueNode) *ynode {
	y := &ynode{kind: mapNode}
	if m != nil {
		y.line, y.col = position(m.GetToken())
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
			y.line, y.col = k.line, k.col
		}
		switch key := mv.Key.(type) {
		case *ast.MergeKeyNode:
			k.merge = true
		default:
			kv := c.convert(key)
			if kv.kind != scalarNode {
				c.errAt(mv.Key.GetToken(), "a mapping key must be a plain string, not %s", kv.describe())
				continue
			}
			k.text = kv.text
			if !kv.quoted && colonJoined(mv) {
				// Inside [...] and {...}, goccy/go-yaml v1.19 splits a plain
				// scalar at its first colon: [kms:Decrypt] becomes
				// [{kms: Decrypt}] and {kms:ViaService: x} gets the key "kms".
				// Refuse rather than build a wrong policy.
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
			var sources []*ynode
			switch v.kind {
			case mapNode:
				sources = []*ynode{v}
			case seqNode:
				for _, s := range v.items {
					if s.kind != mapNode {
						c.errAt(mv.Key.GetToken(), "merge key << takes a mapping or a list of mappings; item is %s", s.describe())
						continue
					}
					sources = append(sources, s)
				}
			default:
				c.errAt(mv.Key.GetToken(), "merge key << takes a mapping or a list of mappings (usually an alias such as *base), not %s", v.describe())
			}
			for _, s := range sources {
				for _, e := range s.entries {
					if _, isExplicit := explicit[e.key]; isExplicit || added[e.key] {
						continue
					}
					added[e.key] = true
					y.entries = append(y.entries, e)
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
			v = &ynode{kind: nullNode, line: k.line, col: k.col} // "key:" with nothing after it
		}
		y.entries = append(y.entries, yentry{key: k.text, line: k.line, col: k.col, val: v})
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
