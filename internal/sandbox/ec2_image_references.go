package sandbox

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// DescribeImageReferences: which of the caller's resources, in its account and
// region, refer to the given AMIs (EC2 User Guide, "Identify your resources
// referencing specified AMIs"). The resource types and their options are the
// API Reference's:
//
//   - ec2:Instance — instances launched from the AMI; option state-name
//     (pending | running | shutting-down | terminated | stopping | stopped,
//     default: all states; terminated instances are kept about an hour).
//   - ec2:LaunchTemplate — templates one of whose most recent versions names
//     the AMI as ImageId; option version-depth (1-10000, default 10): how many
//     versions to check, starting from the latest.
//   - ssm:Parameter — String parameters whose value is the AMI id.
//   - imagebuilder:ImageRecipe, imagebuilder:ContainerRecipe — EC2 Image
//     Builder is not modelled: these types are accepted and find nothing.
//
// Where AWS does not document a behaviour, the sandbox's choices:
//   - An AMI id that is well formed but does not exist (or that the caller
//     cannot see) is checked like any other: a resource can still refer to a
//     deregistered or private AMI.
//   - A launch template is listed once per AMI, with its ARN
//     arn:aws:ec2:<region>:<account>:launch-template/<id> (the ARN IAM uses
//     for launch templates has no version), however many of its versions
//     name the AMI.
//   - Parameters of either data type (text, aws:ec2:image) count; SecureString
//     parameters do not (EC2 cannot read their values).
//   - AWS's managed policy AmazonEC2ImageReferencesAccessPolicy gives the
//     read permissions of each resource type besides
//     ec2:DescribeImageReferences, so the check reads with the caller's
//     permissions: a type the caller may not read (ec2:DescribeInstances;
//     ec2:DescribeLaunchTemplates and ec2:DescribeLaunchTemplateVersions;
//     ssm:DescribeParameters and ssm:GetParameters) is refused with
//     UnauthorizedOperation.
//   - MaxResults is 5 (the model's minimum) to 1000, default 1000.
//   - Results come in the order of ImageIds, then of the resource types above,
//     then by launch time (instances), id (templates) or name (parameters).

var imageReferenceTypes = []string{"ec2:Instance", "ec2:LaunchTemplate", "ssm:Parameter", "imagebuilder:ImageRecipe", "imagebuilder:ContainerRecipe"}

// imageReferenceReads are the actions a resource type's check needs.
var imageReferenceReads = map[string][]string{
	"ec2:Instance":       {"ec2:DescribeInstances"},
	"ec2:LaunchTemplate": {"ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"},
	"ssm:Parameter":      {"ssm:DescribeParameters", "ssm:GetParameters"},
}

const (
	defaultVersionDepth = 10
	maxVersionDepth     = 10000
)

// imageReferenceScope is what to check for one resource type.
type imageReferenceScope struct {
	states []string // ec2:Instance; nil = every state
	depth  int64    // ec2:LaunchTemplate
}

