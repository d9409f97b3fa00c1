package deploy

// The Terraform modules (terraform/*) must make the same roles as the
// CloudFormation templates. Without Terraform or its AWS provider, the test
// evaluates the modules itself with HCL (the language library Terraform is
// built on): variables with their types, defaults and validations, locals,
// and the IAM documents of the role resources, for a sample account.

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// tfFunctions are the Terraform functions the modules use.
var tfFunctions = map[string]function.Function{
	"jsonencode": stdlib.JSONEncodeFunc,
	"merge":      stdlib.MergeFunc,
	"concat":     stdlib.ConcatFunc,
	"split":      stdlib.SplitFunc,
	"length":     tfLength,
	"regex":      stdlib.RegexFunc,
	"can":        tryfunc.CanFunc,
	"startswith": function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "prefix", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(strings.HasPrefix(args[0].AsString(), args[1].AsString())), nil
		},
	}),
}

// tfLength is Terraform's length (lang/funcs): also of objects and strings,
// which cty's stdlib length refuses.
var tfLength = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType, AllowDynamicType: true, AllowUnknown: true}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		switch {
		case v.Type() == cty.String:
			return cty.NumberIntVal(int64(len([]rune(v.AsString())))), nil
		case v.Type().IsObjectType():
			return cty.NumberIntVal(int64(len(v.Type().AttributeTypes()))), nil
		}
		return stdlib.Length(v)
	},
})

// tfModule is a module evaluated for one account and set of variables.
type tfModule struct {
	dir       string
	ctx       *hcl.EvalContext
	resources map[string]*hclsyntax.Block // "type.name"
}

func diagErr(diags hcl.Diagnostics) error {
	if diags.HasErrors() {
		return diags
	}
	return nil
}

