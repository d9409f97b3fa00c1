package world

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

// The generic part of reading a world file (YAML → positioned nodes → structs
// by yaml tags, strict keys, positions) is yamlconf's; this file adds what is
// particular to world files: policy documents, the encrypted: forms, the two
// forms of inline policies, and keys declared for several regions at once.

// keyOrigin is where one Key came from: the keys: entry, and its region (a
// region: value or one item of regions:).
type keyOrigin struct {
	entry, region string
}

// decoder is a yamlconf.Decoder with the world file's own types.
type decoder struct {
	*yamlconf.Decoder
	keyOrigins map[string][]keyOrigin // "accounts[0].keys" → per Key
}

var (
	rawMessageType     = reflect.TypeOf(json.RawMessage(nil))
	encryptionSpecType = reflect.TypeOf(EncryptionSpec{})
	namedPoliciesType  = reflect.TypeOf([]NamedPolicy(nil))
	keysType           = reflect.TypeOf([]Key(nil))
	worldType          = reflect.TypeOf(World{})
)

// defaulter is implemented by types whose zero value is not their world-file
// default; the decoder calls it on a new element before filling it.
type defaulter interface{ setDefaults() }

func newDecoder(file string) *decoder {
	d := &decoder{Decoder: yamlconf.NewDecoder(file), keyOrigins: map[string][]keyOrigin{}}
	d.Extensions = []reflect.Type{worldType}
	d.Init = func(v reflect.Value) {
		if df, ok := v.Addr().Interface().(defaulter); ok {
			df.setDefaults()
		}
	}
	d.Custom = map[reflect.Type]func(*yamlconf.Node, string, reflect.Value){
		rawMessageType:     d.decodePolicy,
		encryptionSpecType: d.decodeEncryption,
		namedPoliciesType:  d.decodePolicies,
		keysType:           d.decodeKeys,
	}
	return d
}

// decodePolicy reads a policy document: a YAML mapping, or a string holding
// JSON; either way the result is canonical JSON.
func (d *decoder) decodePolicy(n *yamlconf.Node, path string, v reflect.Value) {
	var doc []byte
	switch {
	case n.Kind == yamlconf.Null:
		v.SetZero()
		return
	case n.Kind == yamlconf.Mapping:
		b, err := nodeJSON(n)
		if err != nil {
			d.Fail(n, path, "%v", err)
			return
		}
		doc = b
	case n.Kind == yamlconf.Scalar && n.Type == yamlconf.StringScalar:
		b, err := canonicalJSON([]byte(n.Text))
		if err != nil {
			d.Fail(n, path, "%v", err)
			return
		}
		doc = b
	default:
		d.Fail(n, path, "expected a policy document: a mapping, or a string holding a JSON object; got %s", n.Describe())
		return
	}
	v.Set(reflect.ValueOf(json.RawMessage(doc)))
}

func (d *decoder) decodeEncryption(n *yamlconf.Node, path string, v reflect.Value) {
	const forms = "false (not encrypted), aws-managed (the AWS managed key aws/ebs) or alias/<name> (a key this account declares in the image's region)"
	spec := EncryptionSpec{Mode: EncryptionNone}
	isScalar, isBool := n.Kind == yamlconf.Scalar, n.Type == yamlconf.BoolScalar
	switch {
	case n.Kind == yamlconf.Null:
	case isScalar && isBool && !n.Bool:
	case isScalar && isBool:
		d.Fail(n, path, "true does not say which key; use %s", forms)
		return
	case isScalar && (n.Text == "false" || n.Text == "none"):
	case isScalar && (n.Text == "aws-managed" || n.Text == "alias/aws/ebs"):
		spec.Mode = EncryptionAWSManaged
	case isScalar && strings.HasPrefix(n.Text, "alias/"):
		spec = EncryptionSpec{Mode: EncryptionKey, KeyAlias: n.Text}
	default:
		d.Fail(n, path, "%s is not an encryption; use %s", n.Describe(), forms)
		return
	}
	v.Set(reflect.ValueOf(spec))
}

