package sandbox

import (
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// registerEC2 wires every EC2 operation. Each group of operations lives in its
// own file: images and snapshots (ec2_images.go), instances and volumes,
// launch templates, and the network an instance needs.
func (s *Server) registerEC2() {
	s.registerEC2Images()
	s.registerEC2Tags()
	s.registerEC2Instances()
	s.registerEC2InstanceTypes()
	s.registerEC2LaunchTemplates()
	s.registerEC2Network()
	s.registerEC2EBSDefaultKey()
	for action, h := range s.handlers["ec2"] {
		s.handlers["ec2"][action] = withDryRun(h)
	}
}

// withDryRun answers DryRun=true the way EC2 does, after authorization has passed.
func withDryRun(h handler) handler {
	return func(c *call) (map[string]any, error) {
		if wire.Bool(c.in, "DryRun") {
			return nil, apiErrStatus(412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
		}
		return h(c)
	}
}

// ---- tags ----

// tagSpecs returns the tags a TagSpecifications parameter gives a resource type.
func tagSpecs(in map[string]any, resourceType string) Tags {
	var out Tags
	for _, spec := range wire.List(in, "TagSpecifications") {
		m, _ := spec.(map[string]any)
		if wire.Str(m, "ResourceType") != resourceType {
			continue
		}
		for _, t := range wire.List(m, "Tags") {
			tm, _ := t.(map[string]any)
			if out == nil {
				out = Tags{}
			}
			out[wire.Str(tm, "Key")] = wire.Str(tm, "Value")
		}
	}
	return out
}

// checkTagSpecs refuses tag specifications for resource types an action cannot tag.
func checkTagSpecs(in map[string]any, allowed ...string) error {
	for _, spec := range wire.List(in, "TagSpecifications") {
		m, _ := spec.(map[string]any)
		rt := wire.Str(m, "ResourceType")
		ok := false
		for _, a := range allowed {
			if rt == a {
				ok = true
			}
		}
		if !ok {
			return apiErr("InvalidParameterValue", "'%s' is not a valid taggable resource type for this operation.", rt)
		}
	}
	return nil
}

// tagList renders tags as EC2's [{Key, Value}] list, sorted by key.
func tagList(t Tags) []any {
	out := make([]any, 0, len(t))
	for _, k := range sortedKeys(t) {
		out = append(out, map[string]any{"Key": k, "Value": t[k]})
	}
	return out
}

// createdTags is the Tags member of a Create* output: the tags given in
// TagSpecifications, and no member at all without them (the EC2 CLI
// reference's examples of create-security-group and create-key-pair).
func createdTags(t Tags) []any {
	if len(t) == 0 {
		return nil
	}
	return tagList(t)
}

func mergeTags(dst *Tags, src Tags) {
	if len(src) == 0 {
		return
	}
	if *dst == nil {
		*dst = Tags{}
	}
	for k, v := range src {
		(*dst)[k] = v
	}
}

// ---- filters ----

type ec2Filter struct {
	name   string
	values []string
}

func parseFilters(in map[string]any) []ec2Filter {
	var out []ec2Filter
	for _, f := range wire.List(in, "Filters") {
		m, _ := f.(map[string]any)
		out = append(out, ec2Filter{name: wire.Str(m, "Name"), values: wire.Strs(m, "Values")})
	}
	return out
}

// matchFilters applies EC2's filter rules: every filter must match; a filter
// matches when any of its values matches any of the resource's values for that
// name; values may use * and ? wildcards. attr returns the resource's values for
// a filter name and whether the name is supported.
func matchFilters(filters []ec2Filter, attr func(name string) ([]string, bool)) (bool, error) {
	for _, f := range filters {
		have, ok := attr(f.name)
		if !ok {
			return false, apiErr("InvalidParameterValue", "The filter '%s' is invalid", f.name)
		}
		if !anyMatch(f.values, have) {
			return false, nil
		}
	}
	return true, nil
}

func anyMatch(patterns, values []string) bool {
	for _, p := range patterns {
		for _, v := range values {
			if ok, _ := path.Match(escapeForMatch(p), v); ok {
				return true
			}
		}
	}
	return false
}

// escapeForMatch keeps EC2's wildcards (* and ?) and escapes path.Match's others.
func escapeForMatch(p string) string {
	r := strings.NewReplacer(`[`, `\[`, `]`, `\]`, `\`, `\\`)
	return r.Replace(p)
}

// tagAttr answers tag:<key>, tag-key and tag-value filters.
func tagAttr(t Tags, name string) ([]string, bool) {
	switch {
	case strings.HasPrefix(name, "tag:"):
		if v, ok := t[strings.TrimPrefix(name, "tag:")]; ok {
			return []string{v}, true
		}
		return nil, true
	case name == "tag-key":
		return sortedKeys(t), true
	case name == "tag-value":
		var vs []string
		for _, k := range sortedKeys(t) {
			vs = append(vs, t[k])
		}
		return vs, true
	}
	return nil, false
}

func boolStr(b bool) string { return strconv.FormatBool(b) }

// pageEC2 pages a listing with MaxResults / NextToken.
func pageEC2(c *call, items []any, def int) ([]any, string, error) {
	limit := int(wire.Int(c.in, "MaxResults"))
	token := wire.Str(c.in, "NextToken")
	start := 0
	if token != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(token, "nt-"))
		if err != nil || !strings.HasPrefix(token, "nt-") || n < 0 {
			return nil, "", apiErr("InvalidParameterValue", "Invalid value '%s' for NextToken", token)
		}
		start = n
	}
	if limit <= 0 {
		limit = def
	}
	if start > len(items) {
		start = len(items)
	}
	end := start + limit
	if end >= len(items) {
		return items[start:], "", nil
	}
	return items[start:end], fmt.Sprintf("nt-%d", end), nil
}

// ---- CreateTags / DeleteTags / DescribeTags over every taggable resource ----

func (s *Server) registerEC2Tags() {
	s.handle("ec2", "CreateTags", s.ec2CreateTags)
	s.handle("ec2", "DeleteTags", s.ec2DeleteTags)
	s.handle("ec2", "DescribeTags", s.ec2DescribeTags)
}

// resourceTags finds a resource the caller owns by id and returns its tag set.
func (c *Cloud) resourceTags(account, region, id string) (*Tags, string, error) {
	r := c.region(account, region)
	notFound := func(code, kind string) error {
		return apiErr(code, "The %s ID '%s' does not exist", kind, id)
	}
	switch {
	case strings.HasPrefix(id, "ami-"):
		if im := r.Images[id]; im != nil {
			return &im.Tags, "image", nil
		}
		return nil, "", apiErr("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", id)
	case strings.HasPrefix(id, "snap-"):
		if sn := r.Snapshots[id]; sn != nil {
			return &sn.Tags, "snapshot", nil
		}
		return nil, "", notFound("InvalidSnapshot.NotFound", "snapshot")
	case strings.HasPrefix(id, "vol-"):
		if v := r.Volumes[id]; v != nil {
			return &v.Tags, "volume", nil
		}
		return nil, "", notFound("InvalidVolume.NotFound", "volume")
	case strings.HasPrefix(id, "i-"):
		if v := r.Instances[id]; v != nil {
			return &v.Tags, "instance", nil
		}
		return nil, "", notFound("InvalidInstanceID.NotFound", "instance")
	case strings.HasPrefix(id, "lt-"):
		if v := r.LaunchTemplates[id]; v != nil {
			return &v.Tags, "launch-template", nil
		}
		return nil, "", notFound("InvalidLaunchTemplateId.NotFound", "launch template")
	case strings.HasPrefix(id, "sg-"):
		if v := r.SecurityGroups[id]; v != nil {
			return &v.Tags, "security-group", nil
		}
		return nil, "", notFound("InvalidGroup.NotFound", "security group")
	case strings.HasPrefix(id, "vpc-"):
		if v := r.VPCs[id]; v != nil {
			return &v.Tags, "vpc", nil
		}
		return nil, "", notFound("InvalidVpcID.NotFound", "vpc")
	case strings.HasPrefix(id, "subnet-"):
		if v := r.Subnets[id]; v != nil {
			return &v.Tags, "subnet", nil
		}
		return nil, "", notFound("InvalidSubnetID.NotFound", "subnet")
	case strings.HasPrefix(id, "key-"):
		for _, kp := range r.KeyPairs {
			if kp.ID == id {
				return &kp.Tags, "key-pair", nil
			}
		}
		return nil, "", notFound("InvalidKeyPair.NotFound", "key pair")
	}
	return nil, "", apiErr("InvalidID", "The ID '%s' is not valid", id)
}

func (s *Server) ec2CreateTags(c *call) (map[string]any, error) {
	ids := wire.Strs(c.in, "Resources")
	if len(ids) == 0 {
		return nil, apiErr("MissingParameter", "The request must contain the parameter resourceIdSet")
	}
	add := Tags{}
	for _, t := range wire.List(c.in, "Tags") {
		m, _ := t.(map[string]any)
		k := wire.Str(m, "Key")
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, apiErr("InvalidParameterValue", "Tag keys starting with 'aws:' are reserved for internal use")
		}
		add[k] = wire.Str(m, "Value")
	}
	// Validate every resource before changing any, as EC2 does.
	var sets []*Tags
	for _, id := range ids {
		t, _, err := c.c.resourceTags(c.caller.Account, c.region, id)
		if err != nil {
			return nil, err
		}
		sets = append(sets, t)
	}
	for _, t := range sets {
		if len(*t)+len(add) > 50 {
			return nil, apiErr("TagLimitExceeded", "The maximum number of tags (50) for a resource has been reached.")
		}
		mergeTags(t, add)
	}
	c.c.markDirty()
	return nil, nil
}

func (s *Server) ec2DeleteTags(c *call) (map[string]any, error) {
	for _, id := range wire.Strs(c.in, "Resources") {
		t, _, err := c.c.resourceTags(c.caller.Account, c.region, id)
		if err != nil {
			return nil, err
		}
		tags := wire.List(c.in, "Tags")
		if len(tags) == 0 {
			*t = nil
			continue
		}
		for _, tag := range tags {
			m, _ := tag.(map[string]any)
			k := wire.Str(m, "Key")
			if v, ok := m["Value"]; ok && v != nil && (*t)[k] != wire.Str(m, "Value") {
				continue
			}
			delete(*t, k)
		}
	}
	c.c.markDirty()
	return nil, nil
}

func (s *Server) ec2DescribeTags(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	type res struct {
		id, kind string
		tags     Tags
	}
	var all []res
	for id, v := range r.Images {
		all = append(all, res{id, "image", v.Tags})
	}
	for id, v := range r.Snapshots {
		all = append(all, res{id, "snapshot", v.Tags})
	}
	for id, v := range r.Volumes {
		all = append(all, res{id, "volume", v.Tags})
	}
	for id, v := range r.Instances {
		all = append(all, res{id, "instance", v.Tags})
	}
	for id, v := range r.LaunchTemplates {
		all = append(all, res{id, "launch-template", v.Tags})
	}
	for id, v := range r.SecurityGroups {
		all = append(all, res{id, "security-group", v.Tags})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].id < all[j].id })
	filters := parseFilters(c.in)
	var items []any
	for _, rs := range all {
		for _, k := range sortedKeys(rs.tags) {
			v := rs.tags[k]
			ok, err := matchFilters(filters, func(name string) ([]string, bool) {
				switch name {
				case "resource-id":
					return []string{rs.id}, true
				case "resource-type":
					return []string{rs.kind}, true
				case "key":
					return []string{k}, true
				case "value":
					return []string{v}, true
				}
				return tagAttr(rs.tags, name)
			})
			if err != nil {
				return nil, err
			}
			if ok {
				items = append(items, map[string]any{"Key": k, "Value": v, "ResourceId": rs.id, "ResourceType": rs.kind})
			}
		}
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Tags": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}
