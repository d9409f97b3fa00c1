// Command trim writes the trimmed AWS service models embedded by package wire.
//
// It reads an operation list (lines "service Operation", '#' comments) and,
// for every service named there, the newest botocore service-2.json(.gz)
// found under the botocore data directories. For each service it writes
// <out>/<service>.json holding the model metadata, the listed operations and
// the transitive closure of their input, output and error shapes, with
// documentation and validation-only traits (enum, pattern, min, max…)
// removed.
//
// Usage (normally via `go generate ./internal/sandbox/wire/`):
//
//	go run ./internal/trim -ops operations.txt -out models [-data dir1:dir2]
//
// The data directories default to $BOTOCORE_DATA, then the botocore packages
// of any pyenv Python, then Debian's python3-botocore and awscli copies.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	opsFile := flag.String("ops", "operations.txt", "operation list: lines of `service Operation`")
	outDir := flag.String("out", "models", "directory receiving <service>.json")
	dataDirs := flag.String("data", "", "colon-separated botocore data directories (default: auto-detect)")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("trim: ")

	wanted, order, err := readOperations(*opsFile)
	if err != nil {
		log.Fatal(err)
	}
	dirs := candidateDirs(*dataDirs)
	if err := os.MkdirAll(*outDir, 0o755); err != nil {
		log.Fatal(err)
	}
	for _, svc := range order {
		path, err := findModel(dirs, svc)
		if err != nil {
			log.Fatal(err)
		}
		model, err := readModel(path)
		if err != nil {
			log.Fatalf("%s: %v", path, err)
		}
		trimmed, err := trim(model, wanted[svc])
		if err != nil {
			log.Fatalf("%s: %v", svc, err)
		}
		buf, err := render(trimmed)
		if err != nil {
			log.Fatal(err)
		}
		dst := filepath.Join(*outDir, svc+".json")
		if err := os.WriteFile(dst, buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("%s: %d operations, %d shapes, %d bytes (from %s)",
			dst, len(wanted[svc]), len(trimmed["shapes"].(map[string]any)), buf.Len(), path)
	}
}

// readOperations parses the operation list, keeping the services in first-seen order.
func readOperations(name string) (map[string][]string, []string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	wanted := map[string][]string{}
	var order []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, nil, fmt.Errorf("%s:%d: want `service Operation`, got %q", name, n, sc.Text())
		}
		svc, op := strings.ToLower(fields[0]), fields[1]
		if _, ok := wanted[svc]; !ok {
			order = append(order, svc)
		}
		wanted[svc] = append(wanted[svc], op)
	}
	return wanted, order, sc.Err()
}

