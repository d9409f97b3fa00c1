package wire

import (
	"errors"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestParseCredentialScope(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=abcdef")
	r.Header.Set("X-Amz-Security-Token", "tok")
	sc, err := ParseCredentialScope(r)
	if err != nil {
		t.Fatal(err)
	}
	want := Scope{AccessKeyID: "AKIDEXAMPLE", Date: "20261123", Region: "us-east-1", Service: "ec2", SecurityToken: "tok",
		SignedHeaders: []string{"host", "x-amz-date", "x-amz-security-token"}}
	if !reflect.DeepEqual(sc, want) {
		t.Errorf("got %+v", sc)
	}

	r = httptest.NewRequest("GET", "/?Action=GetCallerIdentity&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=ASIA1%2F20261123%2Fus-west-2%2Fsts%2Faws4_request&X-Amz-SignedHeaders=host&X-Amz-Security-Token=t2&X-Amz-Signature=00", nil)
	sc, err = ParseCredentialScope(r)
	if err != nil {
		t.Fatal(err)
	}
	want = Scope{AccessKeyID: "ASIA1", Date: "20261123", Region: "us-west-2", Service: "sts", SecurityToken: "t2",
		SignedHeaders: []string{"host"}, Presigned: true}
	if !reflect.DeepEqual(sc, want) {
		t.Errorf("presigned: got %+v", sc)
	}

	// SigV4a: region comes from X-Amz-Region-Set.
	r = httptest.NewRequest("POST", "/", nil)
	r.Header.Set("Authorization", "AWS4-ECDSA-P256-SHA256 Credential=AKID/20261123/sts/aws4_request, SignedHeaders=host, Signature=00")
	r.Header.Set("X-Amz-Region-Set", "*")
	if sc, err = ParseCredentialScope(r); err != nil || sc.Region != "*" || sc.Service != "sts" {
		t.Errorf("sigv4a: %+v %v", sc, err)
	}

	_, err = ParseCredentialScope(httptest.NewRequest("POST", "/", nil))
	if !errors.Is(err, ErrMissingAuth) {
		t.Errorf("unsigned: err = %v", err)
	}
	for _, auth := range []string{
		"Basic dXNlcjpwYXNz",
		"AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
		"AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/ec2, SignedHeaders=host, Signature=00",
	} {
		r = httptest.NewRequest("POST", "/", nil)
		r.Header.Set("Authorization", auth)
		if _, err := ParseCredentialScope(r); err == nil || errors.Is(err, ErrMissingAuth) {
			t.Errorf("%q: err = %v, want malformed", auth, err)
		}
	}
}

func TestServiceForRequest(t *testing.T) {
	r := jsonRequest("AmazonSSM.GetParameter", "{}")
	if s, err := ServiceForRequest(r); err != nil || s.Name != "ssm" {
		t.Errorf("ssm: %v %v", s, err)
	}
	// CloudTrail's target prefix in full (botocore, the AWS CLI) and as the
	// service shape's name (aws-sdk-go-v2).
	for _, target := range []string{"com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents", "CloudTrail_20131101.LookupEvents"} {
		r := jsonRequest(target, "{}")
		s, err := ServiceForRequest(r)
		if err != nil || s.Name != "cloudtrail" {
			t.Errorf("%s: %v %v", target, s, err)
			continue
		}
		if op, _, err := s.DecodeRequest(r); err != nil || op.Name != "LookupEvents" {
			t.Errorf("%s decodes to %v, %v", target, op, err)
		}
	}
	if s := MustLoad("cloudtrail"); s.HasTargetPrefix("20131101.CloudTrail_20131101") || s.HasTargetPrefix("") {
		t.Error("HasTargetPrefix accepts a partial prefix")
	}
	r = formRequest("Action=GetUser")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00")
	if s, err := ServiceForRequest(r); err != nil || s.Name != "iam" {
		t.Errorf("iam: %v %v", s, err)
	}
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261123/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00")
	if _, err := ServiceForRequest(r); err == nil {
		t.Error("s3 routed")
	}
}
