package wire

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
)

func ec2Client(f *fakeAWS, retryer aws.Retryer) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(f.URL),
		Credentials:  testCreds,
		Retryer:      retryer,
	})
}

func TestEC2DescribeImages(t *testing.T) {
	created := "2026-11-23T10:00:00.000Z"
	f := newFake(t, "ec2", func(op *Operation, in map[string]any) (map[string]any, error) {
		if op.Name != "DescribeImages" {
			return nil, fmt.Errorf("unexpected %s", op.Name)
		}
		want := map[string]any{
			"ImageIds": []any{"ami-1", "ami-2"},
			"Owners":   []any{"self", "123456789012"},
			"Filters": []any{
				map[string]any{"Name": "tag:Name", "Values": []any{"web", "db"}},
				map[string]any{"Name": "state", "Values": []any{"available"}},
			},
			"IncludeDeprecated": true,
			"DryRun":            false,
			"MaxResults":        int64(50),
		}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("decoded input\n got %#v\nwant %#v", in, want)
		}
		if got := Filters(in); !reflect.DeepEqual(got, map[string][]string{"tag:Name": {"web", "db"}, "state": {"available"}}) {
			t.Errorf("Filters = %v", got)
		}
		if got := Strs(in, "ImageIds"); !reflect.DeepEqual(got, []string{"ami-1", "ami-2"}) {
			t.Errorf("Strs = %v", got)
		}
		if Int(in, "MaxResults") != 50 || !Bool(in, "IncludeDeprecated") {
			t.Errorf("Int/Bool getters wrong")
		}
		name := "web"
		return map[string]any{
			"Images": []map[string]any{{
				"ImageId":            "ami-1",
				"Name":               &name,
				"State":              "available",
				"Public":             false,
				"CreationDate":       created,
				"OwnerId":            "123456789012",
				"Architecture":       "x86_64",
				"RootDeviceName":     "/dev/xvda",
				"RootDeviceType":     "ebs",
				"VirtualizationType": "hvm",
				"EnaSupport":         true,
				"Description":        `a <b>&"quoted"</b> description`,
				"BlockDeviceMappings": []any{
					map[string]any{"DeviceName": "/dev/xvda", "Ebs": map[string]any{
						"SnapshotId": "snap-1", "VolumeSize": 8, "Encrypted": true, "Iops": int32(3000),
						"KmsKeyId":            "arn:aws:kms:us-east-1:123456789012:key/k1",
						"DeleteOnTermination": true, "VolumeType": "gp3",
					}},
					map[string]any{"DeviceName": "/dev/sdb", "VirtualName": "ephemeral0"},
				},
				"Tags": []map[string]any{{"Key": "Name", "Value": "web"}, {"Key": "env", "Value": "test"}},
			}, {
				"ImageId": "ami-2",
				"Tags":    []map[string]any{},
			}},
		}, nil
	})
	out, err := ec2Client(f, noRetry()).DescribeImages(ctx(t), &ec2.DescribeImagesInput{
		ImageIds: []string{"ami-1", "ami-2"},
		Owners:   []string{"self", "123456789012"},
		Filters: []ec2types.Filter{
			{Name: aws.String("tag:Name"), Values: []string{"web", "db"}},
			{Name: aws.String("state"), Values: []string{"available"}},
		},
		IncludeDeprecated: aws.Bool(true),
		DryRun:            aws.Bool(false),
		MaxResults:        aws.Int32(50),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Images) != 2 {
		t.Fatalf("got %d images", len(out.Images))
	}
	img := out.Images[0]
	if aws.ToString(img.ImageId) != "ami-1" || aws.ToString(img.Name) != "web" || img.State != ec2types.ImageStateAvailable ||
		aws.ToBool(img.Public) || aws.ToString(img.CreationDate) != created || !aws.ToBool(img.EnaSupport) ||
		img.Architecture != ec2types.ArchitectureValuesX8664 || img.RootDeviceType != ec2types.DeviceTypeEbs {
		t.Errorf("image = %+v", img)
	}
	if got := aws.ToString(img.Description); got != `a <b>&"quoted"</b> description` {
		t.Errorf("description = %q", got)
	}
	if len(img.BlockDeviceMappings) != 2 {
		t.Fatalf("mappings = %+v", img.BlockDeviceMappings)
	}
	ebs := img.BlockDeviceMappings[0].Ebs
	if ebs == nil || aws.ToString(ebs.SnapshotId) != "snap-1" || aws.ToInt32(ebs.VolumeSize) != 8 || !aws.ToBool(ebs.Encrypted) ||
		aws.ToInt32(ebs.Iops) != 3000 || ebs.VolumeType != ec2types.VolumeTypeGp3 || !aws.ToBool(ebs.DeleteOnTermination) ||
		aws.ToString(ebs.KmsKeyId) != "arn:aws:kms:us-east-1:123456789012:key/k1" {
		t.Errorf("ebs = %+v", ebs)
	}
	if bdm := img.BlockDeviceMappings[1]; aws.ToString(bdm.DeviceName) != "/dev/sdb" || aws.ToString(bdm.VirtualName) != "ephemeral0" || bdm.Ebs != nil {
		t.Errorf("mapping[1] = %+v", bdm)
	}
	if len(img.Tags) != 2 || aws.ToString(img.Tags[1].Key) != "env" || aws.ToString(img.Tags[1].Value) != "test" {
		t.Errorf("tags = %+v", img.Tags)
	}
	if aws.ToString(out.Images[1].ImageId) != "ami-2" || len(out.Images[1].Tags) != 0 {
		t.Errorf("image[1] = %+v", out.Images[1])
	}
	if id, _ := awsmiddlewareRequestID(out.ResultMetadata); id != "req-ec2-1" {
		t.Errorf("request id = %q", id)
	}
}

