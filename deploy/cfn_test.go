package deploy

// A small CloudFormation evaluator, enough for this package's templates: it
// reads YAML with the short-form tags (!Ref, !Sub, !If, ...) through
// goccy/go-yaml's AST, checks every reference, validates parameter values
// against their constraints, evaluates Conditions and Rules, and resolves the
// intrinsic functions the templates use (Ref, Fn::Sub, Fn::If, Fn::Join,
// Fn::Split, Fn::Select, Fn::GetAtt, AWS::NoValue) for one set of parameters
// and pseudo parameters, so that the IAM documents of a would-be stack can be
// handed to internal/policy.

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// template is a parsed CloudFormation template: plain values, with the
// short-form tags turned into their long forms ({"Fn::Sub": ...}, {"Ref": ...}).
type template struct {
	path string
	body map[string]any
}

func loadTemplate(path string) (*template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Docs) != 1 {
		return nil, fmt.Errorf("%s: %d YAML documents, want 1", path, len(f.Docs))
	}
	v, err := yamlValue(f.Docs[0].Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	body, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: the template is not a mapping", path)
	}
	return &template{path: path, body: body}, nil
}

// shortForms maps CloudFormation's YAML tags to the function they stand for.
var shortForms = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Sub": "Fn::Sub", "!If": "Fn::If", "!Join": "Fn::Join", "!Split": "Fn::Split",
	"!Select": "Fn::Select", "!GetAtt": "Fn::GetAtt", "!Equals": "Fn::Equals",
	"!Not": "Fn::Not", "!And": "Fn::And", "!Or": "Fn::Or", "!FindInMap": "Fn::FindInMap",
	"!Base64": "Fn::Base64", "!GetAZs": "Fn::GetAZs", "!ImportValue": "Fn::ImportValue",
	"!Cidr": "Fn::Cidr",
}

// yamlValue turns a YAML node into maps, slices and scalars.
func yamlValue(n ast.Node) (any, error) {
	switch n := n.(type) {
	case nil:
		return nil, nil
	case *ast.MappingNode:
		return yamlMapping(n.Values)
	case *ast.MappingValueNode:
		return yamlMapping([]*ast.MappingValueNode{n})
	case *ast.SequenceNode:
		out := make([]any, 0, len(n.Values))
		for _, item := range n.Values {
			v, err := yamlValue(item)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case *ast.TagNode:
		tag := n.Start.Value
		v, err := yamlValue(n.Value)
		if err != nil {
			return nil, err
		}
		fn, ok := shortForms[tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Start.Position.Line, tag)
		}
		if fn == "Fn::GetAtt" {
			// !GetAtt Resource.Attribute
			if s, ok := v.(string); ok {
				res, attr, found := strings.Cut(s, ".")
				if !found {
					return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Start.Position.Line, s)
				}
				v = []any{res, attr}
			}
		}
		return map[string]any{fn: v}, nil
	case *ast.StringNode:
		return n.Value, nil
	case *ast.LiteralNode:
		return n.Value.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode:
		return n.(ast.ScalarNode).GetValue(), nil
	case *ast.CommentGroupNode, *ast.CommentNode:
		return nil, nil
	}
	return nil, fmt.Errorf("line %d: unsupported YAML (%s); templates use plain mappings, lists and scalars",
		n.GetToken().Position.Line, n.Type())
}

func yamlMapping(values []*ast.MappingValueNode) (map[string]any, error) {
	out := make(map[string]any, len(values))
	for _, mv := range values {
		var key string
		switch k := mv.Key.(type) {
		case *ast.StringNode:
			key = k.Value
		default:
			key = k.GetToken().Value
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("line %d: key %q given twice", mv.Key.GetToken().Position.Line, key)
		}
		v, err := yamlValue(mv.Value)
		if err != nil {
			return nil, err
		}
		out[key] = v
	}
	return out, nil
}

func (t *template) section(name string) map[string]any {
	m, _ := t.body[name].(map[string]any)
	return m
}

// pseudoParameters are the AWS:: names a template may Ref.
var pseudoParameters = []string{"AWS::AccountId", "AWS::Partition", "AWS::Region", "AWS::StackName",
	"AWS::StackId", "AWS::URLSuffix", "AWS::NoValue", "AWS::NotificationARNs"}

