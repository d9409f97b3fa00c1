package wire

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func formRequest(body string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	return r
}

func jsonRequest(target, body string) *http.Request {
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	if target != "" {
		r.Header.Set("X-Amz-Target", target)
	}
	return r
}

func wantAPIError(t *testing.T, err error, code, mention string) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want *APIError %s", err, err, code)
	}
	if ae.Code != code || !strings.Contains(ae.Message, mention) {
		t.Errorf("error = %q %q, want code %q mentioning %q", ae.Code, ae.Message, code, mention)
	}
	return ae
}

func TestDecodeRequiredAndInvalid(t *testing.T) {
	ec2 := MustLoad("ec2")
	_, _, err := ec2.DecodeRequest(formRequest("Action=CopyImage&Version=2016-11-15&Name=n&SourceImageId=ami-1"))
	wantAPIError(t, err, "MissingParameter", "SourceRegion")

	op, _, err := ec2.DecodeRequest(formRequest("Action=DescribeImages&Version=2016-11-15&MaxResults=abc"))
	if op == nil || op.Name != "DescribeImages" {
		t.Errorf("op = %v, want DescribeImages even on invalid input", op)
	}
	wantAPIError(t, err, "InvalidParameterValue", "MaxResults")

	_, _, err = ec2.DecodeRequest(formRequest("Action=DescribeImages&IncludeDeprecated=maybe"))
	wantAPIError(t, err, "InvalidParameterValue", "IncludeDeprecated")

	// CreateTags requires Resources (wire name ResourceId) and Tags.
	_, _, err = ec2.DecodeRequest(formRequest("Action=CreateTags&Tag.1.Key=k"))
	wantAPIError(t, err, "MissingParameter", "ResourceId")

	sts := MustLoad("sts")
	_, _, err = sts.DecodeRequest(formRequest("Action=AssumeRole&Version=2011-06-15&RoleSessionName=s"))
	wantAPIError(t, err, "ValidationError", "roleArn")
	_, _, err = sts.DecodeRequest(formRequest("Action=AssumeRole&RoleArn=a&RoleSessionName=s&DurationSeconds=1h"))
	wantAPIError(t, err, "ValidationError", "durationSeconds")

	as := MustLoad("autoscaling")
	_, _, err = as.DecodeRequest(formRequest("Action=CreateAutoScalingGroup&AutoScalingGroupName=g&MinSize=0&MaxSize=1&Tags.member.1.Value=v"))
	wantAPIError(t, err, "ValidationError", "tags.member.1.key")

	kms := MustLoad("kms")
	_, _, err = kms.DecodeRequest(jsonRequest("TrentService.DescribeKey", `{}`))
	wantAPIError(t, err, "ValidationException", "keyId")
	_, _, err = kms.DecodeRequest(jsonRequest("TrentService.ListKeys", `{"Limit":"ten"}`))
	wantAPIError(t, err, "ValidationException", "limit")
	_, _, err = kms.DecodeRequest(jsonRequest("TrentService.Decrypt", `{"CiphertextBlob":"!!not base64"}`))
	wantAPIError(t, err, "ValidationException", "ciphertextBlob")
	_, _, err = kms.DecodeRequest(jsonRequest("TrentService.ListKeys", `{"Limit":`))
	wantAPIError(t, err, "SerializationException", "")
}

func TestDecodeUnknownAction(t *testing.T) {
	ec2 := MustLoad("ec2")
	_, _, err := ec2.DecodeRequest(formRequest("Action=LaunchRockets&Version=2016-11-15"))
	ae := wantAPIError(t, err, "InvalidAction", "LaunchRockets")
	if ec2.HTTPStatus(ae) != 400 {
		t.Errorf("status %d", ec2.HTTPStatus(ae))
	}
	_, _, err = ec2.DecodeRequest(formRequest(""))
	wantAPIError(t, err, "InvalidAction", "Action")
	// Modeled by EC2 but not served by the sandbox.
	_, _, err = ec2.DecodeRequest(formRequest("Action=DescribeHosts"))
	wantAPIError(t, err, "InvalidAction", "DescribeHosts")

	iam := MustLoad("iam")
	_, _, err = iam.DecodeRequest(formRequest("Action=DeleteAccount"))
	wantAPIError(t, err, "InvalidAction", "DeleteAccount")

	kms := MustLoad("kms")
	_, _, err = kms.DecodeRequest(jsonRequest("TrentService.Explode", `{}`))
	wantAPIError(t, err, "UnknownOperationException", "Explode")
	_, _, err = kms.DecodeRequest(jsonRequest("AmazonSSM.GetParameter", `{}`))
	wantAPIError(t, err, "UnknownOperationException", "")
	_, _, err = kms.DecodeRequest(jsonRequest("", `{}`))
	wantAPIError(t, err, "UnknownOperationException", "")
}

