package workflows

import (
	"sort"
	"strings"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/awsregion"
)

// ValidRegion reports whether region has AWS's region syntax (us-east-1,
// ap-southeast-7, us-gov-west-1, cn-northwest-1, eusc-de-east-1).
func ValidRegion(region string) bool { return awsregion.Valid(region) }

// Partition is the region's partition (aws, aws-cn, aws-us-gov, aws-iso,
// aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc), by the same prefixes as
// internal/config, or "" for a name that is not a region. A copy never
// crosses a partition (CopyImage cannot), so the partition decides which
// sources may serve a target.
func Partition(region string) string {
	if !ValidRegion(region) {
		return ""
	}
	return awsregion.Partition(region)
}

// areas group region prefixes by continent, for the last tie-break of
// NearestSource: a target in ca-central-1 prefers a us- source to an eu- one.
var areas = map[string]string{
	"us": "america", "ca": "america", "mx": "america", "sa": "america",
	"eu": "emea", "il": "emea", "me": "emea", "af": "emea",
	"ap": "asia",
}

// regionParts splits "ap-southeast-2" into prefix "ap" and direction
// "southeast"; "us-gov-west-1" into "us-gov" and "west".
func regionParts(region string) (prefix, direction string) {
	parts := strings.Split(region, "-")
	if len(parts) < 3 {
		return region, ""
	}
	return strings.Join(parts[:len(parts)-2], "-"), parts[len(parts)-2]
}

// sourceDistance ranks a source region for a target region: 0 same region,
// 1 same prefix and direction (ap-southeast-3 → ap-southeast-1), 2 same prefix
// (eu-north-1 → eu-west-1), 3 same continent (ca-central-1 → us-east-1),
// 4 anywhere else in the partition, -1 another partition (never).
func sourceDistance(target, source string) int {
	switch {
	case Partition(target) == "" || Partition(target) != Partition(source):
		return -1
	case target == source:
		return 0
	}
	tp, td := regionParts(target)
	sp, sd := regionParts(source)
	switch {
	case tp == sp && td == sd:
		return 1
	case tp == sp:
		return 2
	case areas[tp] != "" && areas[tp] == areas[sp]:
		return 3
	default:
		return 4
	}
}

// NearestSource picks the source image that serves a target region: the
// source in the same region if there is one, else the nearest source of the
// same partition by sourceDistance, ties broken by region name so the choice
// never depends on the order of the input. ok is false when no source of the
// target's partition exists.
func NearestSource(sources []activities.Source, region string) (src activities.Source, ok bool) {
	ranked := make([]activities.Source, 0, len(sources))
	for _, s := range sources {
		if sourceDistance(region, s.Region) >= 0 {
			ranked = append(ranked, s)
		}
	}
	if len(ranked) == 0 {
		return activities.Source{}, false
	}
	sort.Slice(ranked, func(i, j int) bool {
		di, dj := sourceDistance(region, ranked[i].Region), sourceDistance(region, ranked[j].Region)
		if di != dj {
			return di < dj
		}
		return ranked[i].Region < ranked[j].Region
	})
	return ranked[0], true
}
