package activities

import (
	"regexp"
	"strings"
)

// familySuffix is what FamilyFromName drops from an image name: one trailing
// date (a month too: 2026-11), date-time, Unix timestamp or build number,
// with the '-', '_' or ' ' before it — what Packer templates append to make every build's name unique
// (base-{{timestamp}}, web-{{isotime "2006-01-02"}}, app_20261207T101500Z,
// api-build-42 → api-build). A '.' is not a separator (ubuntu-22.04 stays).
var familySuffix = regexp.MustCompile(`[-_ ](?:\d{4}-\d{2}(?:-\d{2}(?:[T_-]\d{2}[-_.]?\d{2}(?:[-_.]?\d{2})?Z?)?)?|\d{8}(?:T?\d{4,6}Z?)?|\d+)$`)

// FamilyFromName is the family of builds an image name belongs to when the
// configuration names none: the name without one trailing date, date-time,
// timestamp or build number (see familySuffix). A name that would be left
// empty is its own family.
func FamilyFromName(name string) string {
	f := familySuffix.ReplaceAllString(name, "")
	if strings.TrimSpace(f) == "" {
		return name
	}
	return f
}

// FamilyOf is the family a target's copies of src belong to: the
// configured one, else the source image's name's (FamilyFromName), else the
// source image id.
func FamilyOf(t Target, src Source) string {
	switch {
	case t.Family != "":
		return t.Family
	case src.Name != "":
		return FamilyFromName(src.Name)
	}
	return src.ImageID
}

// sameFamily says whether an image tagged with family tagged belongs to
// family: the same, or — for copies made before families were derived, which
// carry the source's full name — the same once derived.
func sameFamily(tagged, family string) bool {
	return tagged != "" && (tagged == family || FamilyFromName(tagged) == family)
}
