package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
)

func (s *Service) decodeJSONRequest(r *http.Request, body []byte) (*Operation, map[string]any, error) {
	target := r.Header.Get("X-Amz-Target")
	i := strings.LastIndexByte(target, '.')
	if i < 0 || !s.HasTargetPrefix(target[:i]) {
		return nil, nil, s.unknownOperation("")
	}
	name := target[i+1:]
	op, ok := s.operations[name]
	if !ok {
		return nil, nil, s.unknownOperation(name)
	}
	var raw any = map[string]any{}
	if len(bytes.TrimSpace(body)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return op, nil, &APIError{Code: "SerializationException", Message: "Malformed request body: " + err.Error()}
		}
	}
	obj, isObj := raw.(map[string]any)
	if !isObj {
		return op, nil, &APIError{Code: "SerializationException", Message: "Request body must be a JSON object"}
	}
	if op.input == nil {
		return op, map[string]any{}, nil
	}
	in, err := s.jsonStructure(obj, op.input, "")
	if err != nil {
		return op, nil, err
	}
	return op, in, nil
}

// HasTargetPrefix reports whether an X-Amz-Target prefix addresses the
// service: the model's targetPrefix ("com.amazonaws.cloudtrail.v20131101.
// CloudTrail_20131101", what botocore and the AWS CLI send) or its last
// dotted part, the service shape's name ("CloudTrail_20131101", what
// aws-sdk-go-v2's schema-driven clients send).
func (s *Service) HasTargetPrefix(prefix string) bool {
	if prefix == "" || s.TargetPrefix == "" {
		return false
	}
	if prefix == s.TargetPrefix {
		return true
	}
	i := strings.LastIndexByte(s.TargetPrefix, '.')
	return i >= 0 && prefix == s.TargetPrefix[i+1:]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func (s *Service) jsonStructure(obj map[string]any, sh *shape, path string) (map[string]any, error) {
	out := map[string]any{}
	for _, mn := range sh.MemberNames {
		raw, ok := obj[mn]
		if !ok || raw == nil {
			continue
		}
		v, err := s.jsonValue(raw, sh.Members[mn].shape, join(path, lowerFirst(mn)))
		if err != nil {
			return nil, err
		}
		out[mn] = v
	}
	for _, req := range sh.Required {
		if _, ok := out[req]; !ok {
			return nil, s.missingParam(join(path, lowerFirst(req)))
		}
	}
	return out, nil
}

func (s *Service) jsonValue(raw any, sh *shape, path string) (any, error) {
	bad := func() error {
		text, _ := json.Marshal(raw)
		return s.invalidParam(path, string(text), sh.Type)
	}
	switch sh.Type {
	case "structure":
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, bad()
		}
		return s.jsonStructure(obj, sh, path)
	case "list":
		arr, ok := raw.([]any)
		if !ok {
			return nil, bad()
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			if e == nil {
				continue
			}
			v, err := s.jsonValue(e, sh.Member.shape, path+".member."+strconv.Itoa(i+1))
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case "map":
		obj, ok := raw.(map[string]any)
		if !ok {
			return nil, bad()
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if e == nil {
				continue
			}
			v, err := s.jsonValue(e, sh.Value.shape, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case "string":
		if v, ok := raw.(string); ok {
			return v, nil
		}
	case "integer", "long":
		if n, ok := raw.(json.Number); ok {
			if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
				return i, nil
			}
			if f, err := n.Float64(); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return int64(f), nil
			}
		}
	case "float", "double":
		switch v := raw.(type) {
		case json.Number:
			if f, err := v.Float64(); err == nil {
				return f, nil
			}
		case string:
			if f, err := parseScalar("double", v); err == nil && (v == "NaN" || v == "Infinity" || v == "-Infinity") {
				return f, nil
			}
		}
	case "boolean":
		if v, ok := raw.(bool); ok {
			return v, nil
		}
	case "timestamp":
		switch v := raw.(type) {
		case json.Number:
			if f, err := v.Float64(); err == nil {
				return epochTime(f), nil
			}
		case string:
			if t, ok := parseTimestamp(v); ok {
				return t, nil
			}
		}
	case "blob":
		if v, ok := raw.(string); ok {
			if b, err := base64.StdEncoding.DecodeString(v); err == nil {
				return b, nil
			}
		}
	default:
		return raw, nil
	}
	return nil, bad()
}
