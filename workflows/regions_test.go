package workflows

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/amicrypt/amicrypt/activities"
)

func TestNearestSource(t *testing.T) {
	sources := []activities.Source{
		{Region: "us-west-2", ImageID: "ami-uw2"},
		{Region: "us-east-1", ImageID: "ami-ue1"},
		{Region: "eu-west-1", ImageID: "ami-ew1"},
		{Region: "ap-northeast-1", ImageID: "ami-an1"},
		{Region: "ap-southeast-1", ImageID: "ami-as1"},
		{Region: "cn-north-1", ImageID: "ami-cn1"},
	}
	for target, want := range map[string]string{
		"us-east-1":      "us-east-1",      // its own region
		"us-west-1":      "us-west-2",      // same prefix and direction
		"us-east-2":      "us-east-1",      // same prefix and direction
		"eu-central-1":   "eu-west-1",      // same prefix
		"ap-southeast-3": "ap-southeast-1", // same direction beats ap-northeast-1
		"ap-south-1":     "ap-northeast-1", // same prefix; tie broken by name
		"ca-central-1":   "us-east-1",      // same continent; tie by name
		"il-central-1":   "eu-west-1",      // same continent
		"cn-northwest-1": "cn-north-1",     // its partition only
	} {
		got, ok := NearestSource(sources, target)
		if assert.True(t, ok, target) {
			assert.Equal(t, want, got.Region, target)
		}
	}

	// another partition never serves
	_, ok := NearestSource(sources, "us-gov-west-1")
	assert.False(t, ok)
	_, ok = NearestSource(sources, "moon-1")
	assert.False(t, ok)

	// the input order does not matter
	reversed := make([]activities.Source, len(sources))
	for i, s := range sources {
		reversed[len(sources)-1-i] = s
	}
	for _, r := range []string{"ap-south-1", "ca-central-1", "sa-east-1", "af-south-1"} {
		a, _ := NearestSource(sources, r)
		b, _ := NearestSource(reversed, r)
		assert.Equal(t, a, b, r)
	}
}

func TestRegionsAndPartitions(t *testing.T) {
	assert.True(t, ValidRegion("eu-west-1"))
	assert.True(t, ValidRegion("ap-southeast-9"), "a region AWS opens later is accepted")
	assert.False(t, ValidRegion("us-est-1"))
	assert.False(t, ValidRegion("moon-1"))
	assert.Equal(t, "aws", Partition("ap-southeast-9"))
	assert.Equal(t, "aws-us-gov", Partition("us-gov-east-1"))
	assert.Equal(t, "aws-cn", Partition("cn-north-1"))
	assert.Equal(t, "aws-eusc", Partition("eusc-de-east-1"))
	assert.Equal(t, "aws-iso-b", Partition("us-isob-east-1"))
	assert.Equal(t, "", Partition("nowhere"))
}