// checkReferences walks the whole template, both branches of every Fn::If,
// and reports every Ref, Fn::Sub variable, Fn::GetAtt and condition name that
// names nothing.
func (t *template) checkReferences() []string {
	names := map[string]bool{}
	for _, p := range pseudoParameters {
		names[p] = true
	}
	for k := range t.section("Parameters") {
		names[k] = true
	}
	resources := t.section("Resources")
	for k := range resources {
		names[k] = true
	}
	conditions := t.section("Conditions")
	var problems []string
	var walk func(path string, v any, subVars map[string]bool)
	walk = func(path string, v any, subVars map[string]bool) {
		switch x := v.(type) {
		case map[string]any:
			for k, arg := range x {
				p := path + "/" + k
				switch k {
				case "Ref":
					if s, ok := arg.(string); !ok || !names[s] {
						problems = append(problems, fmt.Sprintf("%s: Ref %v names no parameter or resource", p, arg))
					}
					continue
				case "Fn::GetAtt":
					l, ok := arg.([]any)
					if !ok || len(l) != 2 || resources[fmt.Sprint(l[0])] == nil {
						problems = append(problems, fmt.Sprintf("%s: Fn::GetAtt %v names no resource", p, arg))
					}
					continue
				case "Fn::If":
					l, ok := arg.([]any)
					if !ok || len(l) != 3 || conditions[fmt.Sprint(l[0])] == nil {
						problems = append(problems, fmt.Sprintf("%s: Fn::If %v names no condition (or is not [condition, then, else])", p, arg))
					}
				case "Condition":
					if s, ok := arg.(string); ok && conditions[s] == nil && path != "" {
						problems = append(problems, fmt.Sprintf("%s: condition %q does not exist", p, s))
					}
				case "Fn::Sub":
					text, vars := arg, map[string]bool{}
					if l, ok := arg.([]any); ok && len(l) == 2 {
						text = l[0]
						if m, ok := l[1].(map[string]any); ok {
							for name, val := range m {
								vars[name] = true
								walk(p+"/"+name, val, nil)
							}
						}
					}
					s, ok := text.(string)
					if !ok {
						problems = append(problems, fmt.Sprintf("%s: Fn::Sub of %T, not a string", p, text))
						continue
					}
					for _, m := range subVar.FindAllStringSubmatch(s, -1) {
						if m[1] == "!" {
							continue
						}
						name := m[2]
						if res, _, found := strings.Cut(name, "."); found && resources[res] != nil {
							continue
						}
						if !names[name] && !vars[name] {
							problems = append(problems, fmt.Sprintf("%s: ${%s} names nothing", p, name))
						}
					}
					continue
				}
				walk(p, arg, subVars)
			}
		case []any:
			for i, item := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), item, subVars)
			}
		}
	}
	for _, section := range []string{"Conditions", "Resources", "Outputs", "Rules"} {
		walk(section, t.body[section], nil)
	}
	for name, r := range resources {
		if m, ok := r.(map[string]any); ok {
			if c, ok := m["Condition"].(string); ok && conditions[c] == nil {
				problems = append(problems, fmt.Sprintf("Resources/%s: condition %q does not exist", name, c))
			}
		}
	}
	sort.Strings(problems)
	return problems
}

var subVar = regexp.MustCompile(`\$\{(!?)([^}]*)\}`)

// noValue is what Ref AWS::NoValue resolves to: the property or list item is
// dropped.
type noValueT struct{}

var noValue any = noValueT{}

// stack is a template instantiated with parameter values in an account and
// region.
type stack struct {
	t          *template
	params     map[string]any // string, or []string for CommaDelimitedList
	pseudo     map[string]string
	conditions map[string]bool
	evaluating map[string]bool
}

// instantiate validates params (overriding the defaults) against the
// template's constraints, checks its Rules and evaluates its Conditions.
func (t *template) instantiate(account, region string, overrides map[string]string) (*stack, error) {
	s := &stack{
		t:      t,
		params: map[string]any{},
		pseudo: map[string]string{
			"AWS::AccountId": account, "AWS::Partition": policy.PartitionForRegion(region), "AWS::Region": region,
			"AWS::StackName": "amicrypt", "AWS::URLSuffix": "amazonaws.com",
			"AWS::StackId": "arn:aws:cloudformation:" + region + ":" + account + ":stack/amicrypt/00000000-0000-0000-0000-000000000000",
		},
		conditions: map[string]bool{},
		evaluating: map[string]bool{},
	}
	for name := range overrides {
		if _, ok := t.section("Parameters")[name]; !ok {
			return nil, fmt.Errorf("parameter %s is not in the template", name)
		}
	}
	for name, raw := range t.section("Parameters") {
		p, _ := raw.(map[string]any)
		value, given := overrides[name]
		if !given {
			d, ok := p["Default"]
			if !ok {
				return nil, fmt.Errorf("parameter %s has no default and no value", name)
			}
			value = fmt.Sprint(d)
		}
		if err := checkParameter(name, p, value); err != nil {
			return nil, err
		}
		switch p["Type"] {
		case "String", "Number":
			s.params[name] = value
		case "CommaDelimitedList":
			s.params[name] = strings.Split(value, ",")
		default:
			return nil, fmt.Errorf("parameter %s: type %v not handled here", name, p["Type"])
		}
	}
	for name := range t.section("Conditions") {
		if _, err := s.condition(name); err != nil {
			return nil, err
		}
	}
	if err := s.checkRules(); err != nil {
		return nil, err
	}
	return s, nil
}

