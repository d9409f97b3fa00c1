package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// SSM Parameter Store as the Systems Manager API Reference and User Guide
// describe it: String, StringList and SecureString parameters with versions,
// the text and aws:ec2:image data types, hierarchies (GetParametersByPath) and
// DescribeParameters. Authorization is by identity policy only (the server
// checks ssm:<Action> before the handler runs). Not modelled: parameter
// history and labels, parameter policies, shared (RAM) parameters, and KMS
// authorization of SecureString encryption. Tags (PutParameter's Tags,
// AddTagsToResource, RemoveTagsFromResource, ListTagsForResource) are
// modelled for parameters, the only SSM resources the sandbox has.

const (
	ssmStandardValueMax = 4096
	ssmAdvancedValueMax = 8192
	ssmNameMax          = 1011
	ssmMaxLevels        = 15
	// ssmStandardParamsMax is the Standard-tier quota of parameters per account and region.
	ssmStandardParamsMax = 10000
)

var (
	ssmNameRE  = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)
	ssmAMIIDRE = regexp.MustCompile(`^ami-([0-9a-f]{8}|[0-9a-f]{17})$`)
	ssmTypes   = []string{"String", "StringList", "SecureString"}
	ssmDataTyp = []string{"text", "aws:ec2:image", "aws:ssm:integration"}
	ssmTiers   = []string{"Standard", "Advanced", "Intelligent-Tiering"}
)

func (s *Server) registerSSM() {
	s.handle("ssm", "PutParameter", ssmPutParameter)
	s.handle("ssm", "GetParameter", ssmGetParameter)
	s.handle("ssm", "GetParameters", ssmGetParameters)
	s.handle("ssm", "DeleteParameter", ssmDeleteParameter)
	s.handle("ssm", "DescribeParameters", ssmDescribeParameters)
	s.handle("ssm", "GetParametersByPath", ssmGetParametersByPath)
	s.handle("ssm", "AddTagsToResource", ssmAddTagsToResource)
	s.handle("ssm", "ListTagsForResource", ssmListTagsForResource)
	s.handle("ssm", "RemoveTagsFromResource", ssmRemoveTagsFromResource)
}

func ssmValidation(format string, args ...any) error {
	return apiErr("ValidationException", format, args...)
}

// paramNotFound is SSM's ParameterNotFound; AWS sends it without a message.
func paramNotFound() error { return apiErr("ParameterNotFound", "") }

