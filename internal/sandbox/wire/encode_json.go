package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"time"
)

// encodeJSON renders a normalized output structure as an awsJson body:
// member names as keys, timestamps as epoch seconds, blobs as base64.
func encodeJSON(sh *shape, out map[string]any) ([]byte, error) {
	var tree any = map[string]any{}
	if sh != nil && out != nil {
		tree = jsonTree(sh, out, "")
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(tree); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// jsonTree converts a normalized value of shape sh into values encoding/json
// renders as the protocol wants.
func jsonTree(sh *shape, v any, tsFormat string) any {
	switch sh.Type {
	case "structure":
		m := v.(map[string]any)
		out := make(map[string]any, len(m))
		for k, mv := range m {
			r := sh.Members[k]
			out[k] = jsonTree(r.shape, mv, r.timestampFormat())
		}
		return out
	case "list":
		l := v.([]any)
		out := make([]any, len(l))
		for i, e := range l {
			out[i] = jsonTree(sh.Member.shape, e, sh.Member.timestampFormat())
		}
		return out
	case "map":
		m := v.(map[string]any)
		out := make(map[string]any, len(m))
		for k, mv := range m {
			out[k] = jsonTree(sh.Value.shape, mv, sh.Value.timestampFormat())
		}
		return out
	}
	switch x := v.(type) {
	case time.Time:
		if tsFormat == "" {
			tsFormat = sh.TimestampFormat
		}
		s := formatTimestamp(x, tsFormat, "unixTimestamp")
		if tsFormat == "" || tsFormat == "unixTimestamp" {
			return json.Number(s)
		}
		return s
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return formatFloat(x)
		}
	}
	return v
}