// decodePolicies reads inline policies: a mapping name → document, or a list
// of documents or of {name, document} pairs.
func (d *decoder) decodePolicies(n *yamlconf.Node, path string, v reflect.Value) {
	var out []NamedPolicy
	switch n.Kind {
	case yamlconf.Null:
		v.SetZero()
		return
	case yamlconf.Mapping:
		for _, e := range n.Entries {
			np := NamedPolicy{Name: e.Key}
			p := yamlconf.Child(path, e.Key)
			d.Positions().SetKey(p, e.Line, e.Column)
			d.Decode(e.Value, p, reflect.ValueOf(&np.Document).Elem())
			out = append(out, np)
		}
	case yamlconf.Sequence:
		for i, item := range n.Items {
			p := yamlconf.Index(path, i)
			np := NamedPolicy{Name: fmt.Sprintf("inline-%d", i+1)}
			if isNamedPolicy(item) {
				d.Decode(item, p, reflect.ValueOf(&np).Elem())
			} else {
				d.Decode(item, p, reflect.ValueOf(&np.Document).Elem())
			}
			out = append(out, np)
		}
	default:
		d.Fail(n, path, "expected policies as a mapping name → document, or a list of documents; got %s", n.Describe())
		return
	}
	v.Set(reflect.ValueOf(out))
}

// isNamedPolicy: a list item {name: ..., document: ...} rather than a policy
// document (whose keys are capitalised: Version, Statement, Id).
func isNamedPolicy(n *yamlconf.Node) bool {
	if n.Kind != yamlconf.Mapping {
		return false
	}
	if _, ok := n.Lookup("document"); !ok {
		return false
	}
	for _, e := range n.Entries {
		if e.Key != "name" && e.Key != "document" {
			return false
		}
	}
	return true
}

// keyEntry is one keys: item of a world file; regions: declares one key per
// region.
type keyEntry struct {
	Key     `yaml:",inline"`
	Regions []string `yaml:"regions"`
}

func (d *decoder) decodeKeys(n *yamlconf.Node, path string, v reflect.Value) {
	switch n.Kind {
	case yamlconf.Null:
		v.SetZero()
		return
	case yamlconf.Sequence:
	default:
		d.Fail(n, path, "expected a list of keys, got %s", n.Describe())
		return
	}
	var keys []Key
	var origins []keyOrigin
	for i, item := range n.Items {
		p := yamlconf.Index(path, i)
		var ke keyEntry
		ke.setDefaults()
		d.Decode(item, p, reflect.ValueOf(&ke).Elem())
		_, hasRegion := item.Lookup("region")
		rs, hasRegions := item.Lookup("regions")
		regionsPath := yamlconf.Child(p, "regions")
		switch {
		case hasRegion && hasRegions:
			d.FailAt(rs.Line, rs.Column, regionsPath, "give either region or regions, not both")
		case hasRegions && len(ke.Regions) == 0:
			if !d.Positions().Failed(regionsPath) {
				d.Fail(rs.Value, regionsPath, "list at least one region")
			}
			keys = append(keys, ke.Key)
			origins = append(origins, keyOrigin{entry: p, region: regionsPath})
			continue
		case hasRegions:
			for j, r := range ke.Regions {
				k := copyKey(ke.Key)
				k.Region = r
				keys = append(keys, k)
				origins = append(origins, keyOrigin{entry: p, region: yamlconf.Index(regionsPath, j)})
			}
			continue
		}
		keys = append(keys, ke.Key)
		origins = append(origins, keyOrigin{entry: p, region: yamlconf.Child(p, "region")})
	}
	d.keyOrigins[path] = origins
	v.Set(reflect.ValueOf(keys))
}

func copyKey(k Key) Key {
	if k.Policy != nil {
		k.Policy = append(json.RawMessage(nil), k.Policy...)
	}
	if k.Tags != nil {
		tags := make(map[string]string, len(k.Tags))
		for tk, tv := range k.Tags {
			tags[tk] = tv
		}
		k.Tags = tags
	}
	if k.Grants != nil {
		grants := make([]Grant, len(k.Grants))
		for i, g := range k.Grants {
			g.Operations = append([]string(nil), g.Operations...)
			grants[i] = g
		}
		k.Grants = grants
	}
	return k
}