func TestDecodeQueryForms(t *testing.T) {
	ec2 := MustLoad("ec2")
	// Parameters may come in the URL query (GET), unknown ones are ignored,
	// and the body stays readable.
	r := httptest.NewRequest("GET", "/?Action=DescribeImages&Version=2016-11-15&ImageId.2=ami-b&ImageId.1=ami-a&Bogus=1&Filter.1.Name=x", nil)
	op, in, err := ec2.DecodeRequest(r)
	if err != nil || op.Name != "DescribeImages" {
		t.Fatal(op, err)
	}
	want := map[string]any{"ImageIds": []any{"ami-a", "ami-b"}, "Filters": []any{map[string]any{"Name": "x"}}}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got %#v", in)
	}

	body := "Action=DescribeSnapshots&SnapshotId.1=snap-1&RestorableBy.1=123&Owner.1=self"
	r = formRequest(body)
	_, in, err = ec2.DecodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(Strs(in, "SnapshotIds"), []string{"snap-1"}) || !reflect.DeepEqual(Strs(in, "OwnerIds"), []string{"self"}) ||
		!reflect.DeepEqual(Strs(in, "RestorableByUserIds"), []string{"123"}) {
		t.Errorf("got %#v", in)
	}
	if b, _ := io.ReadAll(r.Body); string(b) != body {
		t.Errorf("body not restored: %q", b)
	}

	// EC2 locationName capitalisation and nested lists (LaunchTemplateData).
	_, in, err = ec2.DecodeRequest(formRequest(url.Values{
		"Action":                      {"CreateLaunchTemplate"},
		"LaunchTemplateName":          {"lt"},
		"LaunchTemplateData.ImageId":  {"ami-1"},
		"LaunchTemplateData.UserData": {"IyEvYmluL3No"},
		"LaunchTemplateData.BlockDeviceMapping.1.DeviceName":     {"/dev/xvda"},
		"LaunchTemplateData.BlockDeviceMapping.1.Ebs.Encrypted":  {"true"},
		"LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize": {"20"},
		"LaunchTemplateData.SecurityGroupId.1":                   {"sg-1"},
		"LaunchTemplateData.MetadataOptions.HttpTokens":          {"required"},
		"TagSpecification.1.ResourceType":                        {"launch-template"},
		"TagSpecification.1.Tag.1.Key":                           {"k"},
		"TagSpecification.1.Tag.1.Value":                         {"v"},
	}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	ltd := Struct(in, "LaunchTemplateData")
	bdm := Structs(ltd, "BlockDeviceMappings")
	if Str(ltd, "ImageId") != "ami-1" || Str(ltd, "UserData") != "IyEvYmluL3No" || len(bdm) != 1 ||
		!Bool(Struct(bdm[0], "Ebs"), "Encrypted") || Int(Struct(bdm[0], "Ebs"), "VolumeSize") != 20 ||
		!reflect.DeepEqual(Strs(ltd, "SecurityGroupIds"), []string{"sg-1"}) ||
		Str(Struct(ltd, "MetadataOptions"), "HttpTokens") != "required" {
		t.Errorf("LaunchTemplateData = %#v", ltd)
	}
	ts := Structs(in, "TagSpecifications")
	if len(ts) != 1 || Str(ts[0], "ResourceType") != "launch-template" || Str(Structs(ts[0], "Tags")[0], "Value") != "v" {
		t.Errorf("TagSpecifications = %#v", ts)
	}

	// Query protocol: lists use .member.N, an empty value encodes an empty list,
	// timestamps are ISO 8601.
	as := MustLoad("autoscaling")
	_, in, err = as.DecodeRequest(formRequest("Action=DescribeAutoScalingGroups&AutoScalingGroupNames.member.1=a&AutoScalingGroupNames.member.2=b&Filters=&MaxRecords=5"))
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{"AutoScalingGroupNames": []any{"a", "b"}, "Filters": []any{}, "MaxRecords": int64(5)}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got %#v", in)
	}
}