func TestEC2CopyImageTagSpecifications(t *testing.T) {
	f := newFake(t, "ec2", func(op *Operation, in map[string]any) (map[string]any, error) {
		token := Str(in, "ClientToken")
		if token == "" {
			t.Errorf("SDK idempotency token not decoded: %#v", in)
		}
		delete(in, "ClientToken")
		want := map[string]any{
			"Name":          "copy",
			"SourceImageId": "ami-src",
			"SourceRegion":  "us-west-2",
			"Encrypted":     true,
			"KmsKeyId":      "alias/amicrypt",
			"CopyImageTags": false,
			"TagSpecifications": []any{
				map[string]any{"ResourceType": "image", "Tags": []any{
					map[string]any{"Key": "Name", "Value": "copy"},
					map[string]any{"Key": "amicrypt:source", "Value": "ami-src"},
				}},
				map[string]any{"ResourceType": "snapshot", "Tags": []any{
					map[string]any{"Key": "Name", "Value": ""},
				}},
			},
		}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("decoded input\n got %#v\nwant %#v", in, want)
		}
		return map[string]any{"ImageId": "ami-copy"}, nil
	})
	out, err := ec2Client(f, noRetry()).CopyImage(ctx(t), &ec2.CopyImageInput{
		Name:          aws.String("copy"),
		SourceImageId: aws.String("ami-src"),
		SourceRegion:  aws.String("us-west-2"),
		Encrypted:     aws.Bool(true),
		KmsKeyId:      aws.String("alias/amicrypt"),
		CopyImageTags: aws.Bool(false),
		TagSpecifications: []ec2types.TagSpecification{
			{ResourceType: ec2types.ResourceTypeImage, Tags: []ec2types.Tag{
				{Key: aws.String("Name"), Value: aws.String("copy")},
				{Key: aws.String("amicrypt:source"), Value: aws.String("ami-src")},
			}},
			{ResourceType: ec2types.ResourceTypeSnapshot, Tags: []ec2types.Tag{{Key: aws.String("Name"), Value: aws.String("")}}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.ImageId) != "ami-copy" {
		t.Errorf("ImageId = %v", out.ImageId)
	}
}

func TestEC2RunInstancesAndNoOutputOps(t *testing.T) {
	launched := time.Date(2026, 11, 23, 10, 0, 0, 123e6, time.UTC)
	f := newFake(t, "ec2", func(op *Operation, in map[string]any) (map[string]any, error) {
		switch op.Name {
		case "RunInstances":
			lt := Struct(in, "LaunchTemplate")
			if Str(lt, "LaunchTemplateId") != "lt-1" || Str(lt, "Version") != "3" || Int(in, "MinCount") != 1 ||
				!reflect.DeepEqual(Strs(in, "SecurityGroupIds"), []string{"sg-1", "sg-2"}) {
				t.Errorf("RunInstances input = %#v", in)
			}
			md := Struct(in, "MetadataOptions")
			if Str(md, "HttpTokens") != "required" || Int(md, "HttpPutResponseHopLimit") != 2 {
				t.Errorf("MetadataOptions = %#v", md)
			}
			return map[string]any{
				"ReservationId": "r-1",
				"OwnerId":       "123456789012",
				"Instances": []any{map[string]any{
					"InstanceId": "i-1", "ImageId": "ami-1", "InstanceType": "t3.micro", "LaunchTime": launched,
					"State":          map[string]any{"Code": 0, "Name": "pending"},
					"SecurityGroups": []map[string]any{{"GroupId": "sg-1", "GroupName": "default"}},
					"Placement":      map[string]any{"AvailabilityZone": "us-east-1a"},
				}},
			}, nil
		case "CreateTags", "DeleteTags":
			if !reflect.DeepEqual(Strs(in, "Resources"), []string{"i-1"}) || len(Structs(in, "Tags")) != 1 {
				t.Errorf("%s input = %#v", op.Name, in)
			}
			return nil, nil
		}
		return nil, Errorf("InvalidAction", "unexpected %s", op.Name)
	})
	c := ec2Client(f, noRetry())
	out, err := c.RunInstances(ctx(t), &ec2.RunInstancesInput{
		MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		LaunchTemplate:   &ec2types.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("3")},
		SecurityGroupIds: []string{"sg-1", "sg-2"},
		MetadataOptions: &ec2types.InstanceMetadataOptionsRequest{
			HttpTokens: ec2types.HttpTokensStateRequired, HttpPutResponseHopLimit: aws.Int32(2),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Instances) != 1 {
		t.Fatalf("instances = %+v", out.Instances)
	}
	inst := out.Instances[0]
	if aws.ToString(inst.InstanceId) != "i-1" || inst.InstanceType != ec2types.InstanceTypeT3Micro ||
		!aws.ToTime(inst.LaunchTime).Equal(launched) || inst.State.Name != ec2types.InstanceStateNamePending ||
		aws.ToInt32(inst.State.Code) != 0 || aws.ToString(inst.SecurityGroups[0].GroupId) != "sg-1" ||
		aws.ToString(inst.Placement.AvailabilityZone) != "us-east-1a" || aws.ToString(out.ReservationId) != "r-1" {
		t.Errorf("instance = %+v", inst)
	}
	tags := []ec2types.Tag{{Key: aws.String("k"), Value: aws.String("v")}}
	if _, err := c.CreateTags(ctx(t), &ec2.CreateTagsInput{Resources: []string{"i-1"}, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteTags(ctx(t), &ec2.DeleteTagsInput{Resources: []string{"i-1"}, Tags: tags}); err != nil {
		t.Fatal(err)
	}
}

func TestEC2ErrorNotFound(t *testing.T) {
	f := newFake(t, "ec2", func(op *Operation, in map[string]any) (map[string]any, error) {
		return nil, Errorf("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", Strs(in, "ImageIds")[0])
	})
	_, err := ec2Client(f, fastRetry()).DescribeImages(ctx(t), &ec2.DescribeImagesInput{ImageIds: []string{"ami-404"}})
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want smithy.APIError", err, err)
	}
	if ae.ErrorCode() != "InvalidAMIID.NotFound" || ae.ErrorMessage() != "The image id '[ami-404]' does not exist" {
		t.Errorf("code %q message %q", ae.ErrorCode(), ae.ErrorMessage())
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 || re.ServiceRequestID() != "req-ec2-1" {
		t.Errorf("response error = %#v", re)
	}
	if n := len(f.attempts()); n != 1 {
		t.Errorf("non-retryable error attempted %d times", n)
	}
}

func TestEC2RequestLimitExceededIsRetried(t *testing.T) {
	var calls int
	f := newFake(t, "ec2", func(op *Operation, in map[string]any) (map[string]any, error) {
		calls++
		if calls < 3 {
			return nil, Errorf("RequestLimitExceeded", "Request limit exceeded.")
		}
		return map[string]any{"EbsEncryptionByDefault": true}, nil
	})
	out, err := ec2Client(f, fastRetry()).GetEbsEncryptionByDefault(ctx(t), &ec2.GetEbsEncryptionByDefaultInput{})
	if err != nil {
		t.Fatal(err)
	}
	if !aws.ToBool(out.EbsEncryptionByDefault) {
		t.Errorf("output = %+v", out)
	}
	if got := f.attempts(); len(got) != 3 {
		t.Errorf("attempts = %v, want 3", got)
	}

	// Exhausting the attempts surfaces the throttling error.
	calls = -10
	_, err = ec2Client(f, fastRetry()).GetEbsEncryptionByDefault(ctx(t), &ec2.GetEbsEncryptionByDefaultInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "RequestLimitExceeded" {
		t.Errorf("err = %v", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 503 {
		t.Errorf("status = %v", re)
	}
}

func TestEC2InternalErrorIsRetried(t *testing.T) {
	var calls int
	f := newFake(t, "ec2", func(op *Operation, in map[string]any) (map[string]any, error) {
		calls++
		if calls == 1 {
			return nil, InternalError("boom")
		}
		if calls == 2 {
			return nil, fmt.Errorf("plain Go error")
		}
		return map[string]any{"KmsKeyId": "alias/aws/ebs"}, nil
	})
	out, err := ec2Client(f, fastRetry()).GetEbsDefaultKmsKeyId(ctx(t), &ec2.GetEbsDefaultKmsKeyIdInput{})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.KmsKeyId) != "alias/aws/ebs" || len(f.attempts()) != 3 {
		t.Errorf("out = %+v attempts = %v", out, f.attempts())
	}
}
