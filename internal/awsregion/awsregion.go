// Package awsregion knows what amicrypt needs about AWS region names: their
// syntax and the partition each belongs to (images, keys and roles cross
// regions only within a partition). AWS adds regions, so any name with a
// region's shape is accepted rather than a fixed list.
package awsregion

import (
	"regexp"
	"strings"
)

// syntax is AWS's region name shape: area, optional sub-area (gov, iso, isob,
// …), direction, number.
var syntax = regexp.MustCompile(`^[a-z]{2,4}(-[a-z]{2,4})?-(central|north|south|east|west|northeast|northwest|southeast|southwest)-[1-9][0-9]?$`)

// Valid reports whether name has the shape of an AWS region name.
func Valid(name string) bool { return syntax.MatchString(name) }

// Partition returns the ARN partition of a region (aws, aws-cn, aws-us-gov,
// aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc); "aws" for any other name.
func Partition(region string) string {
	switch {
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
