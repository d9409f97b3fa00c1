// Package wire is the protocol layer of the amicrypt sandbox: it decodes AWS
// API requests and encodes responses and errors for the ec2, query (awsQuery)
// and json (awsJson 1.1) protocols, driven by trimmed botocore service models
// embedded from models/ rather than by hand-written per-operation code.
//
// Requests decode into generic values keyed by model member names:
// structure → map[string]any, list → []any, map → map[string]any,
// string/enum → string, integer/long → int64, float/double → float64,
// boolean → bool, timestamp → time.Time, blob → []byte. Responses are
// encoded from the same form (common Go types are accepted too).
//
// The served operations are listed in operations.txt; add a line there and
// run `go generate ./internal/sandbox/wire/` to refresh the models.
package wire

//go:generate go run ./internal/trim -ops operations.txt -out models

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"
)

//go:embed models/*.json
var modelFS embed.FS

// Protocol identifies an AWS wire protocol.
type Protocol string

// The protocols spoken by the sandbox services.
const (
	ProtocolEC2   Protocol = "ec2"   // EC2 query: form-encoded request, XML response without result wrapper.
	ProtocolQuery Protocol = "query" // awsQuery: form-encoded request, XML response with result wrapper.
	ProtocolJSON  Protocol = "json"  // awsJson 1.1: X-Amz-Target header, JSON bodies.
)

// Service is one AWS service as described by its embedded trimmed model.
// A Service is immutable and safe for concurrent use.
type Service struct {
	Name         string   // model file name: "ec2", "kms", "iam", "sts", "autoscaling", "ssm"
	SigningName  string   // SigV4 service name (credential scope), e.g. "ec2"
	Protocol     Protocol // wire protocol
	TargetPrefix string   // json only: X-Amz-Target prefix, e.g. "TrentService"
	JSONVersion  string   // json only: "1.1" for Content-Type application/x-amz-json-1.1
	XMLNamespace string   // xml protocols: response namespace
	APIVersion   string   // e.g. "2016-11-15"
	ServiceID    string   // e.g. "EC2", "Auto Scaling"

	operations map[string]*Operation
	shapes     map[string]*shape
	errors     map[string]*errorInfo // by error code
}

// Operation is one modeled operation of a Service.
type Operation struct {
	Name          string   // e.g. "DescribeImages"
	Input         string   // input shape name, "" if none
	Output        string   // output shape name, "" if none
	ResultWrapper string   // query only: element wrapping the output, e.g. "AssumeRoleResult"
	Errors        []string // error codes the model declares for the operation

	svc        *Service
	input      *shape
	output     *shape
	emptyLists []string // output lists rendered empty when left out (see empty.go)
}

// Service returns the service the operation belongs to.
func (o *Operation) Service() *Service { return o.svc }

// errorInfo is what the model says about an error code.
type errorInfo struct {
	Code   string
	Status int
	Sender bool
}

// shape is a resolved model shape.
type shape struct {
	Name            string
	Type            string // structure, list, map, string, integer, long, float, double, boolean, timestamp, blob
	Members         map[string]*ref
	MemberNames     []string // sorted
	Required        []string
	Member          *ref // list element
	Key, Value      *ref // map entry
	Flattened       bool
	TimestampFormat string
	LocationName    string
}

// ref is a reference to a shape from a structure member, list member or map key/value.
type ref struct {
	Name            string // member name in the parent structure ("" for list/map refs)
	ShapeName       string `json:"shape"`
	LocationName    string `json:"locationName"`
	QueryName       string `json:"queryName"`
	Flattened       bool   `json:"flattened"`
	TimestampFormat string `json:"timestampFormat"`
	XMLAttribute    bool   `json:"xmlAttribute"`
	XMLNamespace    any    `json:"xmlNamespace"`

	shape *shape
}

func (r *ref) flattened() bool { return r.Flattened || r.shape.Flattened }

