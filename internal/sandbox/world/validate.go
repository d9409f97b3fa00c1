package world

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

// PolicyValidator, when set, checks every policy document of a world (trust
// policies, inline identity policies, key policies) beyond "must be a JSON
// object"; its error is reported at the document's place in the file. It is
// a variable so that this package does not depend on the policy engine: the
// sandbox sets it at start-up. nil: only the JSON-object check is made.
var PolicyValidator func(doc []byte) error

// Validate checks a World and returns every problem found, joined (one per
// line). Parse calls it with positions; on a World built in Go the errors
// name the path only. Empty fields that have a default (role path, image
// architecture, key spec, ...) are accepted.
func (w *World) Validate() error {
	c := &checker{r: &yamlconf.Report{}}
	c.world(w)
	return c.result()
}

// Key specs and usages KMS knows.
var (
	// KeySpecs lists the KMS key specs a world file may use.
	KeySpecs = []string{
		"SYMMETRIC_DEFAULT",
		"RSA_2048", "RSA_3072", "RSA_4096",
		"ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519",
		"HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512",
		"SM2",
		"ML_DSA_44", "ML_DSA_65", "ML_DSA_87",
	}
	keyUsages = map[string][]string{
		"SYMMETRIC_DEFAULT":     {"ENCRYPT_DECRYPT"},
		"RSA_2048":              {"ENCRYPT_DECRYPT", "SIGN_VERIFY"},
		"RSA_3072":              {"ENCRYPT_DECRYPT", "SIGN_VERIFY"},
		"RSA_4096":              {"ENCRYPT_DECRYPT", "SIGN_VERIFY"},
		"ECC_NIST_P256":         {"SIGN_VERIFY", "KEY_AGREEMENT"},
		"ECC_NIST_P384":         {"SIGN_VERIFY", "KEY_AGREEMENT"},
		"ECC_NIST_P521":         {"SIGN_VERIFY", "KEY_AGREEMENT"},
		"ECC_SECG_P256K1":       {"SIGN_VERIFY"},
		"ECC_NIST_EDWARDS25519": {"SIGN_VERIFY"},
		"HMAC_224":              {"GENERATE_VERIFY_MAC"},
		"HMAC_256":              {"GENERATE_VERIFY_MAC"},
		"HMAC_384":              {"GENERATE_VERIFY_MAC"},
		"HMAC_512":              {"GENERATE_VERIFY_MAC"},
		"SM2":                   {"ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"},
		"ML_DSA_44":             {"SIGN_VERIFY"},
		"ML_DSA_65":             {"SIGN_VERIFY"},
		"ML_DSA_87":             {"SIGN_VERIFY"},
	}
	keyStates      = []string{"Enabled", "Disabled", "PendingDeletion"}
	imageStates    = []string{"available", "pending", "failed"}
	rootDevices    = []string{RootDeviceEBS, RootDeviceInstanceStore}
	architectures  = []string{"x86_64", "arm64", "i386", "x86_64_mac", "arm64_mac"}
	parameterTypes = []string{"String", "StringList", "SecureString"}
	faultServices  = []string{"ec2", "kms", "iam", "sts", "autoscaling", "ssm"}
	grantOps       = []string{
		"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
		"ReEncryptFrom", "ReEncryptTo", "Sign", "Verify", "GetPublicKey", "CreateGrant",
		"RetireGrant", "DescribeKey", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
		"GenerateMac", "VerifyMac", "DeriveSharedSecret",
	}
)

// KeyUsages returns the key usages KMS allows for a key spec, the default first
// (nil for an unknown spec).
func KeyUsages(spec string) []string {
	return append([]string(nil), keyUsages[spec]...)
}

// DefaultKeyUsage returns the usage a key of this spec gets when the world
// file gives none: ENCRYPT_DECRYPT for symmetric, RSA and SM2 keys,
// SIGN_VERIFY for ECC and ML-DSA keys, GENERATE_VERIFY_MAC for HMAC keys.
func DefaultKeyUsage(spec string) string {
	if u := keyUsages[spec]; len(u) > 0 {
		return u[0]
	}
	return ""
}

