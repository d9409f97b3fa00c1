package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

const ssmWorld = `
regions: [us-east-1, eu-west-1]
accounts:
  - id: "111111111111"
    name: owner
    images:
      - id: ami-0123456789abcdef0
        region: us-east-1
        name: base
    parameters:
      - region: us-east-1
        name: /seeded/value
        value: hello
    roles:
      - name: reader
        trust: {Version: "2012-10-17", Statement: [{Effect: Allow, Principal: {AWS: "arn:aws:iam::111111111111:root"}, Action: "sts:AssumeRole"}]}
        policies:
          get: {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "ssm:GetParameter", Resource: "*"}]}
  - id: "222222222222"
    name: other
faults: {throttle: false}
`

func TestSSMPutGetOverwriteAndNotFound(t *testing.T) {
	e := newTestEnv(t, ssmWorld)
	c := e.ssm(acctA, usE1)
	put := outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/ami"), Value: aws.String("ami-0123456789abcdef0"), Type: ssmtypes.ParameterTypeString,
		Description: aws.String("base image"), Tags: []ssmtypes.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}})).need(t)
	if put.Version != 1 || put.Tier != ssmtypes.ParameterTierStandard {
		t.Fatalf("put: %+v", put)
	}
	p := outcome(c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/ami")})).need(t).Parameter
	if *p.Name != "/app/ami" || *p.Value != "ami-0123456789abcdef0" || p.Type != ssmtypes.ParameterTypeString || p.Version != 1 ||
		*p.ARN != "arn:aws:ssm:us-east-1:111111111111:parameter/app/ami" || *p.DataType != "text" || p.LastModifiedDate == nil {
		t.Fatalf("get: %+v", p)
	}
	// By ARN too.
	if p := outcome(c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("arn:aws:ssm:us-east-1:111111111111:parameter/app/ami")})).need(t).Parameter; *p.Name != "/app/ami" {
		t.Fatalf("by ARN: %s", *p.Name)
	}

	_, err := c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/ami"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString})
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("put existing without overwrite: want ParameterAlreadyExists, got %v", err)
	}
	_, err = c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/ami"), Value: aws.String("x"), Overwrite: aws.Bool(true),
		Tags: []ssmtypes.Tag{{Key: aws.String("a"), Value: aws.String("b")}}})
	wantCode(t, "tags with overwrite", err, "ValidationException")
	put = outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/ami"), Value: aws.String("ami-0fedcba9876543210"), Overwrite: aws.Bool(true)})).need(t)
	if put.Version != 2 {
		t.Fatalf("overwrite version %d", put.Version)
	}
	p = outcome(c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/ami")})).need(t).Parameter
	if *p.Value != "ami-0fedcba9876543210" || p.Version != 2 || p.Type != ssmtypes.ParameterTypeString {
		t.Fatalf("after overwrite: %+v", p)
	}
	_, err = c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/ami:1")})
	var noVersion *ssmtypes.ParameterVersionNotFound
	if !errors.As(err, &noVersion) {
		t.Fatalf("old version: want ParameterVersionNotFound, got %v", err)
	}
	if p := outcome(c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/ami:2")})).need(t).Parameter; *p.Selector != ":2" {
		t.Fatalf("selector %v", p.Selector)
	}
	_, err = c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/ami"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeSecureString, Overwrite: aws.Bool(true)})
	var mismatch *ssmtypes.HierarchyTypeMismatchException
	if !errors.As(err, &mismatch) {
		t.Fatalf("type change: want HierarchyTypeMismatchException, got %v", err)
	}

	_, err = c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/missing")})
	var nf *ssmtypes.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("missing: want ParameterNotFound, got %v", err)
	}
	// Parameters are per account and region.
	_, err = e.ssm(acctA, "eu-west-1").GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/ami")})
	if !errors.As(err, &nf) {
		t.Fatalf("other region: want ParameterNotFound, got %v", err)
	}
	_, err = e.ssm(acctB, usE1).GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/ami")})
	if !errors.As(err, &nf) {
		t.Fatalf("other account: want ParameterNotFound, got %v", err)
	}

	// Validation.
	_, err = c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/new"), Value: aws.String("x")})
	wantCode(t, "create without a type", err, "ValidationException")
	_, err = c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("app/new"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString})
	wantCode(t, "not fully qualified", err, "ValidationException")
	_, err = c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/aws/thing"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString})
	wantCode(t, "reserved prefix", err, "ValidationException")
	_, err = c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/big"), Value: aws.String(strings.Repeat("x", 4097)), Type: ssmtypes.ParameterTypeString})
	wantCode(t, "value over 4 KB", err, "ValidationException")

	// Identity policies apply.
	rcfg := outcome(e.assumeRole(e.rootCfg(acctA, usE1), "arn:aws:iam::111111111111:role/reader", "")).need(t)
	reader := ssm.NewFromConfig(rcfg)
	outcome(reader.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/seeded/value")})).need(t)
	_, err = reader.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/x"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString})
	wantCode(t, "put without ssm:PutParameter", err, "AccessDeniedException")

	// Delete.
	outcome(c.DeleteParameter(e.ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/ami")})).need(t)
	_, err = c.DeleteParameter(e.ctx, &ssm.DeleteParameterInput{Name: aws.String("/app/ami")})
	if !errors.As(err, &nf) {
		t.Fatalf("delete twice: want ParameterNotFound, got %v", err)
	}
}

func TestSSMGetParametersAndSecureString(t *testing.T) {
	e := newTestEnv(t, ssmWorld)
	c := e.ssm(acctA, usE1)
	outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/db/password"), Value: aws.String("s3cret"), Type: ssmtypes.ParameterTypeSecureString})).need(t)
	out := outcome(c.GetParameters(e.ctx, &ssm.GetParametersInput{Names: []string{"/seeded/value", "/nope", "/db/password"}})).need(t)
	if len(out.Parameters) != 2 || len(out.InvalidParameters) != 1 || out.InvalidParameters[0] != "/nope" {
		t.Fatalf("GetParameters: %+v", out)
	}
	for _, p := range out.Parameters {
		if *p.Name == "/db/password" && (*p.Value == "s3cret" || p.Type != ssmtypes.ParameterTypeSecureString) {
			t.Fatalf("SecureString without decryption shows %q", *p.Value)
		}
	}
	p := outcome(c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/db/password"), WithDecryption: aws.Bool(true)})).need(t).Parameter
	if *p.Value != "s3cret" {
		t.Fatalf("decrypted: %q", *p.Value)
	}
	desc := outcome(c.DescribeParameters(e.ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Name"), Values: []string{"/db/password"}}}})).need(t)
	if len(desc.Parameters) != 1 || *desc.Parameters[0].KeyId != "alias/aws/ssm" || desc.Parameters[0].Tier != ssmtypes.ParameterTierStandard {
		t.Fatalf("describe SecureString: %+v", desc.Parameters)
	}
	_, err := c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/db/other"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeSecureString, KeyId: aws.String("alias/missing")})
	var badKey *ssmtypes.InvalidKeyId
	if !errors.As(err, &badKey) {
		t.Fatalf("SecureString under a missing key: want InvalidKeyId, got %v", err)
	}
}

func TestSSMImageDataType(t *testing.T) {
	e := newTestEnv(t, ssmWorld)
	c := e.ssm(acctA, usE1)
	ok := outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/golden/ami"), Value: aws.String("ami-0123456789abcdef0"), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")})).need(t)
	if ok.Version != 1 {
		t.Fatalf("version %d", ok.Version)
	}
	if p := outcome(c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/golden/ami")})).need(t).Parameter; *p.DataType != "aws:ec2:image" {
		t.Fatalf("data type %s", *p.DataType)
	}
	_, err := c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/golden/bad"), Value: aws.String("not-an-ami"), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")})
	wantCode(t, "malformed AMI id", err, "ValidationException")
	// A well-formed id of an AMI that does not exist: the call returns a version
	// (AWS checks asynchronously) but no parameter appears.
	outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/golden/ghost"), Value: aws.String("ami-0000000000000dead"), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")})).need(t)
	_, err = c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/golden/ghost")})
	wantCode(t, "parameter of an AMI that failed the check", err, "ParameterNotFound")
	// Another account cannot use the AMI (not shared with it).
	outcome(e.ssm(acctB, usE1).PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/golden/ami"), Value: aws.String("ami-0123456789abcdef0"), Type: ssmtypes.ParameterTypeString, DataType: aws.String("aws:ec2:image")})).need(t)
	_, err = e.ssm(acctB, usE1).GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/golden/ami")})
	wantCode(t, "AMI not shared with the account", err, "ParameterNotFound")
}