func candidateDirs(flagValue string) []string {
	var dirs []string
	add := func(list string) {
		for _, d := range filepath.SplitList(list) {
			if d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	add(flagValue)
	if len(dirs) > 0 {
		return dirs
	}
	add(os.Getenv("BOTOCORE_DATA"))
	if len(dirs) > 0 {
		return dirs
	}
	home, _ := os.UserHomeDir()
	for _, pattern := range []string{
		filepath.Join(home, ".pyenv/versions/*/lib/python3*/site-packages/botocore/data"),
		"/usr/local/lib/python3*/dist-packages/botocore/data",
		"/usr/lib/python3/dist-packages/botocore/data",
		"/usr/lib/python3/dist-packages/awscli/botocore/data",
	} {
		matches, _ := filepath.Glob(pattern)
		sort.Sort(sort.Reverse(sort.StringSlice(matches)))
		dirs = append(dirs, matches...)
	}
	return dirs
}

// findModel returns the newest service-2.json(.gz) of svc in the first directory that has one.
func findModel(dirs []string, svc string) (string, error) {
	for _, dir := range dirs {
		versions, _ := filepath.Glob(filepath.Join(dir, svc, "*"))
		sort.Sort(sort.Reverse(sort.StringSlice(versions)))
		for _, v := range versions {
			for _, name := range []string{"service-2.json.gz", "service-2.json"} {
				p := filepath.Join(v, name)
				if _, err := os.Stat(p); err == nil {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no botocore model for %q in %v (set -data or BOTOCORE_DATA)", svc, dirs)
}

func readModel(path string) (map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		defer gz.Close()
		r = gz
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	return m, nil
}

// Keys kept from each part of the model; everything else (documentation,
// examples, validation constraints, deprecation notes…) is dropped.
var (
	keepMetadata = set("apiVersion", "endpointPrefix", "jsonVersion", "protocol", "protocols",
		"serviceAbbreviation", "serviceFullName", "serviceId", "signatureVersion", "signingName",
		"targetPrefix", "uid", "xmlNamespace", "globalEndpoint", "awsQueryCompatible")
	keepOperation = set("name", "http", "input", "output", "errors")
	keepOpRef     = set("shape", "resultWrapper", "locationName", "xmlNamespace")
	keepShape     = set("type", "members", "required", "member", "key", "value", "flattened",
		"timestampFormat", "locationName", "xmlNamespace", "error", "exception", "fault",
		"union", "payload", "document")
	keepMember = set("shape", "locationName", "queryName", "flattened", "xmlNamespace",
		"xmlAttribute", "timestampFormat", "idempotencyToken", "jsonvalue", "location", "hostLabel")
)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

func pick(in map[string]any, keep map[string]bool) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		if keep[k] {
			out[k] = v
		}
	}
	return out
}

func trim(model map[string]any, ops []string) (map[string]any, error) {
	meta, _ := model["metadata"].(map[string]any)
	allOps, _ := model["operations"].(map[string]any)
	allShapes, _ := model["shapes"].(map[string]any)
	if meta == nil || allOps == nil || allShapes == nil {
		return nil, errors.New("not a botocore service model")
	}
	outOps := map[string]any{}
	outShapes := map[string]any{}
	var visit func(name string) error
	visit = func(name string) error {
		if _, done := outShapes[name]; done {
			return nil
		}
		raw, ok := allShapes[name].(map[string]any)
		if !ok {
			return fmt.Errorf("shape %q not in model", name)
		}
		sh := pick(raw, keepShape)
		outShapes[name] = sh
		var refs []string
		if members, ok := raw["members"].(map[string]any); ok {
			kept := map[string]any{}
			for mn, mv := range members {
				m := pick(mv.(map[string]any), keepMember)
				kept[mn] = m
				refs = append(refs, m["shape"].(string))
			}
			sh["members"] = kept
		}
		for _, k := range []string{"member", "key", "value"} {
			if ref, ok := raw[k].(map[string]any); ok {
				r := pick(ref, keepMember)
				sh[k] = r
				refs = append(refs, r["shape"].(string))
			}
		}
		for _, r := range refs {
			if err := visit(r); err != nil {
				return err
			}
		}
		return nil
	}
	for _, name := range ops {
		raw, ok := allOps[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("operation %q not in model", name)
		}
		op := pick(raw, keepOperation)
		for _, k := range []string{"input", "output"} {
			if ref, ok := raw[k].(map[string]any); ok {
				r := pick(ref, keepOpRef)
				op[k] = r
				if err := visit(r["shape"].(string)); err != nil {
					return nil, err
				}
			}
		}
		if errs, ok := raw["errors"].([]any); ok {
			var kept []any
			for _, e := range errs {
				r := pick(e.(map[string]any), keepOpRef)
				kept = append(kept, r)
				if err := visit(r["shape"].(string)); err != nil {
					return nil, err
				}
			}
			op["errors"] = kept
		}
		outOps[name] = op
	}
	out := map[string]any{
		"metadata":   pick(meta, keepMetadata),
		"operations": outOps,
		"shapes":     outShapes,
	}
	if v, ok := model["version"]; ok {
		out["version"] = v
	}
	return out, nil
}

// render writes the model as JSON with one line per metadata block,
// operation and shape: compact, yet diff-friendly when operations are added.
func render(model map[string]any) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	compact := func(v any) error {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return err
		}
		buf.Write(bytes.TrimRight(b.Bytes(), "\n"))
		return nil
	}
	section := func(name string, m map[string]any) error {
		fmt.Fprintf(&buf, "%q: {", name)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			fmt.Fprintf(&buf, "\n  %q: ", k)
			if err := compact(m[k]); err != nil {
				return err
			}
		}
		buf.WriteString("\n }")
		return nil
	}
	buf.WriteString("{\n ")
	if v, ok := model["version"]; ok {
		buf.WriteString(`"version": `)
		if err := compact(v); err != nil {
			return nil, err
		}
		buf.WriteString(",\n ")
	}
	buf.WriteString(`"metadata": `)
	if err := compact(model["metadata"]); err != nil {
		return nil, err
	}
	buf.WriteString(",\n ")
	if err := section("operations", model["operations"].(map[string]any)); err != nil {
		return nil, err
	}
	buf.WriteString(",\n ")
	if err := section("shapes", model["shapes"].(map[string]any)); err != nil {
		return nil, err
	}
	buf.WriteString("\n}\n")
	if !json.Valid(buf.Bytes()) {
		return nil, errors.New("rendered model is not valid JSON")
	}
	return &buf, nil
}