func (s *Server) ec2DescribeImageReferences(c *call) (map[string]any, error) {
	ids := wire.Strs(c.in, "ImageIds")
	if len(ids) == 0 || len(ids) > 10 {
		return nil, apiErr("InvalidParameterValue", "ImageIds must name 1 to 10 images (got %d)", len(ids))
	}
	for _, id := range ids {
		if !imageIDRE.MatchString(id) {
			return nil, apiErr("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
		}
	}
	if n, ok := wire.IntOK(c.in, "MaxResults"); ok && (n < 5 || n > 1000) {
		return nil, apiErr("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", n)
	}
	scopes := map[string]*imageReferenceScope{}
	if wire.Bool(c.in, "IncludeAllResourceTypes") {
		for _, rt := range imageReferenceTypes {
			scopes[rt] = &imageReferenceScope{depth: defaultVersionDepth}
		}
	}
	requested := wire.Structs(c.in, "ResourceTypes")
	if len(scopes) == 0 && len(requested) == 0 {
		return nil, apiErr("MissingParameter", "Either IncludeAllResourceTypes or ResourceTypes must be specified.")
	}
	for _, req := range requested {
		rt := wire.Str(req, "ResourceType")
		if !slices.Contains(imageReferenceTypes, rt) {
			return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter ResourceType is invalid. Valid values: %s", rt, strings.Join(imageReferenceTypes, " | "))
		}
		scope := &imageReferenceScope{depth: defaultVersionDepth}
		for _, opt := range wire.Structs(req, "ResourceTypeOptions") {
			name, values := wire.Str(opt, "OptionName"), wire.Strs(opt, "OptionValues")
			switch {
			case name == "state-name" && rt == "ec2:Instance":
				for _, v := range values {
					if _, ok := instanceStateCodes[v]; !ok {
						return nil, apiErr("InvalidParameterValue", "Value (%s) for option state-name is invalid. Valid values: pending | running | shutting-down | terminated | stopping | stopped", v)
					}
				}
				scope.states = values
			case name == "version-depth" && rt == "ec2:LaunchTemplate":
				if len(values) != 1 {
					return nil, apiErr("InvalidParameterValue", "The option version-depth takes one value (got %d)", len(values))
				}
				n, err := strconv.ParseInt(values[0], 10, 64)
				if err != nil || n < 1 || n > maxVersionDepth {
					return nil, apiErr("InvalidParameterValue", "Value (%s) for option version-depth is invalid. Expecting an integer between 1 and %d.", values[0], maxVersionDepth)
				}
				scope.depth = n
			default:
				return nil, apiErr("InvalidParameterValue", "The option %s is not valid for resource type %s (ec2:Instance takes state-name, ec2:LaunchTemplate version-depth)", name, rt)
			}
		}
		scopes[rt] = scope
	}
	for _, rt := range imageReferenceTypes {
		if scopes[rt] == nil {
			continue
		}
		for _, action := range imageReferenceReads[rt] {
			if d := c.c.callerMay(c.caller, action, "*", nil); !d.Allowed {
				return nil, accessDenied("ec2", c.caller.ARN, action, "*", "checking "+rt+" references needs it: "+d.Reason)
			}
		}
	}

	me, r := c.caller.Account, c.c.region(c.caller.Account, c.region)
	var items []any
	ref := func(id, rt, arn string) {
		items = append(items, map[string]any{"ImageId": id, "ResourceType": rt, "Arn": arn})
	}
	for _, id := range ids {
		if sc := scopes["ec2:Instance"]; sc != nil {
			for _, in := range c.c.sortedInstances(me, c.region) {
				if in.ImageID == id && (sc.states == nil || slices.Contains(sc.states, in.State)) {
					ref(id, "ec2:Instance", fmt.Sprintf("arn:aws:ec2:%s:%s:instance/%s", c.region, me, in.ID))
				}
			}
		}
		if sc := scopes["ec2:LaunchTemplate"]; sc != nil {
			for _, ltID := range sortedKeys(r.LaunchTemplates) {
				if launchTemplateRefers(r.LaunchTemplates[ltID], id, sc.depth) {
					ref(id, "ec2:LaunchTemplate", fmt.Sprintf("arn:aws:ec2:%s:%s:launch-template/%s", c.region, me, ltID))
				}
			}
		}
		if scopes["ssm:Parameter"] != nil {
			var arns []string
			for _, name := range sortedKeys(r.Parameters) {
				if p := r.Parameters[name]; p.Type == "String" && p.Value == id {
					arns = append(arns, paramARN(c.region, me, name))
				}
			}
			slices.Sort(arns)
			for _, arn := range arns {
				ref(id, "ssm:Parameter", arn)
			}
		}
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"ImageReferences": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// launchTemplateRefers reports whether one of the template's depth most
// recent versions names the AMI as its ImageId.
func launchTemplateRefers(lt *LaunchTemplate, imageID string, depth int64) bool {
	for _, v := range lt.Versions {
		if v.Number > lt.LatestVersion-depth && wire.Str(v.Data, "ImageId") == imageID {
			return true
		}
	}
	return false
}
