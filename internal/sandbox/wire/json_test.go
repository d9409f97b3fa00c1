package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"
)

func kmsClient(f *fakeAWS, r aws.Retryer) *kms.Client {
	return kms.New(kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL), Credentials: testCreds, Retryer: r})
}

func TestKMSCreateKeyGrantsAndDecrypt(t *testing.T) {
	created := time.Date(2026, 11, 23, 10, 30, 0, 500e6, time.UTC)
	keyARN := "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	f := newFake(t, "kms", func(op *Operation, in map[string]any) (map[string]any, error) {
		switch op.Name {
		case "CreateKey":
			want := map[string]any{
				"Description": "amicrypt key",
				"KeyUsage":    "ENCRYPT_DECRYPT",
				"KeySpec":     "SYMMETRIC_DEFAULT",
				"MultiRegion": false,
				"Tags":        []any{map[string]any{"TagKey": "project", "TagValue": "amicrypt"}},
			}
			if !reflect.DeepEqual(in, want) {
				t.Errorf("CreateKey input\n got %#v\nwant %#v", in, want)
			}
			return map[string]any{"KeyMetadata": map[string]any{
				"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "Arn": keyARN, "AWSAccountId": "123456789012",
				"CreationDate": created, "Enabled": true, "KeyState": "Enabled", "KeyUsage": "ENCRYPT_DECRYPT",
				"KeySpec": "SYMMETRIC_DEFAULT", "KeyManager": "CUSTOMER", "Origin": "AWS_KMS", "MultiRegion": false,
				"EncryptionAlgorithms": []string{"SYMMETRIC_DEFAULT"}, "Description": "amicrypt key",
			}}, nil
		case "CreateGrant":
			want := map[string]any{
				"KeyId":             keyARN,
				"GranteePrincipal":  "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
				"Operations":        []any{"Decrypt", "GenerateDataKeyWithoutPlaintext", "ReEncryptFrom", "ReEncryptTo", "CreateGrant", "DescribeKey"},
				"Constraints":       map[string]any{"EncryptionContextSubset": map[string]any{"aws:ebs:id": "vol-1"}},
				"Name":              "asg-grant",
				"RetiringPrincipal": "arn:aws:iam::123456789012:root",
			}
			if !reflect.DeepEqual(in, want) {
				t.Errorf("CreateGrant input\n got %#v\nwant %#v", in, want)
			}
			if got := StrMap(Struct(in, "Constraints"), "EncryptionContextSubset"); got["aws:ebs:id"] != "vol-1" {
				t.Errorf("StrMap = %v", got)
			}
			return map[string]any{"GrantId": "g-1", "GrantToken": "gt-1"}, nil
		case "ListGrants":
			want := map[string]any{"KeyId": keyARN, "Limit": int64(1), "Marker": "m-1"}
			if !reflect.DeepEqual(in, want) {
				t.Errorf("ListGrants input %#v", in)
			}
			return map[string]any{
				"Grants": []any{map[string]any{
					"GrantId": "g-1", "KeyId": keyARN, "Name": "asg-grant", "CreationDate": created,
					"GranteePrincipal": "arn:aws:iam::123456789012:role/x", "IssuingAccount": "arn:aws:iam::123456789012:root",
					"Operations":  []any{"Decrypt", "CreateGrant"},
					"Constraints": map[string]any{"EncryptionContextEquals": map[string]string{"k": "v"}},
				}},
				"Truncated":  true,
				"NextMarker": "m-2",
			}, nil
		case "Decrypt":
			if !bytes.Equal(Blob(in, "CiphertextBlob"), []byte{0, 1, 2, 0xfe, 0xff}) || StrMap(in, "EncryptionContext")["a"] != "b" {
				t.Errorf("Decrypt input %#v", in)
			}
			return map[string]any{"KeyId": keyARN, "Plaintext": []byte("secret\x00bytes"), "EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}, nil
		case "DescribeKey":
			return nil, Errorf("NotFoundException", "Key '%s' does not exist", Str(in, "KeyId"))
		}
		return nil, Errorf("UnsupportedOperationException", "unexpected %s", op.Name)
	})
	c := kmsClient(f, noRetry())

	ck, err := c.CreateKey(ctx(t), &kms.CreateKeyInput{
		Description: aws.String("amicrypt key"),
		KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
		KeySpec:     kmstypes.KeySpecSymmetricDefault,
		MultiRegion: aws.Bool(false),
		Tags:        []kmstypes.Tag{{TagKey: aws.String("project"), TagValue: aws.String("amicrypt")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	md := ck.KeyMetadata
	if aws.ToString(md.Arn) != keyARN || !md.Enabled || md.KeyState != kmstypes.KeyStateEnabled ||
		!aws.ToTime(md.CreationDate).Equal(created) || md.KeyManager != kmstypes.KeyManagerTypeCustomer ||
		!reflect.DeepEqual(md.EncryptionAlgorithms, []kmstypes.EncryptionAlgorithmSpec{kmstypes.EncryptionAlgorithmSpecSymmetricDefault}) {
		t.Errorf("KeyMetadata = %+v", md)
	}
	if id, _ := awsmiddlewareRequestID(ck.ResultMetadata); id != "req-kms-1" {
		t.Errorf("request id = %q", id)
	}

	cg, err := c.CreateGrant(ctx(t), &kms.CreateGrantInput{
		KeyId:            aws.String(keyARN),
		GranteePrincipal: aws.String("arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"),
		Operations: []kmstypes.GrantOperation{
			kmstypes.GrantOperationDecrypt, kmstypes.GrantOperationGenerateDataKeyWithoutPlaintext,
			kmstypes.GrantOperationReEncryptFrom, kmstypes.GrantOperationReEncryptTo,
			kmstypes.GrantOperationCreateGrant, kmstypes.GrantOperationDescribeKey,
		},
		Constraints:       &kmstypes.GrantConstraints{EncryptionContextSubset: map[string]string{"aws:ebs:id": "vol-1"}},
		Name:              aws.String("asg-grant"),
		RetiringPrincipal: aws.String("arn:aws:iam::123456789012:root"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cg.GrantId) != "g-1" || aws.ToString(cg.GrantToken) != "gt-1" {
		t.Errorf("CreateGrant = %+v", cg)
	}

	lg, err := c.ListGrants(ctx(t), &kms.ListGrantsInput{KeyId: aws.String(keyARN), Limit: aws.Int32(1), Marker: aws.String("m-1")})
	if err != nil {
		t.Fatal(err)
	}
	if !lg.Truncated || aws.ToString(lg.NextMarker) != "m-2" || len(lg.Grants) != 1 {
		t.Fatalf("ListGrants = %+v", lg)
	}
	g := lg.Grants[0]
	if aws.ToString(g.GrantId) != "g-1" || !aws.ToTime(g.CreationDate).Equal(created) ||
		!reflect.DeepEqual(g.Operations, []kmstypes.GrantOperation{"Decrypt", "CreateGrant"}) ||
		g.Constraints == nil || g.Constraints.EncryptionContextEquals["k"] != "v" {
		t.Errorf("grant = %+v", g)
	}

	dec, err := c.Decrypt(ctx(t), &kms.DecryptInput{CiphertextBlob: []byte{0, 1, 2, 0xfe, 0xff}, EncryptionContext: map[string]string{"a": "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(dec.Plaintext) != "secret\x00bytes" || dec.EncryptionAlgorithm != kmstypes.EncryptionAlgorithmSpecSymmetricDefault {
		t.Errorf("Decrypt = %+v", dec)
	}

	_, err = c.DescribeKey(ctx(t), &kms.DescribeKeyInput{KeyId: aws.String("alias/missing")})
	var nf *kmstypes.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v (%T), want *kmstypes.NotFoundException", err, err)
	}
	if nf.ErrorMessage() != "Key 'alias/missing' does not exist" || nf.ErrorCode() != "NotFoundException" {
		t.Errorf("NotFoundException = %q / %q", nf.ErrorCode(), nf.ErrorMessage())
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != 400 || re.ServiceRequestID() == "" {
		t.Errorf("response error = %v", re)
	}
}

func TestKMSErrors(t *testing.T) {
	var calls int
	f := newFake(t, "kms", func(op *Operation, in map[string]any) (map[string]any, error) {
		calls++
		switch calls {
		case 1:
			return nil, Errorf("ThrottlingException", "Rate exceeded")
		case 2:
			return nil, &APIError{Code: "KMSInternalException", Message: "oops", Retryable: true}
		case 3:
			return map[string]any{"Keys": []any{map[string]any{"KeyId": "k1", "KeyArn": "arn:k1"}}, "Truncated": false}, nil
		case 4:
			return nil, Errorf("AccessDeniedException", "denied")
		}
		return nil, Errorf("DisabledException", "disabled")
	})
	c := kmsClient(f, fastRetry())
	lk, err := c.ListKeys(ctx(t), &kms.ListKeysInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lk.Keys) != 1 || aws.ToString(lk.Keys[0].KeyArn) != "arn:k1" || len(f.attempts()) != 3 {
		t.Errorf("ListKeys = %+v after %d attempts", lk, len(f.attempts()))
	}
	_, err = c.ListKeys(ctx(t), &kms.ListKeysInput{})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "AccessDeniedException" || ae.ErrorMessage() != "denied" {
		t.Errorf("err = %v", err)
	}
	_, err = c.EnableKey(ctx(t), &kms.EnableKeyInput{KeyId: aws.String("k1")})
	var de *kmstypes.DisabledException
	if !errors.As(err, &de) || de.ErrorFault() != smithy.FaultClient {
		t.Errorf("err = %v (%T)", err, err)
	}
	if n := len(f.attempts()); n != 5 {
		t.Errorf("attempts = %d, want 5", n)
	}
}

func TestSSMParameters(t *testing.T) {
	modified := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	f := newFake(t, "ssm", func(op *Operation, in map[string]any) (map[string]any, error) {
		switch op.Name {
		case "PutParameter":
			want := map[string]any{
				"Name": "/amicrypt/key", "Value": "v1", "Type": "SecureString", "Overwrite": true,
				"KeyId": "alias/amicrypt", "Tier": "Standard", "Description": "d",
			}
			if !reflect.DeepEqual(in, want) {
				t.Errorf("PutParameter input\n got %#v\nwant %#v", in, want)
			}
			return map[string]any{"Version": int64(3), "Tier": "Standard"}, nil
		case "GetParameter":
			if Str(in, "Name") != "/amicrypt/key" || !Bool(in, "WithDecryption") {
				t.Errorf("GetParameter input %#v", in)
			}
			return map[string]any{"Parameter": map[string]any{
				"Name": "/amicrypt/key", "Type": "SecureString", "Value": "v1", "Version": 3,
				"LastModifiedDate": modified, "ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/amicrypt/key", "DataType": "text",
			}}, nil
		case "GetParameters":
			return map[string]any{
				"Parameters":        []any{map[string]any{"Name": "/a", "Value": "1", "Type": "String", "Version": 1}},
				"InvalidParameters": []string{"/missing"},
			}, nil
		}
		return nil, Errorf("ParameterNotFound", "unexpected %s", op.Name)
	})
	c := ssm.New(ssm.Options{Region: "us-east-1", BaseEndpoint: aws.String(f.URL), Credentials: testCreds, Retryer: noRetry()})
	put, err := c.PutParameter(ctx(t), &ssm.PutParameterInput{
		Name: aws.String("/amicrypt/key"), Value: aws.String("v1"), Type: ssmtypes.ParameterTypeSecureString,
		Overwrite: aws.Bool(true), KeyId: aws.String("alias/amicrypt"), Tier: ssmtypes.ParameterTierStandard, Description: aws.String("d"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if put.Version != 3 || put.Tier != ssmtypes.ParameterTierStandard {
		t.Errorf("PutParameter = %+v", put)
	}
	get, err := c.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/amicrypt/key"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	p := get.Parameter
	if aws.ToString(p.Value) != "v1" || p.Version != 3 || p.Type != ssmtypes.ParameterTypeSecureString || !aws.ToTime(p.LastModifiedDate).Equal(modified) {
		t.Errorf("Parameter = %+v", p)
	}
	gp, err := c.GetParameters(ctx(t), &ssm.GetParametersInput{Names: []string{"/a", "/missing"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(gp.Parameters) != 1 || !reflect.DeepEqual(gp.InvalidParameters, []string{"/missing"}) {
		t.Errorf("GetParameters = %+v", gp)
	}
	_, err = c.DeleteParameter(ctx(t), &ssm.DeleteParameterInput{Name: aws.String("/x")})
	var pnf *ssmtypes.ParameterNotFound
	if !errors.As(err, &pnf) {
		t.Errorf("err = %v (%T)", err, err)
	}
}
