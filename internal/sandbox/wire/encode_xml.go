package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"time"
)

const xmlHeader = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// TimeFormatISO8601 is the timestamp layout of XML responses: UTC with milliseconds.
const TimeFormatISO8601 = "2006-01-02T15:04:05.000Z"

// WriteResponse encodes output as the successful response of op and writes
// it with status 200. output is keyed by model member names and may use the
// generic value forms of DecodeRequest or common Go types (string, int,
// int32, int64, float64, bool, time.Time, []byte, pointers to those,
// []string, []any, []map[string]any, map[string]any, map[string]string…).
// Members absent from output (or nil) are omitted, except lists AWS returns
// even when empty (Operation.EmptyLists), which are rendered empty.
//
// A key that is not a member of the shape, or a value that does not fit its
// shape, makes WriteResponse return an error before anything is written, so
// handler typos surface in tests.
//
//	ec2:   <OpResponse xmlns=NS><requestId/>members…</OpResponse>
//	query: <OpResponse xmlns=NS><OpResult>members…</OpResult><ResponseMetadata><RequestId/></ResponseMetadata></OpResponse>
//	json:  application/x-amz-json-1.1 object of members
func (s *Service) WriteResponse(w http.ResponseWriter, op *Operation, output map[string]any, requestID string) error {
	body, ctype, err := s.EncodeResponse(op, output, requestID)
	if err != nil {
		return err
	}
	writeBody(w, http.StatusOK, ctype, requestID, body)
	return nil
}

// EncodeResponse is WriteResponse without the writing: it returns the body
// and its Content-Type.
func (s *Service) EncodeResponse(op *Operation, output map[string]any, requestID string) ([]byte, string, error) {
	if op == nil || op.svc != s {
		return nil, "", fmt.Errorf("wire: operation does not belong to service %s", s.Name)
	}
	var out map[string]any
	if op.output != nil {
		v, ok, err := normalize(op.output, output, op.Output)
		if err != nil {
			return nil, "", err
		}
		if ok {
			out = v.(map[string]any)
		}
		out = op.fillEmptyLists(out)
	} else if len(output) > 0 {
		return nil, "", fmt.Errorf("wire: %s %s has no output, got %d members", s.Name, op.Name, len(output))
	}
	if s.Protocol == ProtocolJSON {
		body, err := encodeJSON(op.output, out)
		return body, "application/x-amz-json-" + s.JSONVersion, err
	}
	ctype := "text/xml"
	if s.Protocol == ProtocolEC2 {
		ctype = "text/xml;charset=UTF-8"
	}
	return s.encodeXML(op, out, requestID), ctype, nil
}

func (s *Service) encodeXML(op *Operation, out map[string]any, requestID string) []byte {
	e := xmlEncoder{ec2: s.Protocol == ProtocolEC2}
	b := &e.buf
	b.WriteString(xmlHeader)
	fmt.Fprintf(b, `<%sResponse xmlns="`, op.Name)
	escape(b, s.XMLNamespace)
	b.WriteString(`">`)
	if e.ec2 {
		b.WriteString("<requestId>")
		escape(b, requestID)
		b.WriteString("</requestId>")
		if op.output == nil {
			b.WriteString("<return>true</return>")
		} else {
			e.members(op.output, out)
		}
	} else {
		if op.output != nil {
			if op.ResultWrapper != "" {
				fmt.Fprintf(b, "<%s>", op.ResultWrapper)
				e.members(op.output, out)
				fmt.Fprintf(b, "</%s>", op.ResultWrapper)
			} else {
				e.members(op.output, out)
			}
		}
		b.WriteString("<ResponseMetadata><RequestId>")
		escape(b, requestID)
		b.WriteString("</RequestId></ResponseMetadata>")
	}
	fmt.Fprintf(b, "</%sResponse>", op.Name)
	return b.Bytes()
}

type xmlEncoder struct {
	buf bytes.Buffer
	ec2 bool
}

// elementName is the element of a structure member in a response.
func (e *xmlEncoder) elementName(r *ref) string {
	if !e.ec2 && r.shape.Type == "list" && r.flattened() && r.shape.Member.LocationName != "" {
		return r.shape.Member.LocationName
	}
	if r.LocationName != "" {
		return r.LocationName
	}
	return r.Name
}

func (e *xmlEncoder) members(sh *shape, v map[string]any) {
	for _, mn := range sh.MemberNames {
		mv, ok := v[mn]
		if !ok {
			continue
		}
		r := sh.Members[mn]
		e.value(e.elementName(r), r, mv)
	}
}

// value writes <name>v</name> (or, for flattened lists and maps, repeated <name> elements).
func (e *xmlEncoder) value(name string, r *ref, v any) {
	sh := r.shape
	b := &e.buf
	switch sh.Type {
	case "structure":
		e.open(name)
		e.members(sh, v.(map[string]any))
		e.close(name)
	case "list":
		items := v.([]any)
		if r.flattened() && !e.ec2 {
			for _, it := range items {
				e.value(name, sh.Member, it)
			}
			return
		}
		itemName := sh.Member.LocationName
		if itemName == "" {
			itemName = "member"
			if e.ec2 {
				itemName = "item"
			}
		}
		if len(items) == 0 {
			e.buf.WriteString("<" + name + "/>") // as AWS writes an empty list: <imagesSet/>
			return
		}
		e.open(name)
		for _, it := range items {
			e.value(itemName, sh.Member, it)
		}
		e.close(name)
	case "map":
		m := v.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		keyName, valName := sh.Key.LocationName, sh.Value.LocationName
		if keyName == "" {
			keyName = "key"
		}
		if valName == "" {
			valName = "value"
		}
		flat := r.flattened()
		if !flat {
			e.open(name)
		}
		for _, k := range keys {
			if flat {
				e.open(name)
			} else {
				e.open("entry")
			}
			e.value(keyName, sh.Key, k)
			e.value(valName, sh.Value, m[k])
			if flat {
				e.close(name)
			} else {
				e.close("entry")
			}
		}
		if !flat {
			e.close(name)
		}
	default:
		e.open(name)
		escape(b, scalarText(v, r.timestampFormat()))
		e.close(name)
	}
}

func (e *xmlEncoder) open(name string)  { e.buf.WriteString("<" + name + ">") }
func (e *xmlEncoder) close(name string) { e.buf.WriteString("</" + name + ">") }

// scalarText formats a normalized scalar for XML.
func scalarText(v any, tsFormat string) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return formatFloat(x)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		return formatTimestamp(x, tsFormat, "iso8601")
	case []byte:
		return base64.StdEncoding.EncodeToString(x)
	}
	return fmt.Sprint(v)
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// formatTimestamp renders t per a model timestampFormat (iso8601,
// unixTimestamp, rfc822), falling back to def.
func formatTimestamp(t time.Time, format, def string) string {
	if format == "" {
		format = def
	}
	switch format {
	case "unixTimestamp":
		return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', -1, 64)
	case "rfc822":
		return t.UTC().Format(http.TimeFormat)
	default:
		return t.UTC().Format(TimeFormatISO8601)
	}
}

func escape(b *bytes.Buffer, s string) {
	_ = xml.EscapeText(b, []byte(s))
}