func (r *ref) timestampFormat() string {
	if r.TimestampFormat != "" {
		return r.TimestampFormat
	}
	return r.shape.TimestampFormat
}

// JSON forms of the trimmed model.
type modelJSON struct {
	Metadata struct {
		APIVersion     string `json:"apiVersion"`
		EndpointPrefix string `json:"endpointPrefix"`
		JSONVersion    string `json:"jsonVersion"`
		Protocol       string `json:"protocol"`
		ServiceID      string `json:"serviceId"`
		SigningName    string `json:"signingName"`
		TargetPrefix   string `json:"targetPrefix"`
		XMLNamespace   string `json:"xmlNamespace"`
	} `json:"metadata"`
	Operations map[string]struct {
		Name   string `json:"name"`
		Input  *ref   `json:"input"`
		Output *struct {
			Shape         string `json:"shape"`
			ResultWrapper string `json:"resultWrapper"`
		} `json:"output"`
		Errors []struct {
			Shape string `json:"shape"`
		} `json:"errors"`
	} `json:"operations"`
	Shapes map[string]struct {
		Type            string          `json:"type"`
		Members         map[string]*ref `json:"members"`
		Required        []string        `json:"required"`
		Member          *ref            `json:"member"`
		Key             *ref            `json:"key"`
		Value           *ref            `json:"value"`
		Flattened       bool            `json:"flattened"`
		TimestampFormat string          `json:"timestampFormat"`
		LocationName    string          `json:"locationName"`
		Exception       bool            `json:"exception"`
		Fault           bool            `json:"fault"`
		Error           *struct {
			Code           string `json:"code"`
			HTTPStatusCode int    `json:"httpStatusCode"`
			SenderFault    bool   `json:"senderFault"`
		} `json:"error"`
	} `json:"shapes"`
}

var (
	loadMu sync.Mutex
	loaded = map[string]*Service{}
)