// checkParameter applies a String parameter's constraints as CloudFormation
// does (AllowedPattern matches the whole value).
func checkParameter(name string, p map[string]any, value string) error {
	if p["Type"] != "String" {
		return nil
	}
	if allowed, ok := p["AllowedValues"].([]any); ok {
		found := false
		for _, a := range allowed {
			found = found || fmt.Sprint(a) == value
		}
		if !found {
			return fmt.Errorf("parameter %s: %q is not one of %v", name, value, allowed)
		}
	}
	if pat, ok := p["AllowedPattern"].(string); ok {
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			return fmt.Errorf("parameter %s: AllowedPattern %q: %v", name, pat, err)
		}
		if !re.MatchString(value) {
			return fmt.Errorf("parameter %s: %q does not match %s", name, value, pat)
		}
	}
	for key, ok := range map[string]func(n int) bool{
		"MinLength": func(n int) bool { return len(value) >= n },
		"MaxLength": func(n int) bool { return len(value) <= n },
	} {
		if v, present := p[key]; present {
			n, err := strconv.Atoi(fmt.Sprint(v))
			if err != nil {
				return fmt.Errorf("parameter %s: %s %v", name, key, v)
			}
			if !ok(n) {
				return fmt.Errorf("parameter %s: %q breaks %s %d", name, value, key, n)
			}
		}
	}
	return nil
}

func (s *stack) condition(name string) (bool, error) {
	if v, ok := s.conditions[name]; ok {
		return v, nil
	}
	expr, ok := s.t.section("Conditions")[name]
	if !ok {
		return false, fmt.Errorf("condition %s does not exist", name)
	}
	if s.evaluating[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	s.evaluating[name] = true
	v, err := s.boolean(expr, false)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	s.conditions[name] = v
	return v, nil
}

// boolean evaluates a condition (rule: a rule assertion, where Fn::Contains is
// allowed too).
func (s *stack) boolean(expr any, rule bool) (bool, error) {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return false, fmt.Errorf("%v is not a condition function", expr)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			if rule {
				break
			}
			return s.condition(fmt.Sprint(arg))
		case "Fn::Equals":
			if len(args) != 2 {
				return false, fmt.Errorf("Fn::Equals takes 2 values")
			}
			a, err := s.resolve(args[0])
			if err != nil {
				return false, err
			}
			b, err := s.resolve(args[1])
			if err != nil {
				return false, err
			}
			return fmt.Sprint(a) == fmt.Sprint(b), nil
		case "Fn::Contains":
			if !rule || len(args) != 2 {
				break
			}
			list, err := s.resolve(args[0])
			if err != nil {
				return false, err
			}
			v, err := s.resolve(args[1])
			if err != nil {
				return false, err
			}
			for _, item := range asList(list) {
				if fmt.Sprint(item) == fmt.Sprint(v) {
					return true, nil
				}
			}
			return false, nil
		case "Fn::Not":
			if len(args) != 1 {
				return false, fmt.Errorf("Fn::Not takes 1 condition")
			}
			v, err := s.boolean(args[0], rule)
			return !v, err
		case "Fn::And", "Fn::Or":
			if len(args) < 2 || len(args) > 10 {
				return false, fmt.Errorf("%s takes 2 to 10 conditions", fn)
			}
			and := fn == "Fn::And"
			for _, a := range args {
				v, err := s.boolean(a, rule)
				if err != nil {
					return false, err
				}
				if v != and {
					return v, nil
				}
			}
			return and, nil
		}
		return false, fmt.Errorf("%s is not allowed in a condition here", fn)
	}
	panic("unreachable")
}

