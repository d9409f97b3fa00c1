package activities

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// A worker serving thousands of accounts, run after run, keeps a bounded
// number of clients and role sessions: the least recently used go, and one
// in use stays the same client.
func TestTheClientCacheStaysBounded(t *testing.T) {
	f := NewClientFactory(aws.Config{Region: "us-east-1"}, ClientOptions{Endpoint: "http://127.0.0.1:1", MaxClients: 8, MaxSessions: 4})
	hot := Access{RoleARN: "arn:aws:iam::222222222222:role/amicrypt-target", Region: "us-east-1"}
	first := f.EC2(hot)
	for i := range 1000 {
		a := Access{RoleARN: fmt.Sprintf("arn:aws:iam::%012d:role/amicrypt-target", 300000000000+i), Region: "eu-west-1"}
		f.EC2(a)
		f.KMS(a)
		f.session(sessionKey{credKey{a.RoleARN, ""}, session{name: "amicrypt-run-x-copy"}})
		if f.EC2(hot) != first {
			t.Fatalf("after %d other accounts, the client in use was made anew", i)
		}
	}
	clients, sessions := f.Cached()
	if clients > 8 || sessions > 4 {
		t.Errorf("after 1,000 accounts the factory holds %d clients and %d sessions, want at most 8 and 4", clients, sessions)
	}
	if clients == 0 || sessions == 0 {
		t.Errorf("nothing cached: %d clients, %d sessions", clients, sessions)
	}
}