// Services returns the names of the embedded service models, sorted.
func Services() []string {
	entries, _ := fs.ReadDir(modelFS, "models")
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Load returns the service described by the embedded model models/<name>.json
// ("ec2", "kms", "iam", "sts", "autoscaling", "ssm"). Models are parsed once
// and cached.
func Load(name string) (*Service, error) {
	loadMu.Lock()
	defer loadMu.Unlock()
	if s, ok := loaded[name]; ok {
		return s, nil
	}
	data, err := modelFS.ReadFile("models/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("wire: no model for service %q", name)
	}
	s, err := parseModel(name, data)
	if err != nil {
		return nil, fmt.Errorf("wire: model %s: %w", name, err)
	}
	loaded[name] = s
	return s, nil
}

// MustLoad is Load for services known to be embedded; it panics on error.
func MustLoad(name string) *Service {
	s, err := Load(name)
	if err != nil {
		panic(err)
	}
	return s
}

func parseModel(name string, data []byte) (*Service, error) {
	var m modelJSON
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	md := m.Metadata
	s := &Service{
		Name:         name,
		SigningName:  md.SigningName,
		Protocol:     Protocol(md.Protocol),
		TargetPrefix: md.TargetPrefix,
		JSONVersion:  md.JSONVersion,
		XMLNamespace: md.XMLNamespace,
		APIVersion:   md.APIVersion,
		ServiceID:    md.ServiceID,
		operations:   map[string]*Operation{},
		shapes:       map[string]*shape{},
		errors:       map[string]*errorInfo{},
	}
	if s.SigningName == "" {
		s.SigningName = md.EndpointPrefix
	}
	switch s.Protocol {
	case ProtocolEC2:
		// EC2 answers with a trailing slash; the model omits it.
		if s.XMLNamespace != "" && !strings.HasSuffix(s.XMLNamespace, "/") {
			s.XMLNamespace += "/"
		}
	case ProtocolQuery:
	case ProtocolJSON:
		if s.JSONVersion == "" {
			s.JSONVersion = "1.0"
		}
	default:
		return nil, fmt.Errorf("unsupported protocol %q", md.Protocol)
	}
	codeOfShape := map[string]string{}
	for n, raw := range m.Shapes {
		sh := &shape{
			Name: n, Type: raw.Type, Members: raw.Members, Required: raw.Required,
			Member: raw.Member, Key: raw.Key, Value: raw.Value,
			Flattened: raw.Flattened, TimestampFormat: raw.TimestampFormat, LocationName: raw.LocationName,
		}
		for mn, r := range sh.Members {
			r.Name = mn
			sh.MemberNames = append(sh.MemberNames, mn)
		}
		sort.Strings(sh.MemberNames)
		s.shapes[n] = sh
		if raw.Exception || raw.Error != nil {
			ei := &errorInfo{Code: n, Sender: !raw.Fault}
			if raw.Error != nil {
				if raw.Error.Code != "" {
					ei.Code = raw.Error.Code
				}
				ei.Status = raw.Error.HTTPStatusCode
				ei.Sender = raw.Error.SenderFault || (!raw.Fault && raw.Error.HTTPStatusCode < 500)
			}
			s.errors[ei.Code] = ei
			codeOfShape[n] = ei.Code
		}
	}
	resolve := func(r *ref, where string) error {
		if r == nil {
			return nil
		}
		r.shape = s.shapes[r.ShapeName]
		if r.shape == nil {
			return fmt.Errorf("%s: unknown shape %q", where, r.ShapeName)
		}
		return nil
	}
	for n, sh := range s.shapes {
		for mn, r := range sh.Members {
			if err := resolve(r, n+"."+mn); err != nil {
				return nil, err
			}
		}
		for _, r := range []*ref{sh.Member, sh.Key, sh.Value} {
			if err := resolve(r, n); err != nil {
				return nil, err
			}
		}
		switch sh.Type {
		case "list":
			if sh.Member == nil {
				return nil, fmt.Errorf("list %s has no member", n)
			}
		case "map":
			if sh.Key == nil || sh.Value == nil {
				return nil, fmt.Errorf("map %s lacks key or value", n)
			}
		}
	}
	for n, raw := range m.Operations {
		op := &Operation{Name: n, svc: s}
		if raw.Name != "" {
			op.Name = raw.Name
		}
		if raw.Input != nil {
			op.Input = raw.Input.ShapeName
			if op.input = s.shapes[op.Input]; op.input == nil {
				return nil, fmt.Errorf("operation %s: unknown input shape %q", n, op.Input)
			}
		}
		if raw.Output != nil {
			op.Output, op.ResultWrapper = raw.Output.Shape, raw.Output.ResultWrapper
			if op.output = s.shapes[op.Output]; op.output == nil {
				return nil, fmt.Errorf("operation %s: unknown output shape %q", n, op.Output)
			}
		}
		for _, e := range raw.Errors {
			code, ok := codeOfShape[e.Shape]
			if !ok {
				code = e.Shape
			}
			op.Errors = append(op.Errors, code)
		}
		sort.Strings(op.Errors)
		op.emptyLists = emptyListsOf(name, op)
		s.operations[op.Name] = op
	}
	return s, nil
}

// Operation returns the named operation ("DescribeImages").
func (s *Service) Operation(name string) (*Operation, bool) {
	op, ok := s.operations[name]
	return op, ok
}

// Operations returns the names of all modeled operations, sorted.
func (s *Service) Operations() []string {
	names := make([]string, 0, len(s.operations))
	for n := range s.operations {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ErrorStatus reports the HTTP status the model declares for an error code
// (e.g. iam "NoSuchEntity" → 404, true).
func (s *Service) ErrorStatus(code string) (int, bool) {
	ei, ok := s.errors[code]
	if !ok || ei.Status == 0 {
		return 0, false
	}
	return ei.Status, true
}
