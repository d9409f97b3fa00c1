package wire

import (
	"bytes"
	"encoding/base64"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxBodyBytes bounds the request bodies DecodeRequest reads.
const maxBodyBytes = 16 << 20

// DecodeRequest identifies the operation of r and parses its input into the
// generic form keyed by model member names (see the package doc).
//
// For ec2 and query services the Action and Version parameters come from the
// form body or the URL query; for json services the operation comes from the
// X-Amz-Target header ("TrentService.CreateKey") and the input from the body.
// Unknown parameters are ignored. The body is restored on r so that callers
// may read it again.
//
// Errors are *APIError: InvalidAction (ec2/query) or UnknownOperationException
// (json) for an unknown operation; MissingParameter / InvalidParameterValue
// (ec2), ValidationError (query) or ValidationException (json) for a missing
// required member or a value that does not parse as its type. The operation
// is returned whenever it was identified, even if its input was invalid.
func (s *Service) DecodeRequest(r *http.Request) (*Operation, map[string]any, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, nil, &APIError{Code: "InvalidRequest", Message: "cannot read request body: " + err.Error()}
	}
	if s.Protocol == ProtocolJSON {
		return s.decodeJSONRequest(r, body)
	}
	return s.decodeQueryRequest(r, body)
}

func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	r.Body.Close()
	if err != nil {
		return nil, err
	}
	if len(body) > maxBodyBytes {
		return nil, io.ErrShortBuffer
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return body, nil
}

// QueryParams returns the form parameters of an ec2/query request: the URL
// query merged with a form-encoded body (body values win). It does not
// consume r.Body.
func QueryParams(r *http.Request) (url.Values, error) {
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	return queryParams(r, body)
}

func queryParams(r *http.Request, body []byte) (url.Values, error) {
	vals := url.Values{}
	for k, v := range r.URL.Query() {
		vals[k] = v
	}
	ct := strings.ToLower(r.Header.Get("Content-Type"))
	if len(body) > 0 && (ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded")) {
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, err
		}
		for k, v := range form {
			vals[k] = v
		}
	}
	return vals, nil
}

func (s *Service) decodeQueryRequest(r *http.Request, body []byte) (*Operation, map[string]any, error) {
	vals, err := queryParams(r, body)
	if err != nil {
		return nil, nil, s.invalidParam("body", err.Error(), "form-encoded body")
	}
	action := vals.Get("Action")
	op, ok := s.operations[action]
	if !ok {
		return nil, nil, s.unknownOperation(action)
	}
	root := &qnode{}
	for k, v := range vals {
		if k == "Action" || k == "Version" || strings.HasPrefix(k, "X-Amz-") || len(v) == 0 {
			continue
		}
		root.insert(k, v[0])
	}
	if op.input == nil {
		return op, map[string]any{}, nil
	}
	d := queryDecoder{s: s}
	in, err := d.structure(root, op.input, "")
	if err != nil {
		return op, nil, err
	}
	return op, in, nil
}

// qnode is one level of a dotted query parameter name ("Filter.1.Value.2").
type qnode struct {
	value    string
	hasValue bool
	children map[string]*qnode
}

func (n *qnode) insert(key, value string) {
	cur := n
	for _, part := range strings.Split(key, ".") {
		if cur.children == nil {
			cur.children = map[string]*qnode{}
		}
		next := cur.children[part]
		if next == nil {
			next = &qnode{}
			cur.children[part] = next
		}
		cur = next
	}
	cur.value, cur.hasValue = value, true
}

func (n *qnode) child(name string) *qnode {
	if n == nil || n.children == nil {
		return nil
	}
	return n.children[name]
}

// indexed returns the children named 1, 2, 3… in numeric order.
func (n *qnode) indexed() []*qnode {
	type kv struct {
		i int
		n *qnode
	}
	var items []kv
	for k, c := range n.children {
		i, err := strconv.Atoi(k)
		if err != nil || i < 1 {
			continue
		}
		items = append(items, kv{i, c})
	}
	sort.Slice(items, func(a, b int) bool { return items[a].i < items[b].i })
	out := make([]*qnode, len(items))
	for i, it := range items {
		out[i] = it.n
	}
	return out
}

type queryDecoder struct{ s *Service }

func (d queryDecoder) ec2() bool { return d.s.Protocol == ProtocolEC2 }

