package amicrypt

import (
	"fmt"
	"sort"
	"strings"

	amiconfig "github.com/amicrypt/amicrypt/internal/config"
)

// Builder ids of the amazon plugin's components whose artifacts are AMIs;
// their artifact ids are "region:ami-id" pairs joined by commas.
var amiBuilderIDs = map[string]string{
	"mitchellh.amazonebs":                 "amazon-ebs",
	"mitchellh.amazon.ebssurrogate":       "amazon-ebssurrogate",
	"mitchellh.amazon.instance":           "amazon-instance",
	"mitchellh.amazon.chroot":             "amazon-chroot",
	"packer.post-processor.amazon-import": "amazon-import",
}

// Builder ids whose artifacts are not AMIs, with what they are.
var notAMIBuilderIDs = map[string]string{
	"mitchellh.amazon.ebsvolume": "EBS volumes (amazon-ebsvolume)",
	BuilderID:                    "amicrypt's own encrypted AMIs",
}

// sourcesFromArtifact reads the source AMIs (region → AMI id) from an input
// artifact's builder id and id. An artifact of an amazon builder is read as
// such; another artifact whose id has the same "region:ami-id" form is
// accepted too (a wrapping post-processor may pass the amazon artifact's id
// on). Anything else is an error saying what to do.
func sourcesFromArtifact(builderID, id string) (map[string]string, error) {
	if what, ok := notAMIBuilderIDs[builderID]; ok {
		return nil, fmt.Errorf("the input artifact (builder %s) holds %s, not source AMIs: run amicrypt after a builder that makes an AMI (amazon-ebs, amazon-chroot, ...), or set source_amis", builderID, what)
	}
	from := amiBuilderIDs[builderID]
	if from == "" {
		from = "builder " + builderID
	}
	if strings.TrimSpace(id) == "" {
		return nil, fmt.Errorf("the input artifact (%s) has no AMI: did the build create one (skip_create_ami, or a failed step)? Set source_amis to encrypt AMIs built elsewhere", from)
	}
	var flags []string
	for _, item := range strings.Split(id, ",") {
		item = strings.TrimSpace(item)
		region, ami, ok := strings.Cut(item, ":")
		if !ok || !strings.HasPrefix(ami, "ami-") {
			return nil, fmt.Errorf("the input artifact (%s) is not an AMI: its id %q is not region:ami-id pairs; run amicrypt after an amazon builder, or set source_amis", from, id)
		}
		flags = append(flags, region+"="+ami)
	}
	sources, err := amiconfig.ParseSources(flags)
	if err != nil {
		return nil, fmt.Errorf("the input artifact (%s) id %q: %s", from, id, strings.ReplaceAll(err.Error(), "--source ", ""))
	}
	return sources, nil
}

// describeSources is "us-east-1:ami-..., eu-west-1:ami-..." sorted by region.
func describeSources(s map[string]string) string {
	regions := make([]string, 0, len(s))
	for r := range s {
		regions = append(regions, r)
	}
	sort.Strings(regions)
	parts := make([]string, len(regions))
	for i, r := range regions {
		parts[i] = r + ":" + s[r]
	}
	return strings.Join(parts, ", ")
}
