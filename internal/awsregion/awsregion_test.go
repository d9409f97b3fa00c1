package awsregion

import "testing"

func TestPartitionsAndSyntax(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1": "aws", "eu-west-1": "aws", "ap-southeast-2": "aws", "cn-north-1": "aws-cn",
		"us-gov-west-1": "aws-us-gov", "us-iso-east-1": "aws-iso", "us-isob-east-1": "aws-iso-b",
		"eu-isoe-west-1": "aws-iso-e", "us-isof-south-1": "aws-iso-f", "eusc-de-east-1": "aws-eusc",
	} {
		if got := Partition(region); got != want {
			t.Errorf("Partition(%s) = %s, want %s", region, got, want)
		}
		if !Valid(region) {
			t.Errorf("Valid(%s) = false", region)
		}
	}
	for _, bad := range []string{"", "us-east", "useast1", "us-east-0", "US-EAST-1", "eu-wset-1"} {
		if Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
}