func TestSSMPathsAndPagination(t *testing.T) {
	e := newTestEnv(t, ssmWorld)
	c := e.ssm(acctA, usE1)
	for i := 0; i < 5; i++ {
		outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String(fmt.Sprintf("/svc/a/p%d", i)), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})).need(t)
	}
	outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/svc/a/deep/q"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeStringList})).need(t)
	outcome(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/svc/b"), Value: aws.String("v"), Type: ssmtypes.ParameterTypeString})).need(t)

	collect := func(in *ssm.GetParametersByPathInput) ([]string, int) {
		var names []string
		pages := 0
		p := ssm.NewGetParametersByPathPaginator(c, in)
		for p.HasMorePages() {
			out := outcome(p.NextPage(e.ctx)).need(t)
			pages++
			for _, prm := range out.Parameters {
				names = append(names, *prm.Name)
			}
		}
		return names, pages
	}
	names, pages := collect(&ssm.GetParametersByPathInput{Path: aws.String("/svc/a"), MaxResults: aws.Int32(2)})
	if len(names) != 5 || pages != 3 || names[0] != "/svc/a/p0" {
		t.Fatalf("one level: %v in %d pages", names, pages)
	}
	names, _ = collect(&ssm.GetParametersByPathInput{Path: aws.String("/svc/"), Recursive: aws.Bool(true)})
	if len(names) != 7 {
		t.Fatalf("recursive: %v", names)
	}
	names, _ = collect(&ssm.GetParametersByPathInput{Path: aws.String("/svc"), Recursive: aws.Bool(true),
		ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Type"), Values: []string{"StringList"}}}})
	if len(names) != 1 || names[0] != "/svc/a/deep/q" {
		t.Fatalf("filtered by type: %v", names)
	}
	_, err := c.GetParametersByPath(e.ctx, &ssm.GetParametersByPathInput{Path: aws.String("svc")})
	wantCode(t, "path without leading slash", err, "ValidationException")
	_, err = c.GetParametersByPath(e.ctx, &ssm.GetParametersByPathInput{Path: aws.String("/svc"), MaxResults: aws.Int32(11)})
	wantCode(t, "MaxResults 11", err, "ValidationException")

	total, dpages := 0, 0
	dp := ssm.NewDescribeParametersPaginator(c, &ssm.DescribeParametersInput{MaxResults: aws.Int32(3)})
	for dp.HasMorePages() {
		out := outcome(dp.NextPage(e.ctx)).need(t)
		dpages++
		total += len(out.Parameters)
	}
	if total != 8 || dpages != 3 { // 7 plus the seeded one
		t.Fatalf("DescribeParameters: %d in %d pages", total, dpages)
	}
	desc := outcome(c.DescribeParameters(e.ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
		{Key: aws.String("Path"), Option: aws.String("OneLevel"), Values: []string{"/svc"}}}})).need(t)
	if len(desc.Parameters) != 1 || *desc.Parameters[0].Name != "/svc/b" || *desc.Parameters[0].ARN != "arn:aws:ssm:us-east-1:111111111111:parameter/svc/b" {
		t.Fatalf("describe by path: %+v", desc.Parameters)
	}
	desc = outcome(c.DescribeParameters(e.ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{
		{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/svc/a/p"}}}})).need(t)
	if len(desc.Parameters) != 5 {
		t.Fatalf("describe by name prefix: %d", len(desc.Parameters))
	}
	_, err = c.DescribeParameters(e.ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("Colour")}}})
	var badKey *ssmtypes.InvalidFilterKey
	if !errors.As(err, &badKey) {
		t.Fatalf("unknown filter key: want InvalidFilterKey, got %v", err)
	}
}