func TestDecodeJSONTypes(t *testing.T) {
	ssm := MustLoad("ssm")
	op, in, err := ssm.DecodeRequest(jsonRequest("AmazonSSM.GetParametersByPath",
		`{"Path":"/a","Recursive":true,"MaxResults":10,"ParameterFilters":[{"Key":"Type","Values":["String"]}],"Unknown":{"x":1},"NextToken":null}`))
	if err != nil || op.Name != "GetParametersByPath" {
		t.Fatal(op, err)
	}
	want := map[string]any{
		"Path": "/a", "Recursive": true, "MaxResults": int64(10),
		"ParameterFilters": []any{map[string]any{"Key": "Type", "Values": []any{"String"}}},
	}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got %#v", in)
	}
	// Empty body for an operation without required input.
	kms := MustLoad("kms")
	_, in, err = kms.DecodeRequest(jsonRequest("TrentService.ListKeys", ""))
	if err != nil || len(in) != 0 {
		t.Errorf("ListKeys empty body: %v %v", in, err)
	}
	_, in, err = kms.DecodeRequest(jsonRequest("TrentService.ScheduleKeyDeletion", `{"KeyId":"k","PendingWindowInDays":7.0}`))
	if err != nil || Int(in, "PendingWindowInDays") != 7 {
		t.Errorf("ScheduleKeyDeletion: %v %v", in, err)
	}
}

func TestTimestampParsing(t *testing.T) {
	want := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, s := range []string{"2026-11-23T10:00:00Z", "2026-11-23T10:00:00.000Z", "2026-11-23T11:00:00+01:00", "2026-11-23T10:00:00", "1795428000"} {
		got, ok := parseTimestamp(s)
		if !ok || !got.Equal(want) {
			t.Errorf("parseTimestamp(%q) = %v, %v", s, got, ok)
		}
	}
}

func TestWriteResponseValidation(t *testing.T) {
	ec2 := MustLoad("ec2")
	op, _ := ec2.Operation("DescribeImages")
	cases := []map[string]any{
		{"Imagez": []any{}},
		{"Images": []any{map[string]any{"ImageID": "typo"}}},
		{"Images": []any{map[string]any{"ImageId": 5}}},
		{"Images": "not a list"},
		{"Images": []any{nil}},
		{"Images": []any{map[string]any{"BlockDeviceMappings": []any{map[string]any{"Ebs": map[string]any{"VolumeSize": "8"}}}}}},
	}
	for _, out := range cases {
		w := httptest.NewRecorder()
		if err := ec2.WriteResponse(w, op, out, "r"); err == nil {
			t.Errorf("WriteResponse(%v) succeeded", out)
		} else if w.Body.Len() != 0 {
			t.Errorf("WriteResponse wrote a body on error %v", err)
		}
	}
	del, _ := ec2.Operation("DeleteTags")
	if err := ec2.WriteResponse(httptest.NewRecorder(), del, map[string]any{"Return": true}, "r"); err == nil {
		t.Error("output for an operation without output accepted")
	}
	kmsOp, _ := MustLoad("kms").Operation("ListKeys")
	if err := ec2.WriteResponse(httptest.NewRecorder(), kmsOp, nil, "r"); err == nil {
		t.Error("operation of another service accepted")
	}
	// Nil pointers and nil maps are omitted.
	var s *string
	w := httptest.NewRecorder()
	if err := ec2.WriteResponse(w, op, map[string]any{"NextToken": s, "Images": []map[string]any{{"ImageId": "a", "StateReason": map[string]any(nil)}}}, "r"); err != nil {
		t.Fatal(err)
	}
	if b := w.Body.String(); strings.Contains(b, "nextToken") || strings.Contains(b, "stateReason") || !strings.Contains(b, "<imageId>a</imageId>") {
		t.Errorf("body %s", b)
	}
}

