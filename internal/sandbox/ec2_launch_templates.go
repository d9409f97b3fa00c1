package sandbox

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// Launch templates. A version's data is kept as the caller sent it
// (RequestLaunchTemplateData); every member of that shape also exists, with a
// compatible shape, in ResponseLaunchTemplateData, so DescribeLaunchTemplateVersions
// echoes it back and the wire layer renders each member under its response
// name (SecurityGroupIds -> securityGroupIdSet, BlockDeviceMappings ->
// blockDeviceMappingSet, ...).

var (
	ltNameRE = regexp.MustCompile(`^[a-zA-Z0-9().\-/_]{3,128}$`)
	ltIDRE   = regexp.MustCompile(`^lt-[0-9a-f]{17}$`)
)

func (s *Server) registerEC2LaunchTemplates() {
	s.handle("ec2", "CreateLaunchTemplate", s.ec2CreateLaunchTemplate)
	s.handle("ec2", "CreateLaunchTemplateVersion", s.ec2CreateLaunchTemplateVersion)
	s.handle("ec2", "ModifyLaunchTemplate", s.ec2ModifyLaunchTemplate)
	s.handle("ec2", "DescribeLaunchTemplates", s.ec2DescribeLaunchTemplates)
	s.handle("ec2", "DescribeLaunchTemplateVersions", s.ec2DescribeLaunchTemplateVersions)
	s.handle("ec2", "DeleteLaunchTemplate", s.ec2DeleteLaunchTemplate)
}

func ltIDNotFound(id string) error {
	return apiErr("InvalidLaunchTemplateId.NotFound", "The specified launch template, with template ID %s, does not exist.", id)
}

func ltNameNotFound(name string) error {
	return apiErr("InvalidLaunchTemplateName.NotFoundException", "The specified launch template, with template name %s, does not exist.", name)
}

// launchTemplateByName finds a template by name in an account and region.
func (c *Cloud) launchTemplateByName(account, region, name string) *LaunchTemplate {
	r := c.region(account, region)
	for _, id := range sortedKeys(r.LaunchTemplates) {
		if lt := r.LaunchTemplates[id]; lt.Name == name {
			return lt
		}
	}
	return nil
}

// findLaunchTemplate resolves LaunchTemplateId or LaunchTemplateName.
func (c *Cloud) findLaunchTemplate(account, region, id, name string) (*LaunchTemplate, error) {
	switch {
	case id != "" && name != "":
		return nil, apiErr("InvalidParameterCombination", "Specify either LaunchTemplateId or LaunchTemplateName, not both.")
	case id != "":
		if !ltIDRE.MatchString(id) {
			return nil, apiErr("InvalidLaunchTemplateId.Malformed", "The specified ID for the launch template (%s) is not valid. The ID must be in the form lt-xxxxxxxxxxxxxxxxx.", id)
		}
		lt := c.region(account, region).LaunchTemplates[id]
		if lt == nil {
			return nil, ltIDNotFound(id)
		}
		return lt, nil
	case name != "":
		lt := c.launchTemplateByName(account, region, name)
		if lt == nil {
			return nil, ltNameNotFound(name)
		}
		return lt, nil
	}
	return nil, apiErr("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId")
}

// templateVersion resolves $Latest, $Default ("" too) or a version number.
func templateVersion(lt *LaunchTemplate, version string) (*LaunchTemplateVersion, error) {
	n := lt.DefaultVersion
	switch version {
	case "", "$Default":
	case "$Latest":
		n = lt.LatestVersion
	default:
		v, err := strconv.ParseInt(version, 10, 64)
		if err != nil || v < 1 {
			return nil, apiErr("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s (a version is $Latest, $Default or a number)", version, lt.ID)
		}
		n = v
	}
	for _, v := range lt.Versions {
		if v.Number == n {
			return v, nil
		}
	}
	// The code is EC2's; the wording is the sandbox's.
	return nil, apiErr("InvalidLaunchTemplateId.VersionNotFound", "Could not find launch template version %s for launch template %s", version, lt.ID)
}