var (
	regionRe       = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)
	accountIDRe    = regexp.MustCompile(`^\d{12}$`)
	orgIDRe        = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)
	iamNameRe      = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	iamPathRe      = regexp.MustCompile(`^/([\x21-\x7e]*/)?$`)
	policyNameRe   = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	slrRe          = regexp.MustCompile(`^AWSServiceRoleForAutoScaling(_[\w+=,.@-]{1,35})?$`)
	imageIDRe      = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	snapshotIDRe   = regexp.MustCompile(`^snap-[0-9a-f]{8,17}$`)
	imageNameRe    = regexp.MustCompile(`^[A-Za-z0-9()\[\] ./\-'@_]{3,128}$`)
	deviceNameRe   = regexp.MustCompile(`^/dev/[a-z0-9]{2,16}$`)
	aliasRe        = regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`)
	keyIDRe        = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
	grantIDRe      = regexp.MustCompile(`^[0-9a-f]{64}$`)
	grantNameRe    = regexp.MustCompile(`^[A-Za-z0-9:/_-]{1,256}$`)
	principalRe    = regexp.MustCompile(`^arn:aws[a-z-]*:(iam::\d{12}:(root|role/.+|user/.+)|sts::\d{12}:assumed-role/.+)$`)
	paramNameRe    = regexp.MustCompile(`^[A-Za-z0-9_.\-/]+$`)
	actionKeyRe    = regexp.MustCompile(`^(([a-z0-9]+):)?[A-Z][A-Za-z0-9]*$`)
	maxKeyPolicy   = 32 * 1024
	maxVolumeSize  = 16384
	maxParamValue  = 8192
	maxDescription = 255
)

// checker collects semantic problems into a report whose positions (nil for
// a World built in Go) say where they were written.
type checker struct {
	r          *yamlconf.Report
	keyOrigins map[string][]keyOrigin // from the decoder; nil for a World built in Go
	regions    []string               // the world's valid regions, in file order
}

// fromFile reports whether the World was read from a file (and so has
// positions, and every default filled in).
func (c *checker) fromFile() bool { return c.r.Pos != nil }

// written reports whether the world file gave a value at path (false for a
// default, and for a World built in Go).
func (c *checker) written(path string) bool {
	_, _, ok := c.r.Pos.At(path)
	return ok
}

func (c *checker) errf(path, format string, args ...any) {
	c.r.Errorf(path, format, args...)
}

// errKey reports a problem with a mapping key itself (an unknown service, a
// tag key, ...), at the key rather than at its value.
func (c *checker) errKey(path, format string, args ...any) {
	c.r.KeyErrorf(path, format, args...)
}

// where describes a place for "first at ..." notes.
func (c *checker) where(path string) string { return c.r.Where(path) }

func (c *checker) result() error { return c.r.Err() }

// keyPaths returns, for the i-th Key of an account, the path of its keys:
// entry and of its region.
func (c *checker) keyPaths(acct string, i int) (entry, region string) {
	if o := c.keyOrigins[acct+".keys"]; i < len(o) {
		return o[i].entry, o[i].region
	}
	entry = yamlconf.Index(acct+".keys", i)
	return entry, entry + ".region"
}

func oneOf(list []string) string { return strings.Join(list, ", ") }

func (c *checker) world(w *World) {
	regions := map[string]bool{}
	if len(w.Regions) == 0 {
		c.errf("regions", "required: list the regions the sandbox serves, e.g. [us-east-1, eu-west-1]")
	}
	for i, r := range w.Regions {
		p := yamlconf.Index("regions", i)
		switch {
		case !regionRe.MatchString(r):
			c.errf(p, "%q is not a region name (like us-east-1 or us-gov-west-1)", r)
		case regions[r]:
			c.errf(p, "region %s is listed twice", r)
		}
		if regionRe.MatchString(r) && !regions[r] {
			regions[r] = true
			c.regions = append(c.regions, r)
		}
	}
	if w.OrganizationID != "" && !orgIDRe.MatchString(w.OrganizationID) {
		c.errf("organization_id", "%q is not an AWS Organizations id (o- and 10-32 lowercase letters or digits)", w.OrganizationID)
	}
	if len(w.Accounts) == 0 {
		c.errf("accounts", "required: declare at least one account")
	}
	c.organizations(w)
	accounts := map[string]bool{}
	for _, a := range w.Accounts {
		accounts[a.ID] = true
	}
	ids, names := map[string]string{}, map[string]string{}
	images, snapshots := map[string]string{}, map[string]string{}
	for i := range w.Accounts {
		a := &w.Accounts[i]
		p := yamlconf.Index("accounts", i)
		if a.ID == "" {
			c.errf(p+".id", "required: the 12-digit account id, quoted, e.g. id: \"111111111111\"")
		} else if !accountIDRe.MatchString(a.ID) {
			c.errf(p+".id", "%s", c.badAccountID(p+".id", a.ID))
		} else if first, dup := ids[a.ID]; dup {
			c.errf(p+".id", "account %s is declared twice (first at %s)", a.ID, c.where(first))
		} else {
			ids[a.ID] = p + ".id"
		}
		if a.Name != "" {
			if first, dup := names[a.Name]; dup {
				c.errf(p+".name", "account name %q is used twice (first at %s)", a.Name, c.where(first))
			} else {
				names[a.Name] = p + ".name"
			}
		}
		c.account(w, p, a, regions, accounts)
		for j, img := range a.Images {
			ip := yamlconf.Index(p+".images", j)
			if img.ID != "" && imageIDRe.MatchString(img.ID) {
				if first, dup := images[img.ID]; dup {
					c.errf(ip+".id", "image id %s is used twice (first at %s)", img.ID, c.where(first))
				} else {
					images[img.ID] = ip + ".id"
				}
			}
			if img.SnapshotID != "" && snapshotIDRe.MatchString(img.SnapshotID) && images[img.ID] == ip+".id" {
				if first, dup := snapshots[img.SnapshotID]; dup {
					c.errf(ip+".snapshot_id", "snapshot id %s is used twice (first at %s)", img.SnapshotID, c.where(first))
				} else {
					snapshots[img.SnapshotID] = ip + ".snapshot_id"
				}
			}
		}
	}
	c.timing(w.Timing)
	c.faults(w.Faults)
	c.limits(w.Limits)
}

func (c *checker) badAccountID(path, id string) string {
	msg := fmt.Sprintf("%q is not a 12-digit AWS account id", id)
	if c.r.Pos.Unquoted(path) {
		msg += "; write account ids as quoted strings, e.g. \"012345678901\" (an unquoted number loses leading zeros)"
	}
	return msg
}

func (c *checker) region(path, r string, regions map[string]bool) {
	switch {
	case len(c.regions) == 0:
		// No valid region at all: the error at regions says it.
	case r == "":
		c.errf(path, "required: one of the world's regions (%s)", oneOf(c.regions))
	case !regions[r]:
		c.errf(path, "region %q is not in regions (%s); add it there or use one of them", r, oneOf(c.regions))
	}
}

func (c *checker) account(w *World, p string, a *Account, regions, accounts map[string]bool) {
	// Keys first: images and the EBS default key refer to them.
	aliases := map[[2]string]string{}
	keyIDs := map[[2]string]string{}
	for i := range a.Keys {
		c.key(w, p, i, a, regions, aliases, keyIDs)
	}

	if a.EBSDefaultKMSKey != "" {
		kp := p + ".ebs_default_kms_key"
		ref := a.EBSDefaultKMSKey
		switch {
		case strings.HasPrefix(ref, "alias/aws/"):
			c.errf(kp, "%s is an AWS managed key; leave ebs_default_kms_key out to use aws/ebs", ref)
		case !strings.HasPrefix(ref, "alias/") && !keyIDRe.MatchString(ref):
			c.errf(kp, "%q is neither a key alias (alias/...) nor a key id", ref)
		default:
			for _, r := range w.Regions {
				k := a.Key(r, ref)
				if k == nil {
					c.errf(kp, "key %s is not declared for account %s in %s (the EBS default key must exist in every region of the world: declare it under keys: with regions: [%s])", ref, a.ID, r, oneOf(c.regions))
					continue
				}
				if spec := orDefault(k.Spec, "SYMMETRIC_DEFAULT"); spec != "SYMMETRIC_DEFAULT" {
					c.errf(kp, "key %s in %s is %s; EBS encryption needs a SYMMETRIC_DEFAULT key", ref, r, spec)
				}
			}
		}
	}

	slrs := map[string]bool{}
	for i, name := range a.ServiceLinkedRoles {
		sp := yamlconf.Index(p+".service_linked_roles", i)
		switch {
		case !slrRe.MatchString(name):
			c.errf(sp, "%q is not an Auto Scaling service-linked role name: use AWSServiceRoleForAutoScaling or AWSServiceRoleForAutoScaling_<suffix> (suffix: 1-35 of A-Z a-z 0-9 + = , . @ _ -)", name)
		case slrs[name]:
			c.errf(sp, "service-linked role %s is listed twice", name)
		}
		slrs[name] = true
	}

	for _, r := range sortedKeys(a.DefaultVPC) {
		dp := yamlconf.Child(p+".default_vpc", r)
		switch {
		case len(c.regions) == 0:
			// No valid region at all: the error at regions says it.
		case !regions[r]:
			c.errKey(dp, "%q is not a region of the world (%s); default_vpc maps regions to true or false, e.g. default_vpc: {%s: false}", r, oneOf(c.regions), c.regions[0])
		}
	}
	if a.AutoScalingGroupLimit < 1 && (c.fromFile() || a.AutoScalingGroupLimit < 0) {
		c.errf(p+".autoscaling_group_limit", "%d: use 1 or more (AWS's default quota is %d Auto Scaling groups per region)", a.AutoScalingGroupLimit, DefaultAutoScalingGroupLimit)
	}

	roleNames := map[string]string{}
	for i := range a.Roles {
		r := &a.Roles[i]
		rp := yamlconf.Index(p+".roles", i)
		c.iamName(rp, "role", r.Name, roleNames)
		c.iamPath(rp+".path", r.Path)
		if len(r.Trust) == 0 {
			c.errf(rp+".trust", "required: the role's trust policy (who may assume it), as a mapping or a JSON string")
		} else {
			c.policy(rp+".trust", r.Trust, 0)
		}
		c.policies(rp+".policies", r.Policies)
	}
	userNames := map[string]string{}
	for i := range a.Users {
		u := &a.Users[i]
		up := yamlconf.Index(p+".users", i)
		c.iamName(up, "user", u.Name, userNames)
		c.iamPath(up+".path", u.Path)
		c.policies(up+".policies", u.Policies)
	}

	imageNames := map[[2]string]string{}
	for i := range a.Images {
		c.image(w, yamlconf.Index(p+".images", i), a, &a.Images[i], regions, accounts, imageNames)
	}

	params := map[[2]string]string{}
	for i, prm := range a.Parameters {
		pp := yamlconf.Index(p+".parameters", i)
		c.region(pp+".region", prm.Region, regions)
		switch {
		case prm.Name == "":
			c.errf(pp+".name", "required: the parameter name, e.g. /images/base/ami-id")
		case len(prm.Name) > 2048 || !paramNameRe.MatchString(prm.Name):
			c.errf(pp+".name", "%q is not a parameter name (letters, digits and _ . - /, at most 2048)", prm.Name)
		case hasReservedPrefix(prm.Name):
			c.errf(pp+".name", "%q: names beginning with aws or ssm are reserved", prm.Name)
		default:
			k := [2]string{prm.Region, prm.Name}
			if first, dup := params[k]; dup {
				c.errf(pp+".name", "parameter %s is declared twice in %s (first at %s)", prm.Name, prm.Region, c.where(first))
			} else {
				params[k] = pp + ".name"
			}
		}
		if prm.Value == "" {
			c.errf(pp+".value", "required: SSM parameters cannot be empty")
		} else if len(prm.Value) > maxParamValue {
			c.errf(pp+".value", "the value is %d bytes; SSM allows at most %d", len(prm.Value), maxParamValue)
		}
		if prm.Type != "" && !slices.Contains(parameterTypes, prm.Type) {
			c.errf(pp+".type", "%q is not a parameter type; use %s", prm.Type, oneOf(parameterTypes))
		}
	}
}

func hasReservedPrefix(name string) bool {
	n := strings.ToLower(strings.TrimPrefix(name, "/"))
	return strings.HasPrefix(n, "aws") || strings.HasPrefix(n, "ssm")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (c *checker) iamName(p, what, name string, seen map[string]string) {
	np := p + ".name"
	switch {
	case name == "":
		c.errf(np, "required: the %s name", what)
	case !iamNameRe.MatchString(name):
		c.errf(np, "%q is not a valid IAM %s name (1-64 of A-Z a-z 0-9 + = , . @ _ -)", name, what)
	case what == "role" && strings.HasPrefix(name, "AWSServiceRoleFor"):
		c.errf(np, "%s is a service-linked role; list it under service_linked_roles instead", name)
	default:
		// IAM names are unique regardless of case.
		k := strings.ToLower(name)
		if first, dup := seen[k]; dup {
			c.errf(np, "%s %s is declared twice (first at %s)", what, name, c.where(first))
		} else {
			seen[k] = np
		}
	}
}

func (c *checker) iamPath(p, path string) {
	if path == "" {
		return
	}
	if len(path) > 512 || !iamPathRe.MatchString(path) {
		c.errf(p, "%q is not an IAM path: it must begin and end with / (e.g. / or /platform/)", path)
	}
}

func (c *checker) policies(p string, list []NamedPolicy) {
	seen := map[string]string{}
	for i, np := range list {
		namePath, docPath := c.policyPaths(p, i, np)
		switch {
		case !policyNameRe.MatchString(np.Name):
			c.errf(namePath, "%q is not a valid policy name (1-128 of A-Z a-z 0-9 + = , . @ _ -)", np.Name)
		default:
			if first, dup := seen[np.Name]; dup {
				c.errf(namePath, "policy name %s is used twice (first at %s)", np.Name, c.where(first))
			} else {
				seen[np.Name] = namePath
			}
		}
		if len(np.Document) == 0 {
			c.errf(docPath, "required: the policy document")
			continue
		}
		c.policy(docPath, np.Document, 0)
	}
}

// policyPaths says where the name and the document of the i-th inline policy
// were written: policies.<name> (mapping form), policies[i] (a list of
// documents) or policies[i].name / policies[i].document.
func (c *checker) policyPaths(p string, i int, np NamedPolicy) (name, doc string) {
	named := yamlconf.Child(p, np.Name)
	if !c.fromFile() {
		return named, named
	}
	if _, _, ok := c.r.Pos.Key(named); ok {
		return named, named
	}
	ip := yamlconf.Index(p, i)
	if _, _, ok := c.r.Pos.Key(ip + ".document"); ok {
		return ip + ".name", ip + ".document"
	}
	return ip, ip
}

func (c *checker) policy(p string, doc json.RawMessage, maxSize int) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(doc, &obj); err != nil || obj == nil {
		c.errf(p, "a policy document must be a JSON object ({\"Version\": \"2012-10-17\", \"Statement\": [...]})")
		return
	}
	if maxSize > 0 && len(doc) > maxSize {
		c.errf(p, "the key policy is %d bytes; KMS allows at most %d", len(doc), maxSize)
	}
	if PolicyValidator != nil {
		if err := PolicyValidator(doc); err != nil {
			c.errf(p, "%v", err)
		}
	}
}

func (c *checker) tags(p string, tags map[string]string) {
	if len(tags) > 50 {
		c.errf(p, "%d tags; AWS allows at most 50", len(tags))
	}
	keys := make([]string, 0, len(tags))
	for k := range tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		tp := yamlconf.Child(p, k)
		switch {
		case k == "" || len(k) > 128:
			c.errKey(tp, "tag keys are 1-128 characters")
		case strings.HasPrefix(strings.ToLower(k), "aws:"):
			c.errKey(tp, "tag key %q: the aws: prefix is reserved for AWS", k)
		}
		if len(tags[k]) > 256 {
			c.errf(tp, "tag values are at most 256 characters")
		}
	}
}

func (c *checker) key(w *World, acct string, i int, a *Account, regions map[string]bool, aliases, ids map[[2]string]string) {
	k := &a.Keys[i]
	entry, regionPath := c.keyPaths(acct, i)
	c.region(regionPath, k.Region, regions)
	switch {
	case k.Alias == "":
		c.errf(entry+".alias", "required: the key's alias, e.g. alias/ebs")
	case strings.HasPrefix(k.Alias, "alias/aws/"):
		c.errf(entry+".alias", "%s: alias/aws/ is reserved for AWS managed keys", k.Alias)
	case !strings.HasPrefix(k.Alias, "alias/"):
		c.errf(entry+".alias", "%q must start with alias/ (e.g. alias/%s)", k.Alias, strings.TrimPrefix(k.Alias, "/"))
	case !aliasRe.MatchString(k.Alias):
		c.errf(entry+".alias", "%q is not a valid alias (alias/ then 1-250 of A-Z a-z 0-9 / _ -)", k.Alias)
	case k.Region != "":
		ak := [2]string{k.Region, k.Alias}
		if first, dup := aliases[ak]; dup {
			c.errf(entry+".alias", "%s is declared twice for account %s in %s (first at %s)", k.Alias, a.ID, k.Region, c.where(first))
			return // its other problems are likely copies of the first's
		}
		aliases[ak] = entry + ".alias"
	}
	if k.ID != "" {
		if !keyIDRe.MatchString(k.ID) {
			c.errf(entry+".id", "%q is not a key id (a lowercase UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab, or mrk- and 32 hex digits)", k.ID)
		} else if k.Region != "" {
			ik := [2]string{k.Region, k.ID}
			if first, dup := ids[ik]; dup {
				c.errf(entry+".id", "key id %s is used twice in %s (first at %s)", k.ID, k.Region, c.where(first))
			} else {
				ids[ik] = entry + ".id"
			}
		}
	}
	spec := orDefault(k.Spec, "SYMMETRIC_DEFAULT")
	usages, specOK := keyUsages[spec]
	if !specOK {
		c.errf(entry+".spec", "%q is not a KMS key spec; use one of %s", k.Spec, oneOf(KeySpecs))
	} else if k.Usage != "" && !slices.Contains(usages, k.Usage) {
		c.errf(entry+".usage", "%q is not a usage of a %s key; use %s", k.Usage, spec, oneOf(usages))
	}
	if k.State != "" && !slices.Contains(keyStates, k.State) {
		c.errf(entry+".state", "%q is not a key state; use %s", k.State, oneOf(keyStates))
	}
	if k.Rotation && specOK && spec != "SYMMETRIC_DEFAULT" {
		c.errf(entry+".rotation", "automatic rotation is only for SYMMETRIC_DEFAULT keys, not %s", spec)
	}
	if len(k.Description) > 8192 {
		c.errf(entry+".description", "at most 8192 characters")
	}
	if k.Policy != nil {
		c.policy(entry+".policy", k.Policy, maxKeyPolicy)
	}
	c.tags(entry+".tags", k.Tags)
	grantIDs := map[string]string{}
	for j, g := range k.Grants {
		gp := yamlconf.Index(entry+".grants", j)
		switch {
		case g.Grantee == "":
			c.errf(gp+".grantee", "required: the ARN of the principal the grant is for")
		case !principalRe.MatchString(g.Grantee):
			c.errf(gp+".grantee", "%q is not an IAM principal ARN (arn:aws:iam::<account>:role/<name>, :user/<name> or :root)", g.Grantee)
		}
		if g.RetiringPrincipal != "" && !principalRe.MatchString(g.RetiringPrincipal) {
			c.errf(gp+".retiring_principal", "%q is not an IAM principal ARN", g.RetiringPrincipal)
		}
		if g.Name != "" && !grantNameRe.MatchString(g.Name) {
			c.errf(gp+".name", "%q is not a grant name (1-256 of A-Z a-z 0-9 : / _ -)", g.Name)
		}
		if len(g.Operations) == 0 {
			c.errf(gp+".operations", "required: the operations the grant allows, e.g. [Decrypt, CreateGrant]")
		}
		seenOps := map[string]bool{}
		for o, op := range g.Operations {
			op = strings.TrimPrefix(op, "kms:")
			switch {
			case !slices.Contains(grantOps, op):
				c.errf(yamlconf.Index(gp+".operations", o), "%q is not a grant operation; use %s", g.Operations[o], oneOf(grantOps))
			case seenOps[op]:
				c.errf(yamlconf.Index(gp+".operations", o), "%s is listed twice", op)
			}
			seenOps[op] = true
		}
		if g.ID != "" {
			if !grantIDRe.MatchString(g.ID) {
				c.errf(gp+".id", "%q is not a grant id (64 hex digits)", g.ID)
			} else if first, dup := grantIDs[g.ID]; dup {
				c.errf(gp+".id", "grant id is used twice (first at %s)", c.where(first))
			} else {
				grantIDs[g.ID] = gp + ".id"
			}
		}
	}
}

func (c *checker) image(w *World, p string, a *Account, img *Image, regions, accounts map[string]bool, names map[[2]string]string) {
	switch {
	case img.ID == "":
		c.errf(p+".id", "required: the AMI id, e.g. ami-0a1b2c3d4e5f60001")
	case !imageIDRe.MatchString(img.ID):
		c.errf(p+".id", "%q is not an AMI id (ami- and 8-17 lowercase hex digits)", img.ID)
	}
	c.region(p+".region", img.Region, regions)
	switch {
	case img.Name == "":
		c.errf(p+".name", "required: the AMI name")
	case !imageNameRe.MatchString(img.Name):
		c.errf(p+".name", "%q is not a valid AMI name (3-128 of A-Z a-z 0-9 ( ) [ ] space . / - ' @ _)", img.Name)
	case img.Region != "":
		nk := [2]string{img.Region, img.Name}
		if first, dup := names[nk]; dup {
			c.errf(p+".name", "account %s already has an image named %s in %s (at %s); AMI names are unique per account and region", a.ID, img.Name, img.Region, c.where(first))
		} else {
			names[nk] = p + ".name"
		}
	}
	if len(img.Description) > maxDescription {
		c.errf(p+".description", "at most %d characters", maxDescription)
	}
	ep := p + ".encrypted"
	switch img.Encrypted.Mode {
	case "", EncryptionNone, EncryptionAWSManaged:
	case EncryptionKey:
		alias := img.Encrypted.KeyAlias
		if img.Region == "" || !regions[img.Region] {
			break // the region error says it
		}
		k := a.Key(img.Region, alias)
		switch {
		case k == nil:
			c.errf(ep, "key %s is not declared for account %s in %s (declare it under keys:, or use false / aws-managed)", alias, a.ID, img.Region)
		case orDefault(k.Spec, "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
			c.errf(ep, "key %s in %s is %s; EBS encryption needs a SYMMETRIC_DEFAULT key", alias, img.Region, k.Spec)
		}
	default:
		c.errf(ep, "unknown encryption mode %q; use %s, %s or %s", img.Encrypted.Mode, EncryptionNone, EncryptionAWSManaged, EncryptionKey)
	}
	if img.Public && img.Encrypted.IsEncrypted() {
		c.errf(p+".public", "an encrypted image cannot be public; make it private and share it with launch_permissions, or leave it unencrypted")
	}
	shared := map[string]bool{}
	for i, acct := range img.LaunchPermissions {
		lp := yamlconf.Index(p+".launch_permissions", i)
		switch {
		case !accountIDRe.MatchString(acct):
			c.errf(lp, "%s", c.badAccountID(lp, acct))
		case acct == a.ID:
			c.errf(lp, "%s owns the image; an owner needs no launch permission", acct)
		case !accounts[acct]:
			c.errf(lp, "account %s is not declared in this world (declare it under accounts:, or remove it here)", acct)
		case shared[acct]:
			c.errf(lp, "account %s is listed twice", acct)
		case img.Encrypted.Mode == EncryptionAWSManaged:
			c.errf(lp, "an image encrypted with the AWS managed key cannot be shared (AWS refuses to share its snapshots); encrypt it with alias/<name> or leave it unencrypted")
		}
		shared[acct] = true
	}
	if limit := w.Limits.ShareAccounts(); len(img.LaunchPermissions) > limit && w.Limits.ImageShareAccounts >= 0 {
		c.errf(p+".launch_permissions", "the image is shared with %d accounts; limits.image_share_accounts allows at most %d per image", len(img.LaunchPermissions), limit)
	}
	if img.Architecture != "" && !slices.Contains(architectures, img.Architecture) {
		c.errf(p+".architecture", "%q is not an architecture; use %s", img.Architecture, oneOf(architectures))
	}
	if img.RootDeviceName != "" && !deviceNameRe.MatchString(img.RootDeviceName) {
		c.errf(p+".root_device_name", "%q is not a device name like /dev/xvda or /dev/sda1", img.RootDeviceName)
	}
	switch {
	case img.RootDeviceType != "" && !slices.Contains(rootDevices, img.RootDeviceType):
		c.errf(p+".root_device_type", "%q is not a root device type; use %s", img.RootDeviceType, oneOf(rootDevices))
	case img.IsInstanceStore():
		// An instance store-backed AMI has no EBS snapshot: nothing to
		// encrypt, no snapshot id, no root volume size.
		if img.Encrypted.IsEncrypted() {
			c.errf(ep, "an instance store-backed image (root_device_type: instance-store) has no EBS snapshot to encrypt; use encrypted: false or leave it out")
		}
		if c.written(p+".snapshot_id") || (!c.fromFile() && img.SnapshotID != "") {
			c.errf(p+".snapshot_id", "an instance store-backed image (root_device_type: instance-store) has no EBS snapshot; leave snapshot_id out")
		}
		if c.written(p+".volume_size") || (!c.fromFile() && img.VolumeSize != 0) {
			c.errf(p+".volume_size", "an instance store-backed image (root_device_type: instance-store) has no EBS root volume; leave volume_size out")
		}
	default:
		if img.VolumeSize < 0 || img.VolumeSize > maxVolumeSize || (img.VolumeSize == 0 && c.fromFile()) {
			c.errf(p+".volume_size", "%d GiB is out of range: use 1 to %d", img.VolumeSize, maxVolumeSize)
		}
		if img.SnapshotID != "" && !snapshotIDRe.MatchString(img.SnapshotID) {
			c.errf(p+".snapshot_id", "%q is not a snapshot id (snap- and 8-17 lowercase hex digits)", img.SnapshotID)
		}
	}
	c.tags(p+".tags", img.Tags)
	if img.State != "" && !slices.Contains(imageStates, img.State) {
		c.errf(p+".state", "%q is not an image state; use %s", img.State, oneOf(imageStates))
	}
}

func (c *checker) seconds(p string, v float64) {
	if !(v >= 0) || math.IsInf(v, 0) {
		c.errf(p, "%v is not a duration: give a number of seconds, 0 or more", v)
	}
}

func (c *checker) timing(t Timing) {
	c.seconds("timing.copy_seconds", t.CopySeconds)
	c.seconds("timing.boot_seconds", t.BootSeconds)
	c.seconds("timing.create_image_seconds", t.CreateImageSeconds)
	c.seconds("timing.instance_seconds", t.InstanceSeconds)
}

func (c *checker) rate(p string, v float64) {
	if !(v >= 0 && v <= 1) {
		c.errf(p, "%v is not a probability: use a number from 0 to 1", v)
	}
}

func (c *checker) latency(p string, ms int) {
	if ms < 0 {
		c.errf(p, "%d is negative: use 0 or more milliseconds", ms)
	}
}

func (c *checker) rule(p string, r FaultRule) {
	if r.ErrorRate != nil {
		c.rate(p+".error_rate", *r.ErrorRate)
	}
	if r.LostResponseRate != nil {
		c.rate(p+".lost_response_rate", *r.LostResponseRate)
	}
	if r.ThrottleRate != nil {
		c.rate(p+".throttle_rate", *r.ThrottleRate)
	}
	if r.LatencyMS != nil {
		c.latency(p+".latency_ms", *r.LatencyMS)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *checker) faults(f Faults) {
	c.rate("faults.error_rate", f.ErrorRate)
	c.rate("faults.lost_response_rate", f.LostResponseRate)
	c.rate("faults.throttle_rate", f.ThrottleRate)
	c.latency("faults.latency_ms", f.LatencyMS)
	for _, s := range sortedKeys(f.Services) {
		p := yamlconf.Child("faults.services", s)
		if !slices.Contains(faultServices, s) {
			c.errKey(p, "%q is not a service of the sandbox; use %s", s, oneOf(faultServices))
		}
		c.rule(p, f.Services[s])
	}
	for _, a := range sortedKeys(f.Actions) {
		p := yamlconf.Child("faults.actions", a)
		m := actionKeyRe.FindStringSubmatch(a)
		switch {
		case m == nil:
			c.errKey(p, "%q is not an action name: use the API name (CopyImage) or service:action (ec2:CopyImage)", a)
		case m[2] != "" && !slices.Contains(faultServices, m[2]):
			c.errKey(p, "%q: %s is not a service of the sandbox; use %s", a, m[2], oneOf(faultServices))
		}
		c.rule(p, f.Actions[a])
	}
	for _, id := range sortedKeys(f.CopyFailures) {
		p := yamlconf.Child("faults.copy_failures", id)
		if !imageIDRe.MatchString(id) {
			c.errKey(p, "%q is not an AMI id (ami- and 8-17 lowercase hex digits)", id)
		}
		if strings.TrimSpace(f.CopyFailures[id]) == "" {
			c.errf(p, "give the state reason the failed copy reports")
		}
	}
}

func (c *checker) limits(l Limits) {
	if l.ConcurrentCopies < 1 && (c.fromFile() || l.ConcurrentCopies < 0) {
		c.errf("limits.concurrent_copies", "%d: use 1 or more", l.ConcurrentCopies)
	}
	if l.ImageShareAccounts < 1 && (c.fromFile() || l.ImageShareAccounts < 0) {
		c.errf("limits.image_share_accounts", "%d: use 1 or more (AWS's default AMI sharing quota is %d per image and region)", l.ImageShareAccounts, DefaultImageShareAccounts)
	}
	defaults := DefaultBuckets()
	for _, class := range sortedKeys(l.Buckets) {
		p := yamlconf.Child("limits.buckets", class)
		if _, ok := defaults[class]; !ok {
			c.errKey(p, "%q is not a request-rate class; use %s", class, oneOf(sortedKeys(defaults)))
		}
		b, def := l.Buckets[class], defaults[class]
		if b.Burst < 1 {
			c.errf(p+".burst", "%d: give the bucket size, 1 or more (AWS: %d)", b.Burst, def.Burst)
		}
		if !(b.Rate > 0) || math.IsInf(b.Rate, 0) {
			c.errf(p+".rate", "%v: give the refill rate in requests per second, above 0 (AWS: %v)", b.Rate, def.Rate)
		}
	}
}
