package workflows

import (
	"regexp"
	"sort"
	"strings"

	"github.com/amicrypt/amicrypt/activities"
)

// regionSyntax is AWS's region name syntax, the same rule internal/config
// applies to a config: a region is accepted by its form, not from a list, so
// a region AWS opens tomorrow needs no new amicrypt.
var regionSyntax = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]{2,4})?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$`)

// ValidRegion reports whether region has AWS's region syntax (us-east-1,
// ap-southeast-7, us-gov-west-1, cn-northwest-1, eusc-de-east-1).
func ValidRegion(region string) bool { return regionSyntax.MatchString(region) }

// Partition is the region's partition (aws, aws-cn, aws-us-gov, aws-iso,
// aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc), by the same prefixes as
// internal/config, or "" for a name that is not a region. A copy never
// crosses a partition (CopyImage cannot), so the partition decides which
// sources may serve a target.
func Partition(region string) string {
	switch {
	case !ValidRegion(region):
		return ""
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	case strings.HasPrefix(region, "us-isob-"):
		return "aws-iso-b"
	case strings.HasPrefix(region, "us-isof-"):
		return "aws-iso-f"
	case strings.HasPrefix(region, "eu-isoe-"):
		return "aws-iso-e"
	case strings.HasPrefix(region, "us-iso-"):
		return "aws-iso"
	case strings.HasPrefix(region, "eusc-"):
		return "aws-eusc"
	}
	return "aws"
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
