package wire

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"
)

func TestSTSAssumeRole(t *testing.T) {
	exp := time.Date(2026, 11, 23, 11, 0, 0, 250e6, time.UTC)
	f := newFake(t, "sts", func(op *Operation, in map[string]any) (map[string]any, error) {
		want := map[string]any{
			"RoleArn":           "arn:aws:iam::123456789012:role/amicrypt",
			"RoleSessionName":   "amicrypt-session",
			"DurationSeconds":   int64(900),
			"ExternalId":        "ext-1",
			"Tags":              []any{map[string]any{"Key": "project", "Value": "amicrypt"}},
			"TransitiveTagKeys": []any{"project"},
			"PolicyArns":        []any{map[string]any{"arn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}},
		}
		if op.Name != "AssumeRole" || !reflect.DeepEqual(in, want) {
			t.Errorf("%s input\n got %#v\nwant %#v", op.Name, in, want)
		}
		return map[string]any{
			"Credentials": map[string]any{
				"AccessKeyId": "ASIATEST", "SecretAccessKey": "s3cr3t", "SessionToken": "tok", "Expiration": exp,
			},
			"AssumedRoleUser":  map[string]string{"AssumedRoleId": "AROA1:amicrypt-session", "Arn": "arn:aws:sts::123456789012:assumed-role/amicrypt/amicrypt-session"},
			"PackedPolicySize": 6,
		}, nil
	})
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL), Credentials: testCreds, Retryer: noRetry()})
	out, err := c.AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn:           aws.String("arn:aws:iam::123456789012:role/amicrypt"),
		RoleSessionName:   aws.String("amicrypt-session"),
		DurationSeconds:   aws.Int32(900),
		ExternalId:        aws.String("ext-1"),
		Tags:              []ststypes.Tag{{Key: aws.String("project"), Value: aws.String("amicrypt")}},
		TransitiveTagKeys: []string{"project"},
		PolicyArns:        []ststypes.PolicyDescriptorType{{Arn: aws.String("arn:aws:iam::aws:policy/ReadOnlyAccess")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cr := out.Credentials
	if cr == nil || aws.ToString(cr.AccessKeyId) != "ASIATEST" || aws.ToString(cr.SecretAccessKey) != "s3cr3t" ||
		aws.ToString(cr.SessionToken) != "tok" || !aws.ToTime(cr.Expiration).Equal(exp) {
		t.Errorf("credentials = %+v (expiration %v)", cr, aws.ToTime(cr.Expiration))
	}
	//lint:ignore SA1019 the deprecated member is still on the wire and exercises integer decoding
	if aws.ToString(out.AssumedRoleUser.AssumedRoleId) != "AROA1:amicrypt-session" || aws.ToInt32(out.PackedPolicySize) != 6 {
		t.Errorf("output = %+v", out)
	}
	if id, _ := awsmiddlewareRequestID(out.ResultMetadata); id != "req-sts-1" {
		t.Errorf("request id = %q", id)
	}

	// GetCallerIdentity has no input members.
	f.fn = func(op *Operation, in map[string]any) (map[string]any, error) {
		return map[string]any{"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/dev", "UserId": "AIDA1"}, nil
	}
	id, err := c.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(id.Account) != "123456789012" {
		t.Fatalf("GetCallerIdentity = %+v, %v", id, err)
	}
}

func iamClient(f *fakeAWS, r aws.Retryer) *iam.Client {
	return iam.New(iam.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL), Credentials: testCreds, Retryer: r})
}