func TestWriteErrorFormats(t *testing.T) {
	for _, tc := range []struct {
		svc, want, ctype string
		status           int
		e                *APIError
	}{
		{"ec2", `<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>a &lt;b&gt;</Message></Error></Errors><RequestID>rid</RequestID></Response>`, "text/xml;charset=UTF-8", 400,
			Errorf("InvalidAMIID.NotFound", "a <b>")},
		{"iam", `<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>NoSuchEntity</Code><Message>m</Message></Error><RequestId>rid</RequestId></ErrorResponse>`, "text/xml", 404,
			Errorf("NoSuchEntity", "m")},
		{"sts", `<Type>Receiver</Type><Code>InternalFailure</Code>`, "text/xml", 500,
			&APIError{Code: "InternalFailure", Retryable: true}},
		{"kms", `{"__type":"NotFoundException","message":"m"}`, "application/x-amz-json-1.1", 400,
			Errorf("NotFoundException", "m")},
		{"ssm", `{"__type":"ThrottlingException","message":"slow"}`, "application/x-amz-json-1.1", 429,
			&APIError{Code: "ThrottlingException", Message: "slow", Status: 429}},
		{"organizations", `{"Reason":"INVALID_NEXT_TOKEN","__type":"InvalidInputException","message":"m"}`, "application/x-amz-json-1.1", 400,
			&APIError{Code: "InvalidInputException", Message: "m", Fields: map[string]string{"Reason": "INVALID_NEXT_TOKEN"}}},
	} {
		s := MustLoad(tc.svc)
		w := httptest.NewRecorder()
		s.WriteError(w, tc.e, "rid")
		if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) || w.Header().Get("Content-Type") != tc.ctype ||
			w.Header().Get("X-Amzn-Requestid") != "rid" {
			t.Errorf("%s: %d %v %s", tc.svc, w.Code, w.Header(), w.Body)
		}
		if s.Protocol == ProtocolJSON && w.Header().Get("X-Amzn-Errortype") != tc.e.Code {
			t.Errorf("%s: X-Amzn-ErrorType = %q", tc.svc, w.Header().Get("X-Amzn-Errortype"))
		}
	}
	if got := AsAPIError(errors.New("x")); got.Code != "InternalError" || !got.Retryable {
		t.Errorf("AsAPIError = %+v", got)
	}
	wrapped := errors.Join(errors.New("ctx"), Errorf("C", "m"))
	if got := AsAPIError(wrapped); got.Code != "C" {
		t.Errorf("AsAPIError(wrapped) = %+v", got)
	}
}

// TestModelsMatchOperationList fails when operations.txt was edited without
// running `go generate`.
func TestModelsMatchOperationList(t *testing.T) {
	f, err := os.Open("operations.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		fields := strings.Fields(line)
		if len(fields) != 2 {
			continue
		}
		if listed[fields[0]] == nil {
			listed[fields[0]] = map[string]bool{}
		}
		listed[fields[0]][fields[1]] = true
	}
	var names []string
	for n := range listed {
		names = append(names, n)
	}
	if got := Services(); len(got) != len(listed) {
		t.Errorf("Services() = %v, operations.txt lists %v", got, names)
	}
	for svcName, ops := range listed {
		s, err := Load(svcName)
		if err != nil {
			t.Errorf("%v (run go generate)", err)
			continue
		}
		for op := range ops {
			if _, ok := s.Operation(op); !ok {
				t.Errorf("%s %s missing from models (run go generate)", svcName, op)
			}
		}
		if len(s.Operations()) != len(ops) {
			t.Errorf("%s: model has %d operations, operations.txt %d (run go generate)", svcName, len(s.Operations()), len(ops))
		}
	}
	wantMeta := map[string][4]string{
		"ec2":         {"ec2", "ec2", "", "http://ec2.amazonaws.com/doc/2016-11-15/"},
		"kms":         {"kms", "json", "TrentService", ""},
		"iam":         {"iam", "query", "", "https://iam.amazonaws.com/doc/2010-05-08/"},
		"sts":         {"sts", "query", "", "https://sts.amazonaws.com/doc/2011-06-15/"},
		"autoscaling": {"autoscaling", "query", "", "http://autoscaling.amazonaws.com/doc/2011-01-01/"},
		"ssm":         {"ssm", "json", "AmazonSSM", ""},
		"cloudtrail":  {"cloudtrail", "json", "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101", ""},
	}
	for name, m := range wantMeta {
		s := MustLoad(name)
		if got := [4]string{s.SigningName, string(s.Protocol), s.TargetPrefix, s.XMLNamespace}; got != m {
			t.Errorf("%s metadata = %v, want %v", name, got, m)
		}
	}
	op, _ := MustLoad("sts").Operation("AssumeRole")
	if op.ResultWrapper != "AssumeRoleResult" || op.Input != "AssumeRoleRequest" || op.Service().Name != "sts" {
		t.Errorf("AssumeRole = %+v", op)
	}
	if _, err := Load("s3"); err == nil {
		t.Error("Load(s3) succeeded")
	}
}