func asList(v any) []any {
	switch x := v.(type) {
	case []any:
		return x
	case []string:
		out := make([]any, len(x))
		for i, s := range x {
			out[i] = s
		}
		return out
	}
	return []any{v}
}

func (s *stack) checkRules() error {
	for name, raw := range s.t.section("Rules") {
		rule, _ := raw.(map[string]any)
		if c, ok := rule["RuleCondition"]; ok {
			applies, err := s.boolean(c, true)
			if err != nil {
				return fmt.Errorf("rule %s: %w", name, err)
			}
			if !applies {
				continue
			}
		}
		for i, a := range asList(rule["Assertions"]) {
			am, _ := a.(map[string]any)
			ok, err := s.boolean(am["Assert"], true)
			if err != nil {
				return fmt.Errorf("rule %s, assertion %d: %w", name, i, err)
			}
			if !ok {
				return fmt.Errorf("rule %s refuses the parameters: %v", name, am["AssertDescription"])
			}
		}
	}
	return nil
}

// resolve evaluates the intrinsic functions in v.
func (s *stack) resolve(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for fn, arg := range x {
				if fn == "Ref" || strings.HasPrefix(fn, "Fn::") {
					return s.intrinsic(fn, arg)
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, val := range x {
			r, err := s.resolve(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if r != noValue {
				out[k] = r
			}
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, item := range x {
			r, err := s.resolve(item)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if r != noValue {
				out = append(out, r)
			}
		}
		return out, nil
	}
	return v, nil
}

func (s *stack) intrinsic(fn string, arg any) (any, error) {
	switch fn {
	case "Ref":
		return s.ref(fmt.Sprint(arg))
	case "Fn::If":
		l, ok := arg.([]any)
		if !ok || len(l) != 3 {
			return nil, fmt.Errorf("Fn::If takes [condition, then, else]")
		}
		c, err := s.condition(fmt.Sprint(l[0]))
		if err != nil {
			return nil, err
		}
		if c {
			return s.resolve(l[1])
		}
		return s.resolve(l[2])
	case "Fn::Sub":
		text, vars := arg, map[string]any{}
		if l, ok := arg.([]any); ok {
			if len(l) != 2 {
				return nil, fmt.Errorf("Fn::Sub takes a string or [string, variables]")
			}
			text = l[0]
			m, _ := l[1].(map[string]any)
			for k, val := range m {
				r, err := s.resolve(val)
				if err != nil {
					return nil, err
				}
				vars[k] = r
			}
		}
		str, ok := text.(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Sub of %T", text)
		}
		var subErr error
		out := subVar.ReplaceAllStringFunc(str, func(m string) string {
			g := subVar.FindStringSubmatch(m)
			if g[1] == "!" {
				return "${" + g[2] + "}"
			}
			var v any
			if val, ok := vars[g[2]]; ok {
				v = val
			} else if res, attr, found := strings.Cut(g[2], "."); found {
				r, err := s.intrinsic("Fn::GetAtt", []any{res, attr})
				v, subErr = r, errorsJoin(subErr, err)
			} else {
				r, err := s.ref(g[2])
				v, subErr = r, errorsJoin(subErr, err)
			}
			sv, ok := v.(string)
			if !ok {
				subErr = errorsJoin(subErr, fmt.Errorf("${%s} is a %T, not a string", g[2], v))
			}
			return sv
		})
		return out, subErr
	case "Fn::Join":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, fmt.Errorf("Fn::Join takes [delimiter, list]")
		}
		delim, ok := l[0].(string)
		if !ok {
			return nil, fmt.Errorf("Fn::Join's delimiter must be a literal string")
		}
		list, err := s.resolve(l[1])
		if err != nil {
			return nil, err
		}
		var parts []string
		for _, item := range asList(list) {
			parts = append(parts, fmt.Sprint(item))
		}
		return strings.Join(parts, delim), nil
	case "Fn::Split":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, fmt.Errorf("Fn::Split takes [delimiter, string]")
		}
		str, err := s.resolve(l[1])
		if err != nil {
			return nil, err
		}
		return asList(strings.Split(fmt.Sprint(str), fmt.Sprint(l[0]))), nil
	case "Fn::Select":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, fmt.Errorf("Fn::Select takes [index, list]")
		}
		i, err := strconv.Atoi(fmt.Sprint(l[0]))
		if err != nil {
			return nil, err
		}
		list, err := s.resolve(l[1])
		if err != nil {
			return nil, err
		}
		items := asList(list)
		if i < 0 || i >= len(items) {
			return nil, fmt.Errorf("Fn::Select index %d out of %d", i, len(items))
		}
		return items[i], nil
	case "Fn::GetAtt":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, fmt.Errorf("Fn::GetAtt takes [resource, attribute]")
		}
		name, attr := fmt.Sprint(l[0]), fmt.Sprint(l[1])
		r, ok := s.t.section("Resources")[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("Fn::GetAtt: no resource %s", name)
		}
		if r["Type"] == "AWS::IAM::Role" && attr == "Arn" {
			return s.roleARN(name, r)
		}
		return fmt.Sprintf("%s.%s", name, attr), nil
	}
	return nil, fmt.Errorf("%s is not handled here", fn)
}