func TestIAMCreateServiceLinkedRole(t *testing.T) {
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f := newFake(t, "iam", func(op *Operation, in map[string]any) (map[string]any, error) {
		want := map[string]any{
			"AWSServiceName": "autoscaling.amazonaws.com",
			"CustomSuffix":   "amicrypt",
			"Description":    "ASG role",
		}
		if !reflect.DeepEqual(in, want) {
			t.Errorf("input %#v", in)
		}
		return map[string]any{"Role": map[string]any{
			"Path":                     "/aws-service-role/autoscaling.amazonaws.com/",
			"RoleName":                 "AWSServiceRoleForAutoScaling_amicrypt",
			"RoleId":                   "AROA123",
			"Arn":                      "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_amicrypt",
			"CreateDate":               created,
			"AssumeRolePolicyDocument": `{"Version":"2012-10-17"}`,
			"Tags":                     []map[string]string{{"Key": "a", "Value": "b"}},
		}}, nil
	})
	out, err := iamClient(f, noRetry()).CreateServiceLinkedRole(ctx(t), &iam.CreateServiceLinkedRoleInput{
		AWSServiceName: aws.String("autoscaling.amazonaws.com"),
		CustomSuffix:   aws.String("amicrypt"),
		Description:    aws.String("ASG role"),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := out.Role
	if aws.ToString(r.RoleName) != "AWSServiceRoleForAutoScaling_amicrypt" || !aws.ToTime(r.CreateDate).Equal(created) ||
		aws.ToString(r.AssumeRolePolicyDocument) != `{"Version":"2012-10-17"}` || len(r.Tags) != 1 || aws.ToString(r.Tags[0].Value) != "b" {
		t.Errorf("role = %+v", r)
	}
}

func TestIAMModeledErrorAndListRoles(t *testing.T) {
	f := newFake(t, "iam", func(op *Operation, in map[string]any) (map[string]any, error) {
		switch op.Name {
		case "GetRole":
			return nil, Errorf("NoSuchEntity", "The role with name %s cannot be found.", Str(in, "RoleName"))
		case "ListRoles":
			if Str(in, "PathPrefix") != "/amicrypt/" || Int(in, "MaxItems") != 1 {
				t.Errorf("ListRoles input %#v", in)
			}
			return map[string]any{
				"Roles": []any{map[string]any{
					"Path": "/amicrypt/", "RoleName": "r1", "RoleId": "AROA1", "Arn": "arn:aws:iam::1:role/amicrypt/r1",
					"CreateDate": time.Unix(1700000000, 0),
				}},
				"IsTruncated": true,
				"Marker":      "next",
			}, nil
		}
		return nil, Errorf("InvalidAction", "unexpected")
	})
	c := iamClient(f, noRetry())
	_, err := c.GetRole(ctx(t), &iam.GetRoleInput{RoleName: aws.String("missing")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) || nse.ErrorMessage() != "The role with name missing cannot be found." {
		t.Fatalf("err = %v (%T)", err, err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 404 {
		t.Errorf("status = %v (model declares 404 for NoSuchEntity)", re)
	}
	out, err := c.ListRoles(ctx(t), &iam.ListRolesInput{PathPrefix: aws.String("/amicrypt/"), MaxItems: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Roles) != 1 || aws.ToString(out.Roles[0].RoleName) != "r1" || !out.IsTruncated || aws.ToString(out.Marker) != "next" ||
		aws.ToTime(out.Roles[0].CreateDate).Unix() != 1700000000 {
		t.Errorf("ListRoles = %+v", out)
	}
}

func TestQueryErrors(t *testing.T) {
	var calls int
	f := newFake(t, "sts", func(op *Operation, in map[string]any) (map[string]any, error) {
		calls++
		switch calls {
		case 1:
			return nil, Errorf("AccessDenied", "User is not authorized to perform: sts:AssumeRole")
		case 2:
			return nil, &APIError{Code: "ServiceUnavailable", Message: "try later", Retryable: true}
		}
		return map[string]any{"Account": "1"}, nil
	})
	c := sts.New(sts.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL), Credentials: testCreds, Retryer: fastRetry()})
	_, err := c.AssumeRole(ctx(t), &sts.AssumeRoleInput{RoleArn: aws.String("arn:aws:iam::1:role/x"), RoleSessionName: aws.String("s")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDenied" || ae.ErrorMessage() != "User is not authorized to perform: sts:AssumeRole" {
		t.Fatalf("err = %v", err)
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 403 || re.ServiceRequestID() != "req-sts-1" {
		t.Errorf("response error = %v", re)
	}
	if n := len(f.attempts()); n != 1 {
		t.Errorf("AccessDenied attempted %d times", n)
	}
	// A Receiver (retryable) error is retried and then succeeds.
	out, err := c.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil || aws.ToString(out.Account) != "1" {
		t.Fatalf("GetCallerIdentity = %v, %v", out, err)
	}
	if n := len(f.attempts()); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
}

func TestAutoScaling(t *testing.T) {
	start := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	f := newFake(t, "autoscaling", func(op *Operation, in map[string]any) (map[string]any, error) {
		switch op.Name {
		case "CreateAutoScalingGroup":
			want := map[string]any{
				"AutoScalingGroupName": "amicrypt-asg",
				"LaunchTemplate":       map[string]any{"LaunchTemplateId": "lt-1", "Version": "$Latest"},
				"VPCZoneIdentifier":    "subnet-1,subnet-2",
				"ServiceLinkedRoleARN": "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_amicrypt",
				"MinSize":              int64(0),
				"MaxSize":              int64(2),
				"DesiredCapacity":      int64(1),
				"Tags": []any{map[string]any{
					"Key": "Name", "Value": "builder", "PropagateAtLaunch": true,
					"ResourceId": "amicrypt-asg", "ResourceType": "auto-scaling-group",
				}},
				"TerminationPolicies": []any{"OldestInstance"},
			}
			if !reflect.DeepEqual(in, want) {
				t.Errorf("input\n got %#v\nwant %#v", in, want)
			}
			return nil, nil
		case "DescribeScalingActivities":
			if Str(in, "AutoScalingGroupName") != "amicrypt-asg" || Int(in, "MaxRecords") != 10 {
				t.Errorf("input %#v", in)
			}
			return map[string]any{
				"Activities": []map[string]any{{
					"ActivityId": "act-1", "AutoScalingGroupName": "amicrypt-asg",
					"Cause":       "At 2026-11-23T09:00:00Z a user request created an AutoScalingGroup",
					"Description": "Launching a new EC2 instance: i-1",
					"StartTime":   start, "EndTime": start.Add(time.Minute),
					"StatusCode": "Successful", "Progress": 100, "Details": `{"Subnet ID":"subnet-1"}`,
				}},
				"NextToken": "tok-2",
			}, nil
		case "CreateLaunchConfiguration":
		}
		return nil, Errorf("InvalidAction", "unexpected %s", op.Name)
	})
	c := autoscaling.New(autoscaling.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL), Credentials: testCreds, Retryer: noRetry()})
	_, err := c.CreateAutoScalingGroup(ctx(t), &autoscaling.CreateAutoScalingGroupInput{
		AutoScalingGroupName: aws.String("amicrypt-asg"),
		LaunchTemplate:       &astypes.LaunchTemplateSpecification{LaunchTemplateId: aws.String("lt-1"), Version: aws.String("$Latest")},
		VPCZoneIdentifier:    aws.String("subnet-1,subnet-2"),
		ServiceLinkedRoleARN: aws.String("arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling_amicrypt"),
		MinSize:              aws.Int32(0),
		MaxSize:              aws.Int32(2),
		DesiredCapacity:      aws.Int32(1),
		Tags: []astypes.Tag{{Key: aws.String("Name"), Value: aws.String("builder"), PropagateAtLaunch: aws.Bool(true),
			ResourceId: aws.String("amicrypt-asg"), ResourceType: aws.String("auto-scaling-group")}},
		TerminationPolicies: []string{"OldestInstance"},
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.DescribeScalingActivities(ctx(t), &autoscaling.DescribeScalingActivitiesInput{
		AutoScalingGroupName: aws.String("amicrypt-asg"), MaxRecords: aws.Int32(10),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Activities) != 1 || aws.ToString(out.NextToken) != "tok-2" {
		t.Fatalf("output = %+v", out)
	}
	a := out.Activities[0]
	if aws.ToString(a.ActivityId) != "act-1" || a.StatusCode != astypes.ScalingActivityStatusCodeSuccessful ||
		aws.ToInt32(a.Progress) != 100 || !aws.ToTime(a.StartTime).Equal(start) || !aws.ToTime(a.EndTime).Equal(start.Add(time.Minute)) ||
		aws.ToString(a.Details) != `{"Subnet ID":"subnet-1"}` {
		t.Errorf("activity = %+v", a)
	}
}