// findLaunchTemplateVersion resolves a LaunchTemplateSpecification.
func (c *Cloud) findLaunchTemplateVersion(account, region, id, name, version string) (*LaunchTemplate, *LaunchTemplateVersion, error) {
	lt, err := c.findLaunchTemplate(account, region, id, name)
	if err != nil {
		return nil, nil, err
	}
	v, err := templateVersion(lt, version)
	if err != nil {
		return nil, nil, err
	}
	return lt, v, nil
}

func launchTemplateOut(lt *LaunchTemplate) map[string]any {
	out := map[string]any{
		"LaunchTemplateId": lt.ID, "LaunchTemplateName": lt.Name, "CreateTime": lt.Created, "CreatedBy": lt.CreatedBy,
		"DefaultVersionNumber": lt.DefaultVersion, "LatestVersionNumber": lt.LatestVersion,
	}
	if len(lt.Tags) > 0 {
		out["Tags"] = tagList(lt.Tags)
	}
	return out
}

func launchTemplateVersionOut(lt *LaunchTemplate, v *LaunchTemplateVersion) map[string]any {
	data := deepCopyMap(v.Data)
	if data == nil {
		data = map[string]any{}
	}
	out := map[string]any{
		"LaunchTemplateId": lt.ID, "LaunchTemplateName": lt.Name, "VersionNumber": v.Number, "CreateTime": v.Created,
		"CreatedBy": v.CreatedBy, "DefaultVersion": v.Number == lt.DefaultVersion, "LaunchTemplateData": data,
	}
	if v.Description != "" {
		out["VersionDescription"] = v.Description
	}
	return out
}

// The sandbox does not keep CreateLaunchTemplate's ClientToken: a retried
// create with the same name answers AlreadyExists.
func (s *Server) ec2CreateLaunchTemplate(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "LaunchTemplateName")
	if !ltNameRE.MatchString(name) {
		return nil, apiErr("InvalidLaunchTemplateName.MalformedException", "A launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'")
	}
	if err := checkTagSpecs(c.in, "launch-template"); err != nil {
		return nil, err
	}
	if c.c.launchTemplateByName(c.caller.Account, c.region, name) != nil {
		return nil, apiErr("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.")
	}
	data := deepCopyMap(wire.Struct(c.in, "LaunchTemplateData"))
	if data == nil {
		data = map[string]any{}
	}
	now := c.now.UTC().Truncate(time.Millisecond)
	lt := &LaunchTemplate{
		ID: c.c.nextID("lt"), Name: name, Owner: c.caller.Account, DefaultVersion: 1, LatestVersion: 1,
		Tags: tagSpecs(c.in, "launch-template"), Created: now, CreatedBy: c.caller.ARN,
		Versions: []*LaunchTemplateVersion{{Number: 1, Description: wire.Str(c.in, "VersionDescription"), Data: data, Created: now, CreatedBy: c.caller.ARN}},
	}
	c.c.region(c.caller.Account, c.region).LaunchTemplates[lt.ID] = lt
	c.c.markDirty()
	return map[string]any{"LaunchTemplate": launchTemplateOut(lt)}, nil
}