// loadModule evaluates the module in dir with vars (HCL expressions as text,
// e.g. `["a", "b"]`, `true`, `"x"`), failing on a variable whose validation
// does not hold.
func loadModule(dir, account string, vars map[string]string) (*tfModule, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("%s: no .tf files (%v)", dir, err)
	}
	p := hclparse.NewParser()
	var bodies []*hclsyntax.Body
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if err := diagErr(diags); err != nil {
			return nil, err
		}
		bodies = append(bodies, file.Body.(*hclsyntax.Body))
	}
	m := &tfModule{dir: dir, resources: map[string]*hclsyntax.Block{}}
	m.ctx = &hcl.EvalContext{Functions: tfFunctions, Variables: map[string]cty.Value{
		"data": cty.ObjectVal(map[string]cty.Value{
			"aws_caller_identity": cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"account_id": cty.StringVal(account)})}),
			"aws_partition":       cty.ObjectVal(map[string]cty.Value{"current": cty.ObjectVal(map[string]cty.Value{"partition": cty.StringVal("aws")})}),
		}),
	}}

	// Variables: the given value or the default, converted to the type.
	values := map[string]cty.Value{}
	var validations []*hclsyntax.Block
	given := map[string]bool{}
	locals := map[string]*hclsyntax.Attribute{}
	for _, body := range bodies {
		for _, b := range body.Blocks {
			switch b.Type {
			case "variable":
				name := b.Labels[0]
				ty := cty.DynamicPseudoType
				if a, ok := b.Body.Attributes["type"]; ok {
					t, diags := typeexpr.TypeConstraint(a.Expr)
					if err := diagErr(diags); err != nil {
						return nil, err
					}
					ty = t
				}
				var v cty.Value
				if text, ok := vars[name]; ok {
					given[name] = true
					expr, diags := hclsyntax.ParseExpression([]byte(text), name, hcl.InitialPos)
					if err := diagErr(diags); err != nil {
						return nil, err
					}
					val, diags := expr.Value(nil)
					if err := diagErr(diags); err != nil {
						return nil, err
					}
					v = val
				} else if a, ok := b.Body.Attributes["default"]; ok {
					val, diags := a.Expr.Value(nil)
					if err := diagErr(diags); err != nil {
						return nil, err
					}
					v = val
				} else {
					return nil, fmt.Errorf("variable %s has no default and no value", name)
				}
				if b.Body.Attributes["description"] == nil {
					return nil, fmt.Errorf("variable %s has no description", name)
				}
				cv, err := convert.Convert(v, ty)
				if err != nil {
					return nil, fmt.Errorf("variable %s: %v", name, err)
				}
				values[name] = cv
				for _, vb := range b.Body.Blocks {
					if vb.Type == "validation" {
						validations = append(validations, vb)
					}
				}
			case "locals":
				for name, a := range b.Body.Attributes {
					locals[name] = a
				}
			case "resource":
				m.resources[b.Labels[0]+"."+b.Labels[1]] = b
			}
		}
	}
	for name := range vars {
		if _, ok := values[name]; !ok {
			return nil, fmt.Errorf("variable %s is not declared", name)
		}
	}
	m.ctx.Variables["var"] = cty.ObjectVal(values)
	for _, vb := range validations {
		ok, err := m.boolean(vb.Body.Attributes["condition"].Expr)
		if err != nil {
			return nil, err
		}
		if !ok {
			msg, _ := vb.Body.Attributes["error_message"].Expr.Value(nil)
			return nil, fmt.Errorf("validation: %s", msg.AsString())
		}
	}

	// Locals, in dependency order.
	done := map[string]cty.Value{}
	for len(done) < len(locals) {
		progress := false
		for name, a := range locals {
			if _, ok := done[name]; ok {
				continue
			}
			ready := true
			for _, tr := range a.Expr.Variables() {
				if tr.RootName() != "local" {
					continue
				}
				if dep, ok := tr[1].(hcl.TraverseAttr); !ok || locals[dep.Name] == nil {
					return nil, fmt.Errorf("local.%s refers to an undefined local", name)
				} else if _, ok := done[dep.Name]; !ok {
					ready = false
				}
			}
			if !ready {
				continue
			}
			m.ctx.Variables["local"] = cty.ObjectVal(done)
			v, diags := a.Expr.Value(m.ctx)
			if err := diagErr(diags); err != nil {
				return nil, fmt.Errorf("local.%s: %w", name, err)
			}
			done[name] = v
			progress = true
		}
		if !progress {
			return nil, fmt.Errorf("locals refer to each other in a cycle")
		}
	}
	m.ctx.Variables["local"] = cty.ObjectVal(done)

	// The resources' preconditions.
	for name, r := range m.resources {
		for _, lb := range r.Body.Blocks {
			if lb.Type != "lifecycle" {
				continue
			}
			for _, pre := range lb.Body.Blocks {
				if pre.Type != "precondition" {
					continue
				}
				ok, err := m.boolean(pre.Body.Attributes["condition"].Expr)
				if err != nil {
					return nil, fmt.Errorf("%s precondition: %w", name, err)
				}
				if !ok {
					msg, _ := pre.Body.Attributes["error_message"].Expr.Value(nil)
					return nil, fmt.Errorf("%s precondition: %s", name, msg.AsString())
				}
			}
		}
	}
	return m, nil
}

func (m *tfModule) boolean(expr hcl.Expression) (bool, error) {
	v, diags := expr.Value(m.ctx)
	if err := diagErr(diags); err != nil {
		return false, err
	}
	if v.Type() != cty.Bool || !v.IsKnown() || v.IsNull() {
		return false, fmt.Errorf("condition is %s, not a bool", v.GoString())
	}
	return v.True(), nil
}

// attr evaluates a resource's attribute; ok false when it is absent.
func (m *tfModule) attr(resource, name string) (cty.Value, bool, error) {
	r, ok := m.resources[resource]
	if !ok {
		return cty.NilVal, false, fmt.Errorf("%s: no resource %s", m.dir, resource)
	}
	a, ok := r.Body.Attributes[name]
	if !ok {
		return cty.NilVal, false, nil
	}
	v, diags := a.Expr.Value(m.ctx)
	return v, true, diagErr(diags)
}

func (m *tfModule) str(resource, name string) (string, error) {
	v, ok, err := m.attr(resource, name)
	if err != nil {
		return "", err
	}
	if !ok || v.Type() != cty.String {
		return "", fmt.Errorf("%s.%s is not a string", resource, name)
	}
	return v.AsString(), nil
}