func errorsJoin(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func (s *stack) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := s.pseudo[name]; ok {
		return v, nil
	}
	if v, ok := s.params[name]; ok {
		if l, ok := v.([]string); ok {
			return asList(l), nil
		}
		return v, nil
	}
	if r, ok := s.t.section("Resources")[name].(map[string]any); ok {
		if r["Type"] == "AWS::IAM::Role" {
			props, _ := r["Properties"].(map[string]any)
			return s.resolve(props["RoleName"])
		}
		return name + "-physical-id", nil
	}
	return nil, fmt.Errorf("Ref %s: no such parameter or resource", name)
}

func (s *stack) roleARN(logical string, r map[string]any) (string, error) {
	props, _ := r["Properties"].(map[string]any)
	name, err := s.resolve(props["RoleName"])
	if err != nil {
		return "", err
	}
	path := "/"
	if p, ok := props["Path"]; ok {
		v, err := s.resolve(p)
		if err != nil {
			return "", err
		}
		path = fmt.Sprint(v)
	}
	return fmt.Sprintf("arn:%s:iam::%s:role%s%s", s.pseudo["AWS::Partition"], s.pseudo["AWS::AccountId"], path, name), nil
}

// resource is one resource of the stack, or nil when its Condition is false.
func (s *stack) resource(name string) (map[string]any, error) {
	r, ok := s.t.section("Resources")[name].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no resource %s", name)
	}
	if c, ok := r["Condition"].(string); ok {
		on, err := s.condition(c)
		if err != nil || !on {
			return nil, err
		}
	}
	resolved, err := s.resolve(r)
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", name, err)
	}
	return resolved.(map[string]any), nil
}

// iamRole is an AWS::IAM::Role of the stack with its documents parsed.
type iamRole struct {
	ARN      string
	Trust    *policy.Document
	Identity []*policy.Document
	// The documents as IAM would receive them (compact JSON).
	TrustJSON    []byte
	IdentityJSON [][]byte
}

func (s *stack) role(name string) (*iamRole, error) {
	r, err := s.resource(name)
	if err != nil {
		return nil, err
	}
	if r == nil {
		return nil, fmt.Errorf("resource %s is not created with these parameters", name)
	}
	if r["Type"] != "AWS::IAM::Role" {
		return nil, fmt.Errorf("resource %s is a %v", name, r["Type"])
	}
	raw, _ := s.t.section("Resources")[name].(map[string]any)
	arn, err := s.roleARN(name, raw)
	if err != nil {
		return nil, err
	}
	props, _ := r["Properties"].(map[string]any)
	out := &iamRole{ARN: arn}
	out.Trust, out.TrustJSON, err = document(props["AssumeRolePolicyDocument"])
	if err != nil {
		return nil, fmt.Errorf("%s trust policy: %w", name, err)
	}
	for i, p := range asList(props["Policies"]) {
		pm, _ := p.(map[string]any)
		doc, text, err := document(pm["PolicyDocument"])
		if err != nil {
			return nil, fmt.Errorf("%s policy %d (%v): %w", name, i, pm["PolicyName"], err)
		}
		out.Identity = append(out.Identity, doc)
		out.IdentityJSON = append(out.IdentityJSON, text)
	}
	return out, nil
}

// document parses a policy given as a mapping or, like CloudFormation
// accepts, as a JSON string.
func document(v any) (*policy.Document, []byte, error) {
	var text []byte
	if s, ok := v.(string); ok {
		var anyDoc any
		if err := json.Unmarshal([]byte(s), &anyDoc); err != nil {
			return nil, nil, fmt.Errorf("not JSON: %w", err)
		}
		v = anyDoc
	}
	text, err := json.Marshal(v)
	if err != nil {
		return nil, nil, err
	}
	doc, err := policy.Parse(text)
	if err != nil {
		return nil, nil, err
	}
	return doc, text, nil
}