// ClientToken makes the call idempotent, as EC2 documents for its
// idempotent actions (Ensuring idempotency in Amazon EC2 API requests): the
// same token with the same parameters answers the version it made, with
// other parameters IdempotentParameterMismatch. The SDKs fill an empty token
// with a UUID, so their own retries of a lost answer do not make a second
// version. Tokens do not expire here (EC2 keeps them at least 24 hours; how
// much longer is not documented).
func (s *Server) ec2CreateLaunchTemplateVersion(c *call) (map[string]any, error) {
	lt, err := c.c.findLaunchTemplate(c.caller.Account, c.region, wire.Str(c.in, "LaunchTemplateId"), wire.Str(c.in, "LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	token := wire.Str(c.in, "ClientToken")
	params := ""
	if token != "" {
		b, _ := json.Marshal([]any{lt.ID, wire.Str(c.in, "SourceVersion"), wire.Str(c.in, "VersionDescription"), wire.Struct(c.in, "LaunchTemplateData")})
		params = string(b)
		if prev, ok := lt.VersionTokens[token]; ok {
			if prev.Params != params {
				return nil, apiErr("IdempotentParameterMismatch", "The client token '%s' was already used with different parameters.", token)
			}
			for _, v := range lt.Versions {
				if v.Number == prev.Version {
					return map[string]any{"LaunchTemplateVersion": launchTemplateVersionOut(lt, v)}, nil
				}
			}
		}
	}
	data := map[string]any{}
	if sv := wire.Str(c.in, "SourceVersion"); sv != "" {
		src, err := templateVersion(lt, sv)
		if err != nil {
			return nil, err
		}
		data = deepCopyMap(src.Data)
		if data == nil {
			data = map[string]any{}
		}
	}
	// Parameters given for the new version replace the source version's, member
	// by member at the top level (a list such as BlockDeviceMappings is replaced
	// whole).
	for k, v := range wire.Struct(c.in, "LaunchTemplateData") {
		data[k] = deepCopyValue(v)
	}
	if lt.LatestVersion >= 10000 {
		return nil, apiErr("LaunchTemplateVersionLimitExceeded", "The launch template %s has reached the limit of 10000 versions.", lt.ID)
	}
	now := c.now.UTC().Truncate(time.Millisecond)
	v := &LaunchTemplateVersion{Number: lt.LatestVersion + 1, Description: wire.Str(c.in, "VersionDescription"), Data: data, Created: now, CreatedBy: c.caller.ARN}
	lt.Versions = append(lt.Versions, v)
	lt.LatestVersion = v.Number
	if token != "" {
		if lt.VersionTokens == nil {
			lt.VersionTokens = map[string]*VersionToken{}
		}
		lt.VersionTokens[token] = &VersionToken{Params: params, Version: v.Number}
	}
	c.c.markDirty()
	return map[string]any{"LaunchTemplateVersion": launchTemplateVersionOut(lt, v)}, nil
}

func (s *Server) ec2ModifyLaunchTemplate(c *call) (map[string]any, error) {
	lt, err := c.c.findLaunchTemplate(c.caller.Account, c.region, wire.Str(c.in, "LaunchTemplateId"), wire.Str(c.in, "LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	if dv := wire.Str(c.in, "DefaultVersion"); dv != "" {
		v, err := templateVersion(lt, dv)
		if err != nil {
			return nil, err
		}
		lt.DefaultVersion = v.Number
		c.c.markDirty()
	}
	return map[string]any{"LaunchTemplate": launchTemplateOut(lt)}, nil
}

func (s *Server) ec2DescribeLaunchTemplates(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	ids, names := wire.Strs(c.in, "LaunchTemplateIds"), wire.Strs(c.in, "LaunchTemplateNames")
	if n, ok := wire.IntOK(c.in, "MaxResults"); ok && (n < 1 || n > 200) {
		return nil, apiErr("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between 1 and 200.", n)
	}
	for _, id := range ids {
		if _, err := c.c.findLaunchTemplate(c.caller.Account, c.region, id, ""); err != nil {
			return nil, err
		}
	}
	for _, n := range names {
		if c.c.launchTemplateByName(c.caller.Account, c.region, n) == nil {
			return nil, apiErr("InvalidLaunchTemplateName.NotFoundException", "At least one of the launch templates specified in the request does not exist.")
		}
	}
	filters := parseFilters(c.in)
	var items []any
	for _, id := range sortedKeys(r.LaunchTemplates) {
		lt := r.LaunchTemplates[id]
		if len(ids) > 0 && !inList(ids, lt.ID) || len(names) > 0 && !inList(names, lt.Name) {
			continue
		}
		ok, err := matchFilters(filters, func(name string) ([]string, bool) {
			switch name {
			case "launch-template-name":
				return []string{lt.Name}, true
			case "create-time":
				return []string{lt.Created.UTC().Format("2006-01-02T15:04:05.000Z")}, true
			}
			return tagAttr(lt.Tags, name)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, launchTemplateOut(lt))
		}
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"LaunchTemplates": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// ec2DescribeLaunchTemplateVersions lists versions of one template, or with
// neither id nor name the $Latest/$Default versions of every template. Versions
// come newest first, which is the sandbox's reading of AWS's examples.
func (s *Server) ec2DescribeLaunchTemplateVersions(c *call) (map[string]any, error) {
	id, name := wire.Str(c.in, "LaunchTemplateId"), wire.Str(c.in, "LaunchTemplateName")
	versions := wire.Strs(c.in, "Versions")
	type pair struct {
		lt *LaunchTemplate
		v  *LaunchTemplateVersion
	}
	var pairs []pair
	if id == "" && name == "" {
		for _, v := range versions {
			if v != "$Latest" && v != "$Default" {
				return nil, apiErr("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId when a version number is given")
			}
		}
		r := c.c.region(c.caller.Account, c.region)
		for _, ltID := range sortedKeys(r.LaunchTemplates) {
			lt := r.LaunchTemplates[ltID]
			if len(versions) == 0 {
				for _, v := range lt.Versions {
					pairs = append(pairs, pair{lt, v})
				}
				continue
			}
			seen := map[int64]bool{}
			for _, vs := range versions {
				v, err := templateVersion(lt, vs)
				if err == nil && !seen[v.Number] {
					seen[v.Number] = true
					pairs = append(pairs, pair{lt, v})
				}
			}
		}
	} else {
		lt, err := c.c.findLaunchTemplate(c.caller.Account, c.region, id, name)
		if err != nil {
			return nil, err
		}
		if len(versions) > 0 {
			seen := map[int64]bool{}
			for _, vs := range versions {
				v, err := templateVersion(lt, vs)
				if err != nil {
					return nil, err
				}
				if !seen[v.Number] {
					seen[v.Number] = true
					pairs = append(pairs, pair{lt, v})
				}
			}
		} else {
			min, max := int64(1), lt.LatestVersion
			if s := wire.Str(c.in, "MinVersion"); s != "" {
				v, err := templateVersion(lt, s)
				if err != nil {
					return nil, err
				}
				min = v.Number
			}
			if s := wire.Str(c.in, "MaxVersion"); s != "" {
				v, err := templateVersion(lt, s)
				if err != nil {
					return nil, err
				}
				max = v.Number
			}
			for _, v := range lt.Versions {
				if v.Number >= min && v.Number <= max {
					pairs = append(pairs, pair{lt, v})
				}
			}
		}
	}
	if len(versions) == 0 {
		sort.SliceStable(pairs, func(i, j int) bool {
			if pairs[i].lt.ID != pairs[j].lt.ID {
				return pairs[i].lt.ID < pairs[j].lt.ID
			}
			return pairs[i].v.Number > pairs[j].v.Number
		})
	}
	filters := parseFilters(c.in)
	var items []any
	for _, p := range pairs {
		ok, err := matchFilters(filters, func(name string) ([]string, bool) {
			d := p.v.Data
			switch name {
			case "is-default-version":
				return []string{boolStr(p.v.Number == p.lt.DefaultVersion)}, true
			case "image-id":
				return []string{wire.Str(d, "ImageId")}, true
			case "instance-type":
				return []string{wire.Str(d, "InstanceType")}, true
			case "kernel-id":
				return []string{wire.Str(d, "KernelId")}, true
			case "ram-disk-id":
				return []string{wire.Str(d, "RamDiskId")}, true
			case "create-time":
				return []string{p.v.Created.UTC().Format("2006-01-02T15:04:05.000Z")}, true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, launchTemplateVersionOut(p.lt, p.v))
		}
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"LaunchTemplateVersions": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Server) ec2DeleteLaunchTemplate(c *call) (map[string]any, error) {
	lt, err := c.c.findLaunchTemplate(c.caller.Account, c.region, wire.Str(c.in, "LaunchTemplateId"), wire.Str(c.in, "LaunchTemplateName"))
	if err != nil {
		return nil, err
	}
	delete(c.c.region(c.caller.Account, c.region).LaunchTemplates, lt.ID)
	c.c.markDirty()
	return map[string]any{"LaunchTemplate": launchTemplateOut(lt)}, nil
}
