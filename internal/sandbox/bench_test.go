package sandbox

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// benchWorld builds a world of n target accounts sharing one builder image
// (the first 1,000 of them: AWS's quota of accounts per image), the shape of
// a large organisation's rollout.
func benchWorld(n int) string {
	var b strings.Builder
	b.WriteString(`regions: [us-east-1]
accounts:
  - id: "111111111111"
    images:
      - {id: ami-0b0000000000a0001, region: us-east-1, name: base, encrypted: false, launch_permissions: [`)
	for i := 0; i < min(n, 1000); i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"%012d"`, 200000000000+i)
	}
	b.WriteString("]}\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - id: \"%012d\"\n    service_linked_roles: [AWSServiceRoleForAutoScaling]\n    keys: [{alias: alias/amicrypt, region: us-east-1}]\n", 200000000000+i)
	}
	b.WriteString("timing: {copy_seconds: 0}\nfaults: {throttle: false}\nlimits: {concurrent_copies: 100000}\n")
	return b.String()
}

// BenchmarkDescribeImagesShared: a target listing the images shared with it, in
// a world of 300 accounts — the call a pipeline makes most.
func BenchmarkDescribeImagesShared(b *testing.B) {
	e := newTestEnv(b, benchWorld(300))
	c := e.ec2("200000000007", "us-east-1")
	in := &ec2.DescribeImagesInput{ImageIds: []string{"ami-0b0000000000a0001"}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.DescribeImages(e.ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyImageEncrypted: an encrypted cross-account copy, the pipeline's
// main write, including the key-policy evaluation EC2 does on the caller's behalf.
func BenchmarkCopyImageEncrypted(b *testing.B) {
	e := newTestEnv(b, benchWorld(300))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		acct := fmt.Sprintf("%012d", 200000000000+i%300)
		_, err := e.ec2(acct, "us-east-1").CopyImage(e.ctx, &ec2.CopyImageInput{
			SourceImageId: aws.String("ami-0b0000000000a0001"), SourceRegion: aws.String("us-east-1"),
			Name: aws.String(fmt.Sprintf("copy-%d", i)), Encrypted: aws.Bool(true), KmsKeyId: aws.String("alias/amicrypt"),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKMSDescribeKeyParallel: concurrent clients hitting one sandbox.
func BenchmarkKMSDescribeKeyParallel(b *testing.B) {
	e := newTestEnv(b, benchWorld(50))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := e.kms("200000000003", "us-east-1")
		for pb.Next() {
			if _, err := c.DescribeKey(e.ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/amicrypt")}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkServerOnlyDescribeImages measures the sandbox alone: one signed EC2
// query request served through ServeHTTP, without an HTTP client or the SDK.
func BenchmarkServerOnlyDescribeImages(b *testing.B) {
	serveOnlyDescribeImages(b, 300)
}

// BenchmarkServerOnlyDescribeImagesIn10000Accounts: the same request in a
// world of 10,000 accounts, each with a key. What a request costs must not
// grow with the world (time-driven work is scheduled, due.go): before, every
// request visited every key, image, instance and region.
func BenchmarkServerOnlyDescribeImagesIn10000Accounts(b *testing.B) {
	serveOnlyDescribeImages(b, 10000)
}

func serveOnlyDescribeImages(b *testing.B, accounts int) {
	e := newTestEnv(b, benchWorld(accounts))
	body := "Action=DescribeImages&Version=2016-11-15&ImageId.1=ami-0b0000000000a0001"
	auth := "AWS4-HMAC-SHA256 Credential=200000000007/20261123/us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=0"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body.String())
		}
	}
}
