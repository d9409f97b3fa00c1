package world

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"

	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

// Policy documents are stored as canonical JSON: compact, object keys in the
// order they were written (statement order and condition order matter to
// people reading policies), no HTML escaping. A YAML mapping and the same
// policy written as a JSON string give identical bytes.

var jsonNumberRe = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// nodeJSON renders a YAML value as canonical JSON.
func nodeJSON(n *yamlconf.Node) ([]byte, error) {
	var buf bytes.Buffer
	if err := writeNodeJSON(&buf, n); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeNodeJSON(buf *bytes.Buffer, n *yamlconf.Node) error {
	switch n.Kind {
	case yamlconf.Null:
		buf.WriteString("null")
	case yamlconf.Mapping:
		buf.WriteByte('{')
		for i, e := range n.Entries {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeJSONString(buf, e.Key)
			buf.WriteByte(':')
			if err := writeNodeJSON(buf, e.Value); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	case yamlconf.Sequence:
		buf.WriteByte('[')
		for i, item := range n.Items {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeNodeJSON(buf, item); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case yamlconf.Scalar:
		switch n.Type {
		case yamlconf.BoolScalar:
			buf.WriteString(strconv.FormatBool(n.Bool))
		case yamlconf.IntScalar:
			switch {
			case jsonNumberRe.MatchString(n.Text):
				buf.WriteString(n.Text)
			case n.BigUint:
				buf.WriteString(strconv.FormatUint(n.Uint, 10))
			default:
				buf.WriteString(strconv.FormatInt(n.Int, 10))
			}
		case yamlconf.FloatScalar:
			if math.IsNaN(n.Float) || math.IsInf(n.Float, 0) {
				return fmt.Errorf("%s (line %d) cannot be written in JSON; quote it if it is a string", n.Text, n.Line)
			}
			if jsonNumberRe.MatchString(n.Text) {
				buf.WriteString(n.Text)
			} else {
				buf.WriteString(strconv.FormatFloat(n.Float, 'g', -1, 64))
			}
		default:
			writeJSONString(buf, n.Text)
		}
	}
	return nil
}

func writeJSONString(buf *bytes.Buffer, s string) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	buf.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}

// canonicalJSON parses a JSON text and re-renders it canonically, rejecting
// duplicate object keys.
func canonicalJSON(src []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var buf bytes.Buffer
	if err := copyJSON(dec, &buf, 0); err != nil {
		return nil, jsonError(src, dec, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("more text after the JSON document")
		}
		return nil, jsonError(src, dec, err)
	}
	return buf.Bytes(), nil
}

func jsonError(src []byte, dec *json.Decoder, err error) error {
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("unexpected end of JSON")
	}
	if off > int64(len(src)) {
		off = int64(len(src))
	}
	line, col := 1, 1
	for _, b := range src[:off] {
		if b == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("invalid JSON at line %d, column %d of the string: %v", line, col, err)
}

func copyJSON(dec *json.Decoder, buf *bytes.Buffer, depth int) error {
	if depth > 100 {
		return errors.New("nesting is too deep")
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			buf.WriteByte('{')
			seen := map[string]bool{}
			for i := 0; dec.More(); i++ {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				if seen[k] {
					return fmt.Errorf("key %q is given twice in one object", k)
				}
				seen[k] = true
				if i > 0 {
					buf.WriteByte(',')
				}
				writeJSONString(buf, k)
				buf.WriteByte(':')
				if err := copyJSON(dec, buf, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			buf.WriteByte('}')
		case '[':
			buf.WriteByte('[')
			for i := 0; dec.More(); i++ {
				if i > 0 {
					buf.WriteByte(',')
				}
				if err := copyJSON(dec, buf, depth+1); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			buf.WriteByte(']')
		default:
			return fmt.Errorf("unexpected %q", rune(t))
		}
	case string:
		writeJSONString(buf, t)
	case json.Number:
		buf.WriteString(t.String())
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	}
	return nil
}
