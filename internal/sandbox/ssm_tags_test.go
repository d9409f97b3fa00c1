package sandbox

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
)

func tagMap(list []ssmtypes.Tag) map[string]string {
	out := map[string]string{}
	for _, t := range list {
		out[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out
}

// TestSSMParameterTags: tags given at creation, added, overwritten, removed
// and listed; the errors of a resource that does not exist and of a type the
// sandbox does not model; and who last wrote a parameter.
func TestSSMParameterTags(t *testing.T) {
	e := newTestEnv(t, ssmWorld)
	c := e.ssm(acctA, usE1)
	must(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/ami"), Value: aws.String("ami-0123456789abcdef0"), Type: ssmtypes.ParameterTypeString,
		DataType: aws.String("aws:ec2:image"), Tags: []ssmtypes.Tag{{Key: aws.String("team"), Value: aws.String("platform")}}}))
	list := func(id string) map[string]string {
		t.Helper()
		return tagMap(must(c.ListTagsForResource(e.ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String(id)})).TagList)
	}
	if got := list("/app/ami"); fmt.Sprint(got) != "map[team:platform]" {
		t.Fatalf("tags from PutParameter: %v", got)
	}
	must(c.AddTagsToResource(e.ctx, &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/ami"),
		Tags: []ssmtypes.Tag{{Key: aws.String("team"), Value: aws.String("images")}, {Key: aws.String("stage"), Value: aws.String("prod")}}}))
	if got := list("arn:aws:ssm:us-east-1:111111111111:parameter/app/ami"); fmt.Sprint(got) != "map[stage:prod team:images]" {
		t.Fatalf("tags after AddTagsToResource, listed by ARN: %v", got)
	}
	desc := must(c.DescribeParameters(e.ctx, &ssm.DescribeParametersInput{ParameterFilters: []ssmtypes.ParameterStringFilter{{Key: aws.String("tag:stage"), Values: []string{"prod"}}}}))
	if len(desc.Parameters) != 1 || aws.ToString(desc.Parameters[0].DataType) != "aws:ec2:image" || aws.ToString(desc.Parameters[0].LastModifiedUser) != "arn:aws:iam::111111111111:root" {
		t.Fatalf("DescribeParameters by tag: %+v", desc.Parameters)
	}
	if p := must(c.GetParameter(e.ctx, &ssm.GetParameterInput{Name: aws.String("/app/ami")})).Parameter; aws.ToString(p.DataType) != "aws:ec2:image" {
		t.Fatalf("GetParameter DataType: %q", aws.ToString(p.DataType))
	}
	must(c.RemoveTagsFromResource(e.ctx, &ssm.RemoveTagsFromResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/ami"), TagKeys: []string{"team", "absent"}}))
	if got := list("/app/ami"); fmt.Sprint(got) != "map[stage:prod]" {
		t.Fatalf("tags after RemoveTagsFromResource: %v", got)
	}
	// Overwriting a parameter keeps its tags.
	must(c.PutParameter(e.ctx, &ssm.PutParameterInput{Name: aws.String("/app/ami"), Value: aws.String("ami-0123456789abcdef0"), Overwrite: aws.Bool(true)}))
	if got := list("/app/ami"); fmt.Sprint(got) != "map[stage:prod]" {
		t.Fatalf("tags after an overwrite: %v", got)
	}

	for code, call := range map[string]func() error{
		"InvalidResourceId": func() error {
			_, err := c.ListTagsForResource(e.ctx, &ssm.ListTagsForResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/nope")})
			return err
		},
		"InvalidResourceType": func() error {
			_, err := c.ListTagsForResource(e.ctx, &ssm.ListTagsForResourceInput{ResourceType: "Bucket", ResourceId: aws.String("/app/ami")})
			return err
		},
		"ValidationException": func() error {
			_, err := c.AddTagsToResource(e.ctx, &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/ami"), Tags: []ssmtypes.Tag{{Key: aws.String("aws:x"), Value: aws.String("y")}}})
			return err
		},
		"TooManyTagsError": func() error {
			var tags []ssmtypes.Tag
			for i := 0; i < 50; i++ {
				tags = append(tags, ssmtypes.Tag{Key: aws.String(fmt.Sprintf("k%d", i)), Value: aws.String("v")})
			}
			_, err := c.AddTagsToResource(e.ctx, &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/ami"), Tags: tags})
			return err
		},
	} {
		if err := call(); errCode(err) != code {
			t.Errorf("want %s, got %v", code, err)
		}
	}
	// Another principal overwrites: LastModifiedUser follows.
	role := ssm.NewFromConfig(must(e.assumeRole(e.rootCfg(acctA, usE1), "arn:aws:iam::111111111111:role/reader", "")))
	if _, err := role.AddTagsToResource(e.ctx, &ssm.AddTagsToResourceInput{ResourceType: ssmtypes.ResourceTypeForTaggingParameter, ResourceId: aws.String("/app/ami"), Tags: []ssmtypes.Tag{{Key: aws.String("a"), Value: aws.String("b")}}}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("AddTagsToResource without ssm:AddTagsToResource: %v", err)
	}
}