// validateParamName applies the User Guide's naming rules.
func validateParamName(name string) error {
	if name == "" {
		return ssmValidation("1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(name) > ssmNameMax {
		return ssmValidation("Parameter name %s exceeds the maximum length of %d characters", name, ssmNameMax)
	}
	if !ssmNameRE.MatchString(name) {
		return ssmValidation("Parameter name: can contain only letters, numbers and the symbols _ . - / (got %q)", name)
	}
	if strings.Contains(name, "/") && !strings.HasPrefix(name, "/") {
		return ssmValidation("Parameter name must be a fully qualified name.")
	}
	bare := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(bare, "aws") || strings.HasPrefix(bare, "ssm") {
		return ssmValidation("Parameter name: can't be prefixed with \"aws\" or \"ssm\" (case-insensitive).")
	}
	if strings.Count(name, "/") > ssmMaxLevels {
		return apiErr("HierarchyLevelLimitExceededException", "Parameter name %s has more than %d hierarchy levels", name, ssmMaxLevels)
	}
	return nil
}

// paramARN is arn:aws:ssm:<region>:<account>:parameter/<name without its leading slash>.
func paramARN(region, account, name string) string {
	return fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/%s", region, account, strings.TrimPrefix(name, "/"))
}

// paramRef splits a Name member into the parameter name (from a name or ARN of
// the caller's account and region) and an optional ":version" or ":label"
// selector. ok is false for an ARN of another account or region (shared
// parameters are not modelled).
func (c *call) paramRef(ref string) (name, selector string, ok bool) {
	if strings.HasPrefix(ref, "arn:") {
		prefix := fmt.Sprintf("arn:aws:ssm:%s:%s:parameter/", c.region, c.caller.Account)
		if !strings.HasPrefix(ref, prefix) {
			return "", "", false
		}
		rest := strings.TrimPrefix(ref, prefix)
		rest, selector, _ = strings.Cut(rest, ":")
		r := c.c.region(c.caller.Account, c.region)
		if _, exists := r.Parameters[rest]; exists && !strings.Contains(rest, "/") {
			return rest, selector, true
		}
		return "/" + rest, selector, true
	}
	name, selector, _ = strings.Cut(ref, ":")
	return name, selector, true
}

// lookupParam finds a parameter by Name (name or ARN, with optional selector).
func (c *call) lookupParam(ref string) (*Parameter, string, error) {
	name, selector, ok := c.paramRef(ref)
	if !ok {
		return nil, "", paramNotFound()
	}
	p := c.c.region(c.caller.Account, c.region).Parameters[name]
	if p == nil {
		return nil, "", paramNotFound()
	}
	if selector != "" {
		v, err := strconv.ParseInt(selector, 10, 64)
		if err != nil {
			// A label: labels are not modelled, so none exists.
			return nil, "", apiErr("ParameterVersionNotFound", "Systems Manager could not find label %s of %s. Verify the label and try again.", selector, name)
		}
		if v != p.Version {
			// Only the current version is kept (no parameter history).
			return nil, "", apiErr("ParameterVersionNotFound", "Systems Manager could not find version %d of %s. Verify the version and try again.", v, name)
		}
	}
	return p, selector, nil
}

// secureValue is what GetParameter shows for a SecureString read without
// WithDecryption: an opaque base64 ciphertext (KMS-blob shaped, naming the key).
func (c *call) secureValue(p *Parameter) string {
	keyARN := paramKeyID(p)
	if k, err := c.c.resolveKey(c.caller.Account, c.region, keyARN); err == nil && k != nil {
		keyARN = k.ARN
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%s", p.Name, p.Version, p.Value)))
	blob := makeCiphertext(keyARN, len(p.Value), sum[:16], map[string]string{"PARAMETER_ARN": paramARN(c.region, c.caller.Account, p.Name)})
	return base64.StdEncoding.EncodeToString(blob)
}

func (c *call) paramOut(p *Parameter, selector string, decrypt bool) map[string]any {
	value := p.Value
	if p.Type == "SecureString" && !decrypt {
		value = c.secureValue(p)
	}
	dataType := p.DataType
	if dataType == "" {
		dataType = "text"
	}
	out := map[string]any{
		"Name":             p.Name,
		"Type":             p.Type,
		"Value":            value,
		"Version":          p.Version,
		"LastModifiedDate": p.LastModified,
		"ARN":              paramARN(c.region, c.caller.Account, p.Name),
		"DataType":         dataType,
	}
	if selector != "" {
		out["Selector"] = ":" + selector
	}
	return out
}

// paramKeyID is the KMS key of a SecureString (alias/aws/ssm unless another was named).
func paramKeyID(p *Parameter) string {
	if p.Type == "SecureString" && p.KeyID == "" {
		return "alias/aws/ssm"
	}
	return p.KeyID
}

func paramTier(p *Parameter) string {
	if p.Tier == "" {
		return "Standard"
	}
	return p.Tier
}

// amiUsable reports whether id is an available AMI in the caller's region that
// the caller's account can launch (owns, public, or shared with it).
func (c *call) amiUsable(id string) bool {
	im := c.c.imageIndex[id]
	if im == nil || im.Region != c.region || im.State != "available" {
		return false
	}
	return im.Owner == c.caller.Account || im.Public || contains(im.LaunchPermissions, c.caller.Account)
}

// ssmPutParameter creates a parameter or, with Overwrite, a new version of it.
//
// DataType aws:ec2:image: the value must look like an AMI id (ami- and 8 or 17
// hex digits), checked at once (ValidationException). AWS then verifies
// asynchronously that the AMI exists and that the account may use it:
// PutParameter has already returned a version, and when the check fails the
// parameter is not created or updated (an EventBridge event reports it). The
// sandbox runs the check at once with the same outcome: an AMI the account can
// launch in this region is stored; otherwise the version is returned but
// nothing changes, as after a failed asynchronous check.
func ssmPutParameter(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "Name")
	if err := validateParamName(name); err != nil {
		return nil, err
	}
	value := wire.Str(c.in, "Value")
	if value == "" {
		return nil, ssmValidation("1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	overwrite := wire.Bool(c.in, "Overwrite")
	tags := wire.Structs(c.in, "Tags")
	if overwrite && len(tags) > 0 {
		return nil, ssmValidation("Invalid request: tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	newTags, err := ssmTags(tags)
	if err != nil {
		return nil, err
	}
	if len(newTags) > ssmMaxTags {
		return nil, apiErr("TooManyTagsError", "A parameter can have at most %d tags (got %d)", ssmMaxTags, len(newTags))
	}
	typ := wire.Str(c.in, "Type")
	if typ != "" && !contains(ssmTypes, typ) {
		return nil, enumErr("Type", typ, ssmTypes)
	}
	dataType := wire.Str(c.in, "DataType")
	if dataType == "" {
		dataType = "text" // the API's default, also when overwriting
	}
	if !contains(ssmDataTyp, dataType) {
		return nil, ssmValidation("The following data type is not supported: %s (supported data types: %s)", dataType, strings.Join(ssmDataTyp, ", "))
	}
	tier := wire.Str(c.in, "Tier")
	if tier != "" && !contains(ssmTiers, tier) {
		return nil, enumErr("Tier", tier, ssmTiers)
	}
	desc, hasDesc := wire.StrOK(c.in, "Description")
	if len(desc) > 1024 {
		return nil, ssmValidation("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	if wire.Str(c.in, "Policies") != "" {
		return nil, ssmValidation("Parameter policies are not modelled by this sandbox")
	}
	if pat := wire.Str(c.in, "AllowedPattern"); pat != "" {
		re, err := regexp.Compile(pat)
		if err != nil {
			return nil, apiErr("InvalidAllowedPatternException", "The request does not meet the regular expression requirement: %v", err)
		}
		// The pattern is checked against this value; it is not kept for later versions.
		if !re.MatchString(value) {
			return nil, apiErr("ParameterPatternMismatchException", "Parameter value, %s, failed to satisfy constraint specified by AllowedPattern: %s.", value, pat)
		}
	}

	r := c.c.region(c.caller.Account, c.region)
	existing := r.Parameters[name]
	if existing != nil && !overwrite {
		return nil, apiErr("ParameterAlreadyExists", "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
	}
	if existing == nil && typ == "" {
		return nil, ssmValidation("A parameter type is required when you create a parameter.")
	}
	if existing != nil {
		if typ == "" {
			typ = existing.Type
		}
		if typ != existing.Type {
			return nil, apiErr("HierarchyTypeMismatchException", "Parameter Store does not support changing a parameter type in a hierarchy. For example, you can't change a parameter from a String type to a SecureString type. You must create a new, unique parameter.")
		}
	}
	if dataType == "aws:ec2:image" {
		if typ != "String" {
			return nil, ssmValidation("The aws:ec2:image data type is only supported for String parameters.")
		}
		if !ssmAMIIDRE.MatchString(value) {
			return nil, ssmValidation("Parameter value %s is not a valid AMI id: the aws:ec2:image data type needs an id of the form ami-1234567890abcdef0", value)
		}
	}

	// Tier: Standard holds up to 4 KB, Advanced 8 KB; Intelligent-Tiering picks
	// Advanced only when needed; an Advanced parameter never goes back.
	effTier := "Standard"
	switch {
	case tier == "Advanced", existing != nil && paramTier(existing) == "Advanced":
		effTier = "Advanced"
	case tier == "Intelligent-Tiering" && len(value) > ssmStandardValueMax:
		effTier = "Advanced"
	}
	if existing != nil && paramTier(existing) == "Advanced" && tier == "Standard" {
		return nil, ssmValidation("This parameter uses the advanced-parameter tier. You can't downgrade a parameter from the advanced-parameter tier to the standard-parameter tier. If necessary, you can delete the advanced parameter and recreate it as a standard parameter.")
	}
	if effTier == "Standard" && len(value) > ssmStandardValueMax {
		return nil, ssmValidation("Standard tier parameters support a maximum parameter value of 4096 characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html")
	}
	if len(value) > ssmAdvancedValueMax {
		return nil, ssmValidation("Parameter value exceeds the maximum of %d characters for advanced parameters", ssmAdvancedValueMax)
	}

	keyID := ""
	if typ == "SecureString" {
		keyID = wire.Str(c.in, "KeyId")
		if keyID == "" && existing != nil {
			keyID = existing.KeyID
		}
		if keyID == "" || keyID == "alias/aws/ssm" {
			keyID = "alias/aws/ssm"
			c.c.ensureAWSManagedKey(c.caller.Account, c.region, "alias/aws/ssm")
		} else {
			k, err := c.c.resolveKey(c.caller.Account, c.region, keyID)
			if err != nil || k == nil || k.State != "Enabled" || k.Spec != "SYMMETRIC_DEFAULT" {
				return nil, apiErr("InvalidKeyId", "The query key ID isn't valid: %s", keyID)
			}
		}
	}
	if existing == nil && effTier == "Standard" {
		n := 0
		for _, p := range r.Parameters {
			if paramTier(p) == "Standard" {
				n++
			}
		}
		if n >= ssmStandardParamsMax {
			return nil, apiErr("ParameterLimitExceeded", "You have exceeded the number of parameters for this AWS account. Delete unnecessary parameters and try again.")
		}
	}

	version := int64(1)
	if existing != nil {
		version = existing.Version + 1
	}
	if dataType == "aws:ec2:image" && !c.amiUsable(value) {
		// The asynchronous AMI check failed: nothing is stored (see above).
		c.s.log.Debug().Str("account", c.caller.Account).Str("region", c.region).Str("parameter", name).Str("value", value).
			Msg("ssm: aws:ec2:image check failed (no such AMI, or not launchable by the account): parameter not stored")
		return map[string]any{"Version": version, "Tier": effTier}, nil
	}
	p := &Parameter{
		Name: name, Type: typ, Value: value, DataType: dataType, Version: version,
		LastModified: c.now.UTC().Truncate(time.Millisecond), Tier: effTier, KeyID: keyID,
		LastModifiedUser: c.caller.ARN,
	}
	if existing != nil {
		p.Tags = existing.Tags
		p.Description = existing.Description
	}
	if hasDesc {
		p.Description = desc
	}
	if len(newTags) > 0 {
		p.Tags = newTags
	}
	r.Parameters[name] = p
	c.c.markDirty()
	return map[string]any{"Version": version, "Tier": effTier}, nil
}

func ssmGetParameter(c *call) (map[string]any, error) {
	p, selector, err := c.lookupParam(wire.Str(c.in, "Name"))
	if err != nil {
		return nil, err
	}
	return map[string]any{"Parameter": c.paramOut(p, selector, wire.Bool(c.in, "WithDecryption"))}, nil
}

func ssmGetParameters(c *call) (map[string]any, error) {
	names := wire.Strs(c.in, "Names")
	if len(names) == 0 || len(names) > 10 {
		return nil, ssmValidation("1 validation error detected: Value '[%s]' at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1", strings.Join(names, ", "))
	}
	found, invalid := []any{}, []string{}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		p, selector, err := c.lookupParam(n)
		if err != nil {
			invalid = append(invalid, n)
			continue
		}
		found = append(found, c.paramOut(p, selector, wire.Bool(c.in, "WithDecryption")))
	}
	return map[string]any{"Parameters": found, "InvalidParameters": invalid}, nil
}

func ssmDeleteParameter(c *call) (map[string]any, error) {
	name, _, ok := c.paramRef(wire.Str(c.in, "Name"))
	r := c.c.region(c.caller.Account, c.region)
	if !ok || r.Parameters[name] == nil {
		return nil, paramNotFound()
	}
	delete(r.Parameters, name)
	c.c.markDirty()
	return nil, nil
}

// paramFilter is one DescribeParameters / GetParametersByPath filter.
type paramFilter struct {
	key, option string
	values      []string
}

func paramFilters(in map[string]any) ([]paramFilter, error) {
	var out []paramFilter
	for _, f := range wire.Structs(in, "Filters") { // the deprecated form: Key Name|Type|KeyId
		key := wire.Str(f, "Key")
		if key != "Name" && key != "Type" && key != "KeyId" {
			return nil, apiErr("InvalidFilterKey", "The specified filter key isn't valid: %s", key)
		}
		out = append(out, paramFilter{key: key, option: "Equals", values: wire.Strs(f, "Values")})
	}
	for _, f := range wire.Structs(in, "ParameterFilters") {
		key, option := wire.Str(f, "Key"), wire.Str(f, "Option")
		switch {
		case key == "Path":
			if option == "" {
				option = "OneLevel"
			}
			if option != "OneLevel" && option != "Recursive" {
				return nil, apiErr("InvalidFilterOption", "The specified filter option isn't valid. Valid options are OneLevel and Recursive for Path.")
			}
		case key == "Name" || key == "Type" || key == "KeyId" || key == "Tier" || key == "DataType" || key == "Label" || strings.HasPrefix(key, "tag:"):
			if option == "" {
				option = "Equals"
			}
			if option != "Equals" && option != "BeginsWith" && !(key == "Name" && option == "Contains") {
				return nil, apiErr("InvalidFilterOption", "The specified filter option isn't valid for %s: %s", key, option)
			}
		default:
			return nil, apiErr("InvalidFilterKey", "The specified filter key isn't valid: %s", key)
		}
		out = append(out, paramFilter{key: key, option: option, values: wire.Strs(f, "Values")})
	}
	return out, nil
}

func (f paramFilter) match(p *Parameter) bool {
	var got []string
	switch {
	case f.key == "Name":
		got = []string{p.Name}
	case f.key == "Type":
		got = []string{p.Type}
	case f.key == "KeyId":
		got = []string{paramKeyID(p)}
	case f.key == "Tier":
		got = []string{paramTier(p)}
	case f.key == "DataType":
		got = []string{p.DataType}
	case f.key == "Label":
		return false // labels are not modelled
	case f.key == "Path":
		for _, path := range f.values {
			if underPath(p.Name, path, f.option == "Recursive") {
				return true
			}
		}
		return false
	case strings.HasPrefix(f.key, "tag:"):
		v, ok := p.Tags[strings.TrimPrefix(f.key, "tag:")]
		if !ok {
			return false
		}
		if len(f.values) == 0 {
			return true
		}
		got = []string{v}
	}
	for _, g := range got {
		for _, want := range f.values {
			switch f.option {
			case "BeginsWith":
				if strings.HasPrefix(g, want) {
					return true
				}
			case "Contains":
				if strings.Contains(g, want) {
					return true
				}
			default:
				if g == want {
					return true
				}
			}
		}
	}
	return false
}

// underPath reports whether name is in the hierarchy at path: directly below
// it, or at any depth when recursive.
func underPath(name, path string, recursive bool) bool {
	prefix := strings.TrimSuffix(path, "/") + "/"
	if !strings.HasPrefix(name, prefix) {
		return false
	}
	rest := name[len(prefix):]
	return rest != "" && (recursive || !strings.Contains(rest, "/"))
}

// paramPage pages a listing by NextToken.
func paramPage(items []any, in map[string]any, lo, hi, def int64, member string) (map[string]any, error) {
	limit, err := intIn(in, "MaxResults", lo, hi, def)
	if err != nil {
		return nil, err
	}
	token := wire.Str(in, "NextToken")
	if token != "" {
		var n int
		if _, err := fmt.Sscanf(token, "p%d", &n); err != nil || n < 0 || n > len(items) {
			return nil, apiErr("InvalidNextToken", "The specified token isn't valid.")
		}
	}
	page, next := paginate(items, token, int(limit), int(def))
	out := map[string]any{member: page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func ssmDescribeParameters(c *call) (map[string]any, error) {
	filters, err := paramFilters(c.in)
	if err != nil {
		return nil, err
	}
	if wire.Bool(c.in, "Shared") {
		// Parameters shared with the account through AWS RAM are not modelled.
		return map[string]any{"Parameters": []any{}}, nil
	}
	r := c.c.region(c.caller.Account, c.region)
	items := []any{}
	for _, name := range sortedKeys(r.Parameters) {
		p := r.Parameters[name]
		ok := true
		for _, f := range filters {
			if !f.match(p) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		dataType := p.DataType
		if dataType == "" {
			dataType = "text"
		}
		m := map[string]any{
			"Name":             p.Name,
			"ARN":              paramARN(c.region, c.caller.Account, p.Name),
			"Type":             p.Type,
			"LastModifiedDate": p.LastModified,
			"Version":          p.Version,
			"Tier":             paramTier(p),
			"DataType":         dataType,
			"Policies":         []any{},
		}
		if p.Description != "" {
			m["Description"] = p.Description
		}
		if id := paramKeyID(p); id != "" {
			m["KeyId"] = id
		}
		if p.LastModifiedUser != "" {
			m["LastModifiedUser"] = p.LastModifiedUser
		}
		items = append(items, m)
	}
	// MaxResults 1-50; AWS does not document the default, the sandbox uses 10.
	return paramPage(items, c.in, 1, 50, 10, "Parameters")
}

func ssmGetParametersByPath(c *call) (map[string]any, error) {
	path := wire.Str(c.in, "Path")
	if !strings.HasPrefix(path, "/") {
		return nil, ssmValidation("The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.")
	}
	if strings.Count(strings.TrimSuffix(path, "/"), "/") > ssmMaxLevels {
		return nil, apiErr("HierarchyLevelLimitExceededException", "Path %s has more than %d hierarchy levels", path, ssmMaxLevels)
	}
	filters, err := paramFilters(map[string]any{"ParameterFilters": c.in["ParameterFilters"]})
	if err != nil {
		return nil, err
	}
	for _, f := range filters {
		if f.key != "Type" && f.key != "KeyId" && f.key != "Label" {
			return nil, apiErr("InvalidFilterKey", "The following filter key is not valid: %s. Valid filter keys include: [Type, KeyId, Label].", f.key)
		}
	}
	recursive := wire.Bool(c.in, "Recursive")
	decrypt := wire.Bool(c.in, "WithDecryption")
	r := c.c.region(c.caller.Account, c.region)
	items := []any{}
	for _, name := range sortedKeys(r.Parameters) {
		if !underPath(name, path, recursive) {
			continue
		}
		p := r.Parameters[name]
		ok := true
		for _, f := range filters {
			if !f.match(p) {
				ok = false
				break
			}
		}
		if ok {
			items = append(items, c.paramOut(p, "", decrypt))
		}
	}
	return paramPage(items, c.in, 1, 10, 10, "Parameters")
}

// ssmMaxTags: "Most resources can have a maximum of 50 tags" (AddTagsToResource).
const ssmMaxTags = 50

var (
	ssmTagRE           = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@]*$`)
	ssmTaggedResources = []string{"Document", "ManagedInstance", "MaintenanceWindow", "Parameter", "PatchBaseline", "OpsItem", "OpsMetadata", "Automation", "Association"}
)

// ssmTags validates a Tags list as the model constrains it (key 1-128
// characters, value 0-256, letters, digits, spaces and _ . : / = + - @); keys
// starting with aws: are reserved for AWS (the error for them is not
// documented; the sandbox answers ValidationException).
func ssmTags(list []map[string]any) (Tags, error) {
	out := Tags{}
	for _, t := range list {
		k, v := wire.Str(t, "Key"), wire.Str(t, "Value")
		if k == "" || len(k) > 128 || !ssmTagRE.MatchString(k) {
			return nil, ssmValidation("1 validation error detected: Value '%s' at 'tags.member.key' failed to satisfy constraint: Member must have length between 1 and 128 and satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", k)
		}
		if len(v) > 256 || !ssmTagRE.MatchString(v) {
			return nil, ssmValidation("1 validation error detected: Value '%s' at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256 and satisfy regular expression pattern: ^([\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*)$", v)
		}
		if strings.HasPrefix(strings.ToLower(k), "aws:") {
			return nil, ssmValidation("Tag keys beginning with aws: are reserved for AWS use (got %q)", k)
		}
		out[k] = v
	}
	return out, nil
}

// taggedParameter resolves AddTagsToResource's ResourceType and ResourceId:
// for Parameter, the parameter's name (or ARN). The other resource types SSM
// tags exist in the API but not in the sandbox, so no id names one of them:
// InvalidResourceId, as for a parameter that does not exist.
func (c *call) taggedParameter() (*Parameter, error) {
	rt, id := wire.Str(c.in, "ResourceType"), wire.Str(c.in, "ResourceId")
	if !contains(ssmTaggedResources, rt) {
		return nil, apiErr("InvalidResourceType", "The resource type %s isn't valid. Valid resource types: %s", rt, strings.Join(ssmTaggedResources, ", "))
	}
	if rt != "Parameter" {
		return nil, apiErr("InvalidResourceId", "The resource ID %s isn't valid: this sandbox has no SSM %s resources.", id, rt)
	}
	name, _, ok := c.paramRef(id)
	p := c.c.region(c.caller.Account, c.region).Parameters[name]
	if !ok || p == nil {
		return nil, apiErr("InvalidResourceId", "The resource ID %s isn't valid. Verify that you entered the correct ID and try again.", id)
	}
	return p, nil
}

// ssmAddTagsToResource adds or overwrites tags of a parameter.
func ssmAddTagsToResource(c *call) (map[string]any, error) {
	add, err := ssmTags(wire.Structs(c.in, "Tags"))
	if err != nil {
		return nil, err
	}
	p, err := c.taggedParameter()
	if err != nil {
		return nil, err
	}
	merged := Tags{}
	for k, v := range p.Tags {
		merged[k] = v
	}
	for k, v := range add {
		merged[k] = v
	}
	if len(merged) > ssmMaxTags {
		return nil, apiErr("TooManyTagsError", "The parameter %s would have %d tags; a parameter can have at most %d.", p.Name, len(merged), ssmMaxTags)
	}
	p.Tags = merged
	c.c.markDirty()
	return nil, nil
}

// ssmRemoveTagsFromResource removes tag keys from a parameter; a key the
// parameter does not have is ignored.
func ssmRemoveTagsFromResource(c *call) (map[string]any, error) {
	p, err := c.taggedParameter()
	if err != nil {
		return nil, err
	}
	for _, k := range wire.Strs(c.in, "TagKeys") {
		delete(p.Tags, k)
	}
	if len(p.Tags) == 0 {
		p.Tags = nil
	}
	c.c.markDirty()
	return nil, nil
}

// ssmListTagsForResource lists a parameter's tags, by key.
func ssmListTagsForResource(c *call) (map[string]any, error) {
	p, err := c.taggedParameter()
	if err != nil {
		return nil, err
	}
	list := []any{}
	for _, k := range sortedKeys(p.Tags) {
		list = append(list, map[string]any{"Key": k, "Value": p.Tags[k]})
	}
	return map[string]any{"TagList": list}, nil
}