// role is the module's aws_iam_role.this with its inline policy.
func (m *tfModule) role(account string) (*iamRole, error) {
	name, err := m.str("aws_iam_role.this", "name")
	if err != nil {
		return nil, err
	}
	r := &iamRole{ARN: "arn:aws:iam::" + account + ":role/" + name}
	trust, err := m.str("aws_iam_role.this", "assume_role_policy")
	if err != nil {
		return nil, err
	}
	if r.Trust, r.TrustJSON, err = document(trust); err != nil {
		return nil, fmt.Errorf("assume_role_policy: %w", err)
	}
	text, err := m.str("aws_iam_role_policy.this", "policy")
	if err != nil {
		return nil, err
	}
	doc, j, err := document(text)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	r.Identity, r.IdentityJSON = []*policy.Document{doc}, [][]byte{j}
	return r, nil
}

// TestTerraformMakesTheSameRoles: for the same settings, the Terraform
// modules' trust and identity policies are the CloudFormation templates',
// statement for statement.
func TestTerraformMakesTheSameRoles(t *testing.T) {
	cases := []struct {
		name, template, logical, module, account string
		cfn                                      map[string]string
		tf                                       map[string]string
	}{
		{"target defaults", targetTemplate, "TargetRole", "terraform/target-role", targetAccount, targetDefaults(),
			map[string]string{"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "external_id": `"` + externalID + `"`}},
		{"target every option", targetTemplate, "TargetRole", "terraform/target-role", targetAccount, targetEverything(),
			map[string]string{
				"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "external_id": `"` + externalID + `"`,
				"organization_id":             `"` + orgID + `"`,
				"external_key_arns":           `["` + strings.ReplaceAll(targetEverything()["ExternalKeyArns"], ",", `", "`) + `"]`,
				"manage_adopted_key_policies": "true", "create_service_linked_role": "true", "service_linked_role_suffix": `"CMK"`,
			}},
		{"builder IRSA, limited", builderTemplate, "PipelineRole", "terraform/builder-role", builderAccount, builderIRSA(),
			map[string]string{"eks_oidc_provider": `"` + eksProvider + `"`, "target_account_ids": `["` + targetAccount + `", "` + keyOwner + `"]`, "target_organization_id": `"` + orgID + `"`}},
		{"builder IRSA, open", builderTemplate, "PipelineRole", "terraform/builder-role", builderAccount, map[string]string{"EksOidcProvider": eksProvider},
			map[string]string{"eks_oidc_provider": `"` + eksProvider + `"`}},
		{"builder principals", builderTemplate, "PipelineRole", "terraform/builder-role", builderAccount,
			map[string]string{"TrustedPrincipalArns": "arn:aws:iam::333333333333:role/eks-nodes", "TrustExternalId": "x-1", "TargetOrganizationId": orgID},
			map[string]string{"trusted_principal_arns": `["arn:aws:iam::333333333333:role/eks-nodes"]`, "trust_external_id": `"x-1"`, "target_organization_id": `"` + orgID + `"`}},
		{"builder with the organization reader", builderTemplate, "PipelineRole", "terraform/builder-role", builderAccount, builderWithReader(),
			map[string]string{"eks_oidc_provider": `"` + eksProvider + `"`, "target_account_ids": `["` + targetAccount + `", "` + keyOwner + `"]`, "target_organization_id": `"` + orgID + `"`,
				"organization_reader_role_arn": `"` + readerRoleARN + `"`}},
		{"organization reader", readerTemplate, "OrganizationReaderRole", "terraform/organization-reader", managementAccount, readerDefaults(),
			map[string]string{"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "organization_id": `"` + orgID + `"`}},
		{"organization reader, external id", readerTemplate, "OrganizationReaderRole", "terraform/organization-reader", managementAccount, readerWithExternalID(),
			map[string]string{"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "organization_id": `"` + orgID + `"`, "external_id": `"` + readerWithExternalID()["ExternalId"] + `"`}},
	}
	for _, c := range cases {
		cfn := roleOf(t, instantiate(t, c.template, c.account, c.cfn), c.logical)
		mod, err := loadModule(c.module, c.account, c.tf)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		tf, err := mod.role(c.account)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if tf.ARN != cfn.ARN {
			t.Errorf("%s: Terraform role %s, CloudFormation role %s", c.name, tf.ARN, cfn.ARN)
		}
		sameDocument(t, c.name+" trust policy", cfn.Trust, tf.Trust)
		if len(cfn.Identity) != 1 {
			t.Fatalf("%s: CloudFormation role has %d inline policies", c.name, len(cfn.Identity))
		}
		sameDocument(t, c.name+" identity policy", cfn.Identity[0], tf.Identity[0])
	}
}

func sameDocument(t *testing.T, what string, cfn, tf *policy.Document) {
	t.Helper()
	a, errA := cfn.Marshal()
	b, errB := tf.Marshal()
	if errA != nil || errB != nil {
		t.Fatalf("%s: %v %v", what, errA, errB)
	}
	if string(a) == string(b) {
		return
	}
	sids := func(d *policy.Document) []string {
		var out []string
		for i, s := range d.Statements {
			out = append(out, s.Label(i))
		}
		return out
	}
	if !slices.Equal(sids(cfn), sids(tf)) {
		t.Errorf("%s: CloudFormation statements %v, Terraform %v", what, sids(cfn), sids(tf))
		return
	}
	for i := range cfn.Statements {
		x, _ := (&policy.Document{Version: cfn.Version, Statements: cfn.Statements[i : i+1]}).Marshal()
		y, _ := (&policy.Document{Version: tf.Version, Statements: tf.Statements[i : i+1]}).Marshal()
		if string(x) != string(y) {
			t.Errorf("%s, statement %s differs:\nCloudFormation %s\nTerraform      %s", what, cfn.Statements[i].Label(i), x, y)
		}
	}
}

func TestTerraformChecksItsInputs(t *testing.T) {
	bad := []struct {
		module string
		vars   map[string]string
		want   string
	}{
		{"terraform/target-role", map[string]string{"external_id": `"x-1"`}, "pipeline_role_arn has no default"},
		{"terraform/target-role", map[string]string{"pipeline_role_arn": `"amicrypt-pipeline"`, "external_id": `"x-1"`}, "must be an IAM role ARN"},
		{"terraform/target-role", map[string]string{"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "external_id": `"x"`}, "external_id must be"},
		{"terraform/builder-role", map[string]string{}, "either eks_oidc_provider"},
		{"terraform/builder-role", map[string]string{"eks_oidc_provider": `"` + eksProvider + `"`, "trusted_principal_arns": `["arn:aws:iam::333333333333:role/x"]`}, "either eks_oidc_provider"},
		{"terraform/builder-role", map[string]string{"eks_oidc_provider": `"https://` + eksProvider + `"`}, "without https://"},
		{"terraform/builder-role", map[string]string{"eks_oidc_provider": `"` + eksProvider + `"`, "organization_reader_role_arn": `"amicrypt-organization-reader"`}, "must be an IAM role ARN"},
		{"terraform/organization-reader", map[string]string{"organization_id": `"` + orgID + `"`}, "pipeline_role_arn has no default"},
		{"terraform/organization-reader", map[string]string{"pipeline_role_arn": `"` + pipelineRoleARN + `"`}, "organization_id has no default"},
		{"terraform/organization-reader", map[string]string{"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "organization_id": `"r-ab12"`}, "organization_id must be"},
		{"terraform/organization-reader", map[string]string{"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "organization_id": `"` + orgID + `"`, "external_id": `"x"`}, "external_id must be"},
	}
	for _, c := range bad {
		_, err := loadModule(c.module, targetAccount, c.vars)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with %v: got %v, want an error containing %q", c.module, c.vars, err, c.want)
		}
	}
	// The optional service-linked role.
	for _, on := range []bool{false, true} {
		mod, err := loadModule("terraform/target-role", targetAccount, map[string]string{
			"pipeline_role_arn": `"` + pipelineRoleARN + `"`, "external_id": `"` + externalID + `"`,
			"create_service_linked_role": fmt.Sprint(on), "service_linked_role_suffix": `"CMK"`,
		})
		if err != nil {
			t.Fatal(err)
		}
		count, _, err := mod.attr("aws_iam_service_linked_role.autoscaling", "count")
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int64{false: 0, true: 1}[on]; count.AsBigFloat().String() != fmt.Sprint(want) {
			t.Errorf("create_service_linked_role=%v: count %s", on, count.GoString())
		}
		name, err := mod.str("aws_iam_service_linked_role.autoscaling", "aws_service_name")
		suffix, err2 := mod.str("aws_iam_service_linked_role.autoscaling", "custom_suffix")
		if err != nil || err2 != nil || name != "autoscaling.amazonaws.com" || suffix != "CMK" {
			t.Errorf("service-linked role: %q %q (%v %v)", name, suffix, err, err2)
		}
	}
}
