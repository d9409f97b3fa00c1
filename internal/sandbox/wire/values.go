package wire

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"time"
)

// Typed getters on the generic values produced by DecodeRequest. All are
// nil-safe and return the zero value when the member is absent or of another
// type.

// Has reports whether member key is present in m.
func Has(m map[string]any, key string) bool {
	_, ok := m[key]
	return ok
}

// Str returns the string member key of m.
func Str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// StrOK returns the string member key of m and whether it is present.
func StrOK(m map[string]any, key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}

// Strs returns the list-of-strings member key of m.
func Strs(m map[string]any, key string) []string {
	switch l := m[key].(type) {
	case []any:
		out := make([]string, 0, len(l))
		for _, e := range l {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return l
	}
	return nil
}

// Bool returns the boolean member key of m (false when absent).
func Bool(m map[string]any, key string) bool {
	b, _ := m[key].(bool)
	return b
}

// BoolOK returns the boolean member key of m and whether it is present.
func BoolOK(m map[string]any, key string) (bool, bool) {
	b, ok := m[key].(bool)
	return b, ok
}

// Int returns the integer/long member key of m.
func Int(m map[string]any, key string) int64 {
	i, _ := IntOK(m, key)
	return i
}

// IntOK returns the integer/long member key of m and whether it is present.
func IntOK(m map[string]any, key string) (int64, bool) {
	switch v := m[key].(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case int32:
		return int64(v), true
	}
	return 0, false
}

// Float returns the float/double member key of m.
func Float(m map[string]any, key string) float64 {
	switch v := m[key].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

// Time returns the timestamp member key of m.
func Time(m map[string]any, key string) time.Time {
	t, _ := m[key].(time.Time)
	return t
}

// Blob returns the blob member key of m.
func Blob(m map[string]any, key string) []byte {
	b, _ := m[key].([]byte)
	return b
}

// Struct returns the structure member key of m (nil when absent).
func Struct(m map[string]any, key string) map[string]any {
	s, _ := m[key].(map[string]any)
	return s
}

// List returns the list member key of m.
func List(m map[string]any, key string) []any {
	l, _ := m[key].([]any)
	return l
}

// Structs returns the list-of-structures member key of m
// (e.g. Structs(in, "TagSpecifications")).
func Structs(m map[string]any, key string) []map[string]any {
	switch l := m[key].(type) {
	case []any:
		out := make([]map[string]any, 0, len(l))
		for _, e := range l {
			if s, ok := e.(map[string]any); ok {
				out = append(out, s)
			}
		}
		return out
	case []map[string]any:
		return l
	}
	return nil
}

// StrMap returns a map-of-strings member key of m (e.g. IAM/KMS
// encryption contexts) as map[string]string.
func StrMap(m map[string]any, key string) map[string]string {
	src, ok := m[key].(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(src))
	for k, v := range src {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// Filters returns the EC2 "Filters" member of in as filter name → values,
// values of repeated names concatenated.
func Filters(in map[string]any) map[string][]string {
	fs := Structs(in, "Filters")
	if len(fs) == 0 {
		return nil
	}
	out := make(map[string][]string, len(fs))
	for _, f := range fs {
		name := Str(f, "Name")
		out[name] = append(out[name], Strs(f, "Values")...)
	}
	return out
}

// normalize converts an output value given in any accepted Go form to the
// generic form for shape sh. ok is false when v is nil (member omitted).
func normalize(sh *shape, v any, path string) (out any, ok bool, err error) {
	rv := reflect.ValueOf(v)
	for rv.IsValid() && (rv.Kind() == reflect.Pointer || rv.Kind() == reflect.Interface) {
		if rv.IsNil() {
			return nil, false, nil
		}
		rv = rv.Elem()
	}
	if !rv.IsValid() {
		return nil, false, nil
	}
	bad := func() error {
		return fmt.Errorf("wire: %s: %T is not valid for %s shape %s", path, v, sh.Type, sh.Name)
	}
	switch sh.Type {
	case "structure":
		if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
			return nil, false, bad()
		}
		if rv.IsNil() {
			return nil, false, nil
		}
		m := make(map[string]any, rv.Len())
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return keys[i].String() < keys[j].String() })
		for _, k := range keys {
			name := k.String()
			r, known := sh.Members[name]
			if !known {
				return nil, false, fmt.Errorf("wire: %s: shape %s has no member %q", path, sh.Name, name)
			}
			mv, present, err := normalize(r.shape, rv.MapIndex(k).Interface(), join(path, name))
			if err != nil {
				return nil, false, err
			}
			if present {
				m[name] = mv
			}
		}
		return m, true, nil
	case "map":
		if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
			return nil, false, bad()
		}
		if rv.IsNil() {
			return nil, false, nil
		}
		m := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			k := iter.Key().String()
			mv, present, err := normalize(sh.Value.shape, iter.Value().Interface(), path+"."+k)
			if err != nil {
				return nil, false, err
			}
			if present {
				m[k] = mv
			}
		}
		return m, true, nil
	case "list":
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return nil, false, bad()
		}
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, false, nil
		}
		l := make([]any, 0, rv.Len())
		for i := 0; i < rv.Len(); i++ {
			ev, present, err := normalize(sh.Member.shape, rv.Index(i).Interface(), fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, false, err
			}
			if !present {
				return nil, false, fmt.Errorf("wire: %s[%d]: nil list element", path, i)
			}
			l = append(l, ev)
		}
		return l, true, nil
	case "string":
		if rv.Kind() == reflect.String {
			return rv.String(), true, nil
		}
	case "integer", "long":
		switch {
		case rv.CanInt():
			return rv.Int(), true, nil
		case rv.CanUint():
			if u := rv.Uint(); u <= math.MaxInt64 {
				return int64(u), true, nil
			}
		case rv.CanFloat():
			if f := rv.Float(); f == math.Trunc(f) && math.Abs(f) < 1<<63 {
				return int64(f), true, nil
			}
		}
	case "float", "double":
		switch {
		case rv.CanFloat():
			return rv.Float(), true, nil
		case rv.CanInt():
			return float64(rv.Int()), true, nil
		case rv.CanUint():
			return float64(rv.Uint()), true, nil
		}
	case "boolean":
		if rv.Kind() == reflect.Bool {
			return rv.Bool(), true, nil
		}
	case "timestamp":
		switch t := rv.Interface().(type) {
		case time.Time:
			return t, true, nil
		case string:
			if ts, ok := parseTimestamp(t); ok {
				return ts, true, nil
			}
		}
	case "blob":
		if rv.Kind() == reflect.String {
			return []byte(rv.String()), true, nil
		}
		if rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
			if rv.IsNil() {
				return nil, false, nil
			}
			return rv.Bytes(), true, nil
		}
	default:
		return rv.Interface(), true, nil
	}
	return nil, false, bad()
}