// wireName is the parameter name of a structure member in a request.
func (d queryDecoder) wireName(r *ref) string {
	if d.ec2() {
		if r.QueryName != "" {
			return r.QueryName
		}
		if r.LocationName != "" {
			return strings.ToUpper(r.LocationName[:1]) + r.LocationName[1:]
		}
		return r.Name
	}
	if r.shape.Type == "list" && r.flattened() && r.shape.Member.LocationName != "" {
		return r.shape.Member.LocationName
	}
	if r.LocationName != "" {
		return r.LocationName
	}
	return r.Name
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// errPath renders a parameter path for messages: the wire path for ec2,
// lower-camel member names for query ("launchTemplate.launchTemplateName").
func (d queryDecoder) errPath(path string) string {
	if d.ec2() {
		return path
	}
	parts := strings.Split(path, ".")
	for i, p := range parts {
		if p != "" {
			parts[i] = strings.ToLower(p[:1]) + p[1:]
		}
	}
	return strings.Join(parts, ".")
}

func (d queryDecoder) structure(n *qnode, sh *shape, path string) (map[string]any, error) {
	out := map[string]any{}
	for _, mn := range sh.MemberNames {
		r := sh.Members[mn]
		name := d.wireName(r)
		c := n.child(name)
		if c == nil {
			continue
		}
		v, ok, err := d.value(c, r, join(path, name))
		if err != nil {
			return nil, err
		}
		if ok {
			out[mn] = v
		}
	}
	for _, req := range sh.Required {
		if _, ok := out[req]; !ok {
			if r := sh.Members[req]; r != nil {
				return nil, d.s.missingParam(d.errPath(join(path, d.wireName(r))))
			}
		}
	}
	return out, nil
}

func (d queryDecoder) value(n *qnode, r *ref, path string) (any, bool, error) {
	sh := r.shape
	switch sh.Type {
	case "structure":
		v, err := d.structure(n, sh, path)
		return v, err == nil, err
	case "list":
		if len(n.children) == 0 {
			if n.hasValue && n.value == "" {
				return []any{}, true, nil // "Name=" encodes an empty list
			}
			return nil, false, nil
		}
		items := n
		if !d.ec2() && !r.flattened() {
			name := sh.Member.LocationName
			if name == "" {
				name = "member"
			}
			items = n.child(name)
			if items == nil && name != "member" {
				items = n.child("member")
			}
			if items == nil {
				return nil, false, nil
			}
			path = join(path, name)
		}
		var out []any
		for i, c := range items.indexed() {
			v, ok, err := d.value(c, sh.Member, join(path, strconv.Itoa(i+1)))
			if err != nil {
				return nil, false, err
			}
			if ok {
				out = append(out, v)
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, true, nil
	case "map":
		entries := n
		if !d.ec2() && !r.flattened() {
			entries = n.child("entry")
			if entries == nil {
				return map[string]any{}, n.hasValue, nil
			}
			path = join(path, "entry")
		}
		keyName, valName := sh.Key.LocationName, sh.Value.LocationName
		if keyName == "" {
			keyName = "key"
		}
		if valName == "" {
			valName = "value"
		}
		out := map[string]any{}
		for i, c := range entries.indexed() {
			p := join(path, strconv.Itoa(i+1))
			kn := c.child(keyName)
			if kn == nil || !kn.hasValue {
				return nil, false, d.s.missingParam(d.errPath(join(p, keyName)))
			}
			vn := c.child(valName)
			if vn == nil {
				continue
			}
			v, ok, err := d.value(vn, sh.Value, join(p, valName))
			if err != nil {
				return nil, false, err
			}
			if ok {
				out[kn.value] = v
			}
		}
		return out, true, nil
	}
	if !n.hasValue {
		return nil, false, nil
	}
	v, err := parseScalar(sh.Type, n.value)
	if err != nil {
		return nil, false, d.s.invalidParam(d.errPath(path), n.value, sh.Type)
	}
	return v, true, nil
}

// parseScalar converts the text form of a scalar (query parameters) to its generic value.
func parseScalar(typ, s string) (any, error) {
	switch typ {
	case "string":
		return s, nil
	case "integer", "long":
		return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	case "float", "double":
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return strconv.ParseFloat(strings.TrimSpace(s), 64)
	case "boolean":
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, strconv.ErrSyntax
	case "timestamp":
		t, ok := parseTimestamp(s)
		if !ok {
			return nil, strconv.ErrSyntax
		}
		return t, nil
	case "blob":
		return base64.StdEncoding.DecodeString(s)
	}
	return s, nil
}

var timestampLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02T15:04",
	"2006-01-02",
	time.RFC1123,
	time.RFC1123Z,
}

// parseTimestamp accepts ISO 8601 / RFC 3339 (with or without fraction or
// zone, zone-less meaning UTC), RFC 1123 and epoch seconds.
func parseTimestamp(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
		return epochTime(f), true
	}
	return time.Time{}, false
}

func epochTime(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC()
}
