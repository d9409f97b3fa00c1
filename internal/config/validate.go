package config

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/amicrypt/amicrypt/internal/awsregion"
	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

var (
	accountRe   = regexp.MustCompile(`^\d{12}$`)
	unitRe      = regexp.MustCompile(`^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$`) // Organizations' OrganizationalUnitId
	rootRe      = regexp.MustCompile(`^r-[0-9a-z]{4,32}$`)
	iamNameRe   = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	roleARNRe   = regexp.MustCompile(`^arn:(aws[a-z-]*):iam::(\d{12}):role/([\x21-\x7e]*/)?([\w+=,.@-]{1,64})$`)
	externalRe  = regexp.MustCompile(`^[\w+=,.@:/-]+$`) // and 2-1224 characters
	aliasRe     = regexp.MustCompile(`^alias/[A-Za-z0-9/_-]{1,250}$`)
	keyARNRe    = regexp.MustCompile(`^arn:(aws[a-z-]*):kms:([^:]*):([^:]*):key/(.*)$`)
	keyIDRe     = regexp.MustCompile(`^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$`)
	suffixRe    = regexp.MustCompile(`^[\w+=,.@-]{1,35}$`)
	instanceRe  = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	subnetRe    = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	amiRe       = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	paramRe     = regexp.MustCompile(`^[A-Za-z0-9_.\-/]+$`)
	ltNameRe    = regexp.MustCompile(`^[A-Za-z0-9().\-/_]{3,128}$`)
	ltIDRe      = regexp.MustCompile(`^lt-[0-9a-f]{17}$`)
	maxParamLen = 1011
)

// knownRegions are only for suggestions ("did you mean us-east-1?"): any
// region of valid syntax is accepted.
var knownRegions = []string{
	"us-east-1", "us-east-2", "us-west-1", "us-west-2",
	"af-south-1", "ap-east-1", "ap-east-2", "ap-south-1", "ap-south-2",
	"ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ap-southeast-5", "ap-southeast-6", "ap-southeast-7",
	"ap-northeast-1", "ap-northeast-2", "ap-northeast-3",
	"ca-central-1", "ca-west-1",
	"eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2", "eu-north-1",
	"il-central-1", "me-south-1", "me-central-1", "mx-central-1", "sa-east-1",
	"us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1", "eusc-de-east-1",
}

// Partition returns the ARN partition of a region: aws, aws-cn, aws-us-gov,
// aws-iso, aws-iso-b, aws-iso-e, aws-iso-f or aws-eusc. Images are copied,
// and roles assumed, only within a partition.
func Partition(region string) string { return awsregion.Partition(region) }

// ValidRegion reports whether region has AWS's region syntax.
func ValidRegion(region string) bool { return awsregion.Valid(region) }

// regionProblem says what is wrong with a region name, "" when nothing.
func regionProblem(r string) string {
	if awsregion.Valid(r) {
		return ""
	}
	msg := fmt.Sprintf("%q is not an AWS region name like us-east-1", r)
	if s := yamlconf.Suggest(r, knownRegions); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", s)
	}
	return msg
}

func amiProblem(id string) string {
	if amiRe.MatchString(id) {
		return ""
	}
	return fmt.Sprintf("%q is not an AMI id (ami- and 8-17 lowercase hex digits, e.g. ami-0123456789abcdef0)", id)
}

// checker validates a Config into a report.
type checker struct {
	cfg *Config
	r   *yamlconf.Report
}

func (c *checker) errf(path, format string, args ...any) { c.r.Errorf(path, format, args...) }

func (c *checker) fromFile() bool { return c.r.Pos != nil }

func (c *checker) check() {
	c.builder()
	c.organizationAccess()
	c.settings("defaults", &c.cfg.Defaults)
	c.concurrency()
	c.retention()
	c.rotation()
	c.targets()
}

func (c *checker) badAccount(path, id string) string {
	msg := fmt.Sprintf("%q is not a 12-digit AWS account id", id)
	if c.r.Pos.Unquoted(path) {
		msg += "; write account ids as quoted strings, e.g. \"012345678901\" (an unquoted number loses leading zeros)"
	}
	return msg
}

func (c *checker) builder() {
	b := c.cfg.Builder
	switch {
	case b.Account == "":
		c.errf("builder.account", "required: the 12-digit id of the account where Packer builds the source images, quoted, e.g. account: \"111111111111\"")
	case !accountRe.MatchString(b.Account):
		c.errf("builder.account", "%s", c.badAccount("builder.account", b.Account))
	}
	if b.RoleARN != "" {
		m := roleARNRe.FindStringSubmatch(b.RoleARN)
		switch {
		case m == nil:
			c.errf("builder.role_arn", "%q is not an IAM role ARN like arn:aws:iam::111111111111:role/amicrypt-pipeline", b.RoleARN)
		case accountRe.MatchString(b.Account) && m[2] != b.Account:
			c.errf("builder.role_arn", "the role is in account %s, not in the builder account %s: name a role of %s, or leave role_arn out to use the worker's own credentials", m[2], b.Account, b.Account)
		}
	}
	c.externalID("builder.external_id", b.ExternalID)
	if b.ExternalID != "" && b.RoleARN == "" {
		c.errf("builder.external_id", "external_id is given when assuming role_arn, and there is none: add role_arn, or remove external_id")
	}
}

// organizationAccess checks the organization: block.
func (c *checker) organizationAccess() {
	o := c.cfg.OrganizationAccess
	if o == nil {
		return
	}
	if o.RoleARN != "" && !roleARNRe.MatchString(o.RoleARN) {
		c.errf("organization.role_arn", "%q is not an IAM role ARN like arn:aws:iam::999999999999:role/amicrypt-organization-reader (a role in the management account or a delegated administrator account)", o.RoleARN)
	}
	c.externalID("organization.external_id", o.ExternalID)
	if o.ExternalID != "" && o.RoleARN == "" {
		c.errf("organization.external_id", "external_id is given when assuming role_arn, and there is none: add role_arn, or remove external_id")
	}
	for i := range c.cfg.Targets {
		if c.cfg.Targets[i].IsSelector() {
			return
		}
	}
	c.errf("organization", "given, but no targets entry is organization: true or organizational_unit: ou-...: the block says how to read the organization for such entries; add one, or remove the block")
}

func (c *checker) externalID(path, id string) {
	if id != "" && (len(id) < 2 || len(id) > 1224 || !externalRe.MatchString(id)) {
		c.errf(path, "%s is not a valid external id: STS takes 2-1224 characters of A-Z a-z 0-9 + = , . @ : / _ - (got %d characters)", quoteShort(id), len(id))
	}
}

// quoteShort quotes s, cut to a readable length.
func quoteShort(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%q...", s[:40])
	}
	return fmt.Sprintf("%q", s)
}

func (c *checker) concurrency() {
	cc := c.cfg.Concurrency
	for _, v := range []struct {
		path  string
		value int
		def   int
		what  string
	}{
		{"concurrency.per_account_region", cc.PerAccountRegion, DefaultPerAccountRegion, "targets of one account and region at once"},
		{"concurrency.in_flight", cc.InFlight, DefaultInFlight, "targets at once across the run"},
	} {
		// A Config built in Go may leave them 0: the pipeline's defaults.
		if v.value < 0 || (v.value < 1 && c.fromFile()) {
			c.errf(v.path, "%d: use 1 or more (%s; default %d)", v.value, v.what, v.def)
		}
	}
}

func (c *checker) retention() {
	if g := c.cfg.Retention.Grace; g != nil && *g < 0 {
		c.errf("retention.grace", "%s is negative: give how long an image retention retired stays disabled before it is deregistered with its snapshots, e.g. %s (the default), or 0s to deregister it at once", formatDays(*g), formatDays(DefaultRetentionGrace))
	}
}

func (c *checker) rotation() {
	r := c.cfg.Rotation
	// A Config built in Go may leave them 0: the defaults.
	goZero := func(v int64) bool { return v == 0 && !c.fromFile() }
	if a := r.RetireAfter; a != nil && *a < 0 {
		c.errf("rotation.retire_after", "%s is negative: give how long a key a rotation replaced stays disabled, unused and untried before its deletion is scheduled, e.g. %s (the default), or 0s to schedule it as soon as it is found unused", formatDays(*a), formatDays(DefaultRetireAfter))
	}
	if d := r.DeletionWindowDays; !goZero(int64(d)) && (d < MinDeletionWindowDays || d > MaxDeletionWindowDays) {
		c.errf("rotation.deletion_window_days", "%d: KMS schedules a key's deletion %d to %d days ahead (default %d, the longest time to notice a mistake)", d, MinDeletionWindowDays, MaxDeletionWindowDays, DefaultDeletionWindowDays)
	}
	if a := r.MaxKeyAgeDays; a < 0 {
		c.errf("rotation.max_key_age_days", "%d: give a number of days (a sweep rotates keys older than that; default %d), or 0 to never rotate a key for its age", a, DefaultMaxKeyAgeDays)
	}
	if n := r.ConcurrentRotations; !goZero(int64(n)) && n < 1 {
		c.errf("rotation.concurrent_rotations", "%d: use 1 or more (rotations a sweep runs at once; default %d)", n, DefaultConcurrentRotations)
	}
	if e := r.Every; !goZero(int64(e)) && e < MinSweepEvery {
		c.errf("rotation.every", "%s is too often: the sweep runs at most every %s (it reads every target's key; default %s)", formatDuration(e), formatDuration(MinSweepEvery), formatDuration(DefaultSweepEvery))
	}
}

// settings checks the values given in one defaults: or targets[i] block,
// each on its own; resolved combinations are checked by crossCheck.
func (c *checker) settings(p string, s *TargetSettings) {
	if s.Regions != nil {
		rp := p + ".regions"
		if len(s.Regions) == 0 {
			c.errf(rp, "list at least one region, e.g. [us-east-1], or leave regions out to inherit them")
		}
		seen := map[string]string{}
		for i, r := range s.Regions {
			ip := yamlconf.Index(rp, i)
			if msg := regionProblem(r); msg != "" {
				c.errf(ip, "%s", msg)
				continue
			}
			if first, dup := seen[r]; dup {
				c.errf(ip, "region %s is listed twice (first at %s)", r, c.r.Where(first))
			}
			seen[r] = ip
		}
	}
	if s.RoleName != nil && !iamNameRe.MatchString(*s.RoleName) {
		c.errf(p+".role_name", "%q is not an IAM role name (1-64 of A-Z a-z 0-9 + = , . @ _ -); for a role with a path give role_arn instead", *s.RoleName)
	}
	if s.RoleARN != nil && *s.RoleARN != "" && !roleARNRe.MatchString(*s.RoleARN) {
		c.errf(p+".role_arn", "%q is not an IAM role ARN like arn:aws:iam::222222222222:role/amicrypt-target", *s.RoleARN)
	}
	if s.ExternalID != nil {
		c.externalID(p+".external_id", *s.ExternalID)
	}
	if s.KeyAlias != nil {
		a, ap := *s.KeyAlias, p+".key_alias"
		switch {
		case strings.HasPrefix(a, "alias/aws/"):
			c.errf(ap, "%s: alias/aws/ names AWS managed keys, which cannot be shared or given a policy; use your own alias, e.g. alias/amicrypt", a)
		case !strings.HasPrefix(a, "alias/"):
			c.errf(ap, "%q must start with alias/ (e.g. alias/%s)", a, strings.TrimPrefix(strings.TrimPrefix(a, "/"), "alias"))
		case !aliasRe.MatchString(a):
			c.errf(ap, "%q is not a valid alias (alias/ then 1-250 of A-Z a-z 0-9 / _ -)", a)
		}
	}
	if s.KeyARN != nil {
		kp := p + ".key_arn"
		if s.KeyARN.ARN != "" {
			c.keyARN(kp, s.KeyARN.ARN)
		}
		for _, region := range sortedKeys(s.KeyARN.ByRegion) {
			ep := yamlconf.Child(kp, region)
			if msg := regionProblem(region); msg != "" {
				c.r.KeyErrorf(ep, "%s", msg)
				continue
			}
			if kr, ok := c.keyARN(ep, s.KeyARN.ByRegion[region]); ok && kr != region {
				c.errf(ep, "this key is in %s, not in %s: a KMS key serves only its own region; give the key ARN of %s here", kr, region, region)
			}
		}
	}
	if s.ServiceLinkedRoleSuffix != nil && *s.ServiceLinkedRoleSuffix != "" && !suffixRe.MatchString(*s.ServiceLinkedRoleSuffix) {
		c.errf(p+".service_linked_role_suffix", "%q is not a service-linked role suffix (1-35 of A-Z a-z 0-9 + = , . @ _ -; the role is AWSServiceRoleForAutoScaling_<suffix>); \"\" means AWSServiceRoleForAutoScaling", *s.ServiceLinkedRoleSuffix)
	}
	if b := s.BootProof; b != nil {
		bp := p + ".boot_proof"
		if b.InstanceType != nil && !instanceRe.MatchString(*b.InstanceType) {
			c.errf(bp+".instance_type", "%q is not an EC2 instance type like t3.micro or m7g.large", *b.InstanceType)
		}
		if b.SubnetIDs != nil {
			sp := bp + ".subnet_ids"
			c.subnets(sp, b.SubnetIDs.All)
			for _, region := range sortedKeys(b.SubnetIDs.ByRegion) {
				ep := yamlconf.Child(sp, region)
				if msg := regionProblem(region); msg != "" {
					c.r.KeyErrorf(ep, "%s", msg)
					continue
				}
				c.subnets(ep, b.SubnetIDs.ByRegion[region])
			}
		}
		if b.Timeout != nil && *b.Timeout < MinBootTimeout {
			c.errf(bp+".timeout", "%s is too short: give the instance at least %s to reach InService (default %s)", b.Timeout, formatDuration(MinBootTimeout), formatDuration(DefaultBootTimeout))
		}
	}
	if pub := s.Publish; pub != nil {
		if pub.SSMParameter != nil && *pub.SSMParameter != "" {
			if msg := ssmNameProblem(*pub.SSMParameter); msg != "" {
				c.errf(p+".publish.ssm_parameter", "%s", msg)
			}
		}
		if pub.LaunchTemplate != nil && *pub.LaunchTemplate != "" {
			lt := *pub.LaunchTemplate
			if !ltNameRe.MatchString(lt) && !ltIDRe.MatchString(lt) {
				c.errf(p+".publish.launch_template", "%q is neither a launch template name (3-128 of A-Z a-z 0-9 ( ) . - / _) nor an id (lt- and 17 hex digits)", lt)
			}
		}
	}
	if s.Family != nil {
		if msg := familyProblem(*s.Family); msg != "" {
			c.errf(p+".family", "%s", msg)
		}
	}
	for i, lp := range s.LaunchPrincipals {
		if !roleARNRe.MatchString(lp) {
			c.errf(fmt.Sprintf("%s.launch_principals[%d]", p, i), "%q is not an IAM role ARN like arn:aws:iam::222222222222:role/app-deployer (the role that launches instances from the copies)", lp)
		}
	}
	if s.Keep != nil && *s.Keep < 0 {
		c.errf(p+".keep", "%d is negative: give how many proven images of the family to keep per account and region (default %d), or 0 to turn retention off", *s.Keep, DefaultKeep)
	}
}

// familyProblem says what is wrong with a family name, "" when nothing. A
// family is the value of the amicrypt:family tag, which EC2 takes up to 256
// characters long and not beginning with aws:, and amicrypt finds a
// family's images with a tag filter, where * and ? are wildcards and \
// escapes one.
func familyProblem(f string) string {
	switch {
	case f == "":
		return "the family is empty: name it (e.g. family: base), or leave family out to derive it from the source image's name (base-1733500000 → base)"
	case !utf8.ValidString(f):
		return fmt.Sprintf("%s is not valid UTF-8, which EC2 tag values must be", quoteShort(f))
	case utf8.RuneCountInString(f) > MaxFamilyLen:
		return fmt.Sprintf("%s is %d characters; the family is the amicrypt:family tag's value, and EC2 takes at most %d", quoteShort(f), utf8.RuneCountInString(f), MaxFamilyLen)
	case strings.HasPrefix(strings.ToLower(f), "aws:"):
		return fmt.Sprintf("%s begins with aws:, which AWS reserves in tag values: choose another family name", quoteShort(f))
	case strings.ContainsAny(f, `*?\`):
		return fmt.Sprintf("%s contains %q: amicrypt finds a family's images with an EC2 tag filter, where * and ? are wildcards (and \\ escapes), so retention could take another family's images for this one's; choose a name without *, ? and \\", quoteShort(f), f[strings.IndexAny(f, `*?\`)])
	case strings.IndexFunc(f, unicode.IsControl) >= 0:
		return fmt.Sprintf("%s contains a control character (a line break or tab?): give the family on one line, printable", quoteShort(f))
	}
	return ""
}

// formatDuration prints 15m rather than 15m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (c *checker) subnets(p string, ids []string) {
	seen := map[string]bool{}
	for i, id := range ids {
		ip := yamlconf.Index(p, i)
		switch {
		case !subnetRe.MatchString(id):
			c.errf(ip, "%q is not a subnet id (subnet- and 8-17 lowercase hex digits)", id)
		case seen[id]:
			c.errf(ip, "subnet %s is listed twice", id)
		}
		seen[id] = true
	}
}

// ssmNameProblem checks an SSM parameter name against SSM's rules.
func ssmNameProblem(name string) string {
	lower := strings.ToLower(strings.TrimPrefix(name, "/"))
	switch {
	case len(name) > maxParamLen:
		return fmt.Sprintf("the parameter name is %d characters; SSM allows at most %d", len(name), maxParamLen)
	case !paramRe.MatchString(name):
		return fmt.Sprintf("%q is not an SSM parameter name (letters, digits and _ . - /, e.g. /amicrypt/base/ami-id)", name)
	case strings.HasPrefix(lower, "aws") || strings.HasPrefix(lower, "ssm"):
		return fmt.Sprintf("%q: parameter names beginning with aws or ssm are reserved", name)
	case strings.Contains(name, "/") && !strings.HasPrefix(name, "/"):
		return fmt.Sprintf("%q: a parameter name with a path must begin with /, e.g. /%s", name, name)
	case strings.Contains(name, "//") || strings.HasSuffix(name, "/"):
		return fmt.Sprintf("%q: empty path level (// or a trailing /)", name)
	case strings.Count(name, "/") > 15:
		return fmt.Sprintf("%q: at most 15 levels of hierarchy", name)
	}
	return ""
}

// keyARN checks one KMS key ARN and returns its region.
func (c *checker) keyARN(path, arn string) (region string, ok bool) {
	m := keyARNRe.FindStringSubmatch(arn)
	switch {
	case strings.HasPrefix(arn, "arn:") && strings.Contains(arn, ":alias/"):
		c.errf(path, "%q is an alias ARN; key_arn takes the key's ARN (...:key/<key id>), which 'aws kms describe-key --key-id <alias ARN>' shows", arn)
	case m == nil:
		c.errf(path, "%q is not a KMS key ARN (arn:aws:kms:<region>:<12-digit account>:key/<key id>)", arn)
	case !awsregion.Valid(m[2]):
		c.errf(path, "%q: %q is not a region name", arn, m[2])
	case !accountRe.MatchString(m[3]):
		c.errf(path, "%q: %q is not a 12-digit account id", arn, m[3])
	case !keyIDRe.MatchString(m[4]):
		c.errf(path, "%q: %q is not a key id (a lowercase UUID, or mrk- and 32 hex digits for a multi-Region key)", arn, m[4])
	case m[1] != Partition(m[2]):
		c.errf(path, "%q: region %s is in partition %s, not %s (the ARN begins arn:%s:kms:)", arn, m[2], Partition(m[2]), m[1], Partition(m[2]))
	default:
		return m[2], true
	}
	return "", false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (c *checker) targets() {
	ts := c.cfg.Targets
	if len(ts) == 0 {
		c.errf("targets", "required: list at least one target account, e.g. targets: [{account: \"222222222222\"}], or select accounts of the organization (organization: true, or organizational_unit: ou-...)")
		return
	}
	accounts, names, selectors := map[string]string{}, map[string]string{}, map[string]string{}
	regionsSomewhere := c.cfg.Defaults.Regions != nil
	for i := range ts {
		t := &ts[i]
		p := yamlconf.Index("targets", i)
		c.entryKind(p, t)
		settings := t.TargetSettings
		if t.IsSelector() {
			c.selector(p, t, selectors)
			settings.RoleARN = nil // said once, by selector
		} else {
			c.accountEntry(p, t, accounts, names)
		}
		c.settings(p, &settings)
		if t.Regions != nil {
			regionsSomewhere = true
		}
	}
	if !regionsSomewhere {
		c.errf("defaults.regions", "required: no regions are given; list them under defaults:, e.g. regions: [us-east-1, eu-west-1], or on every target")
		return
	}
	for i := range ts {
		c.crossCheck(c.resolve(i))
	}
	c.organizationPartition()
}

// entryKind checks that a targets entry is one account, the organization or
// one organizational unit.
func (c *checker) entryKind(p string, t *TargetEntry) {
	var given []string
	if t.Account != "" {
		given = append(given, "account")
	}
	if o := t.Organization; o != nil {
		if *o {
			given = append(given, "organization")
		} else if t.Account != "" {
			c.errf(p+".organization", "organization: false selects nothing, and this entry is account %s's: leave organization out", t.Account)
		} else {
			c.errf(p+".organization", "organization: false selects nothing: leave the entry out (organization: true serves every account of the organization)")
		}
	}
	if t.OrganizationalUnit != "" {
		given = append(given, "organizational_unit")
		switch u := t.OrganizationalUnit; {
		case rootRe.MatchString(u):
			c.errf(p+".organizational_unit", "%q is the organization's root, not an organizational unit: for every account of the organization write organization: true", u)
		case !unitRe.MatchString(u):
			c.errf(p+".organizational_unit", "%q is not an organizational unit id like ou-ab12-cd34ef56 (ou-, 4-32 lowercase letters or digits, -, 8-32 more; 'aws organizations list-organizational-units-for-parent --parent-id <root or unit>' lists them)", u)
		}
	}
	for _, k := range given[min(1, len(given)):] {
		c.errf(p+"."+k, "%s and %s in one entry: a targets entry serves one account (account:), the whole organization (organization: true) or one organizational unit (organizational_unit:); give each its own entry (an account's own entry overrides a selector's settings for it)", given[0], k)
	}
}

// accountEntry checks what only an account's entry has.
func (c *checker) accountEntry(p string, t *TargetEntry, accounts, names map[string]string) {
	ap := p + ".account"
	switch {
	case t.Account == "" && t.Organization != nil:
		return // organization: false, said by entryKind
	case t.Account == "":
		c.errf(ap, "required: the target's 12-digit account id, quoted, e.g. account: \"222222222222\" (or organization: true, or organizational_unit: ou-..., for accounts of the organization)")
		return
	case !accountRe.MatchString(t.Account):
		c.errf(ap, "%s", c.badAccount(ap, t.Account))
	default:
		if first, dup := accounts[t.Account]; dup {
			c.errf(ap, "account %s is listed twice (first at %s): give it one entry listing all its regions", t.Account, c.r.Where(first))
		} else {
			accounts[t.Account] = ap
		}
	}
	if t.Name != "" {
		if first, dup := names[t.Name]; dup {
			c.errf(p+".name", "name %q is used twice (first at %s): names tell targets apart in reports", t.Name, c.r.Where(first))
		} else {
			names[t.Name] = p + ".name"
		}
	}
	if t.Exclude != nil {
		c.errf(p+".exclude", "exclude belongs to organization: true and organizational_unit entries; an account's entry serves that account only: remove exclude")
	}
}

// selector checks what only a selector has, and what it may not have.
// selected maps each unit ("" for the whole organization) to the path of
// its first selector.
func (c *checker) selector(p string, t *TargetEntry, selected map[string]string) {
	key, kp := t.OrganizationalUnit, p+".organizational_unit"
	if key == "" {
		kp = p + ".organization"
	}
	if first, dup := selected[key]; dup {
		if key == "" {
			c.errf(kp, "organization: true is given twice (first at %s): give the whole organization one entry", c.r.Where(first))
		} else {
			c.errf(kp, "organizational unit %s is selected twice (first at %s): give it one entry", key, c.r.Where(first))
		}
	} else {
		selected[key] = kp
	}
	if t.RoleARN != nil {
		c.errf(p+".role_arn", "role_arn names one account's role, and this entry selects the accounts of %s: give role_name, the role's name in each account (default %s)", t.selected(), DefaultRoleName)
	}
	if _, _, given := c.r.Pos.Key(p + ".name"); given || t.Name != "" {
		c.errf(p+".name", "the accounts of %s are named as in Organizations: remove name (to name one account, give it an entry of its own)", t.selected())
	}
	ep := p + ".exclude"
	seen := map[string]string{}
	for i, id := range t.Exclude {
		ip := yamlconf.Index(ep, i)
		switch first, dup := seen[id]; {
		case !accountRe.MatchString(id):
			c.errf(ip, "%s", c.badAccount(ip, id))
		case dup:
			c.errf(ip, "account %s is excluded twice (first at %s)", id, c.r.Where(first))
		default:
			seen[id] = ip
		}
	}
}

// organizationPartition checks that the selectors, and the role that reads
// the organization, are in one partition: an organization lives in one.
func (c *checker) organizationPartition() {
	var firstPart, firstPath string
	if o := c.cfg.OrganizationAccess; o != nil {
		if m := roleARNRe.FindStringSubmatch(o.RoleARN); m != nil {
			firstPart, firstPath = m[1], "organization.role_arn"
		}
	}
	for i := range c.cfg.Targets {
		if !c.cfg.Targets[i].IsSelector() {
			continue
		}
		rs := c.resolve(i)
		part := onePartition(rs.validRegions())
		switch {
		case part == "":
			continue // no valid region, or several partitions: said by crossCheck
		case firstPart == "":
			firstPart, firstPath = part, rs.regionsPath
		case part != firstPart:
			c.errf(rs.regionsPath, "these regions are in partition %s%s, but %s is in %s: an organization lives in one partition; select its accounts with regions of %s, and those of another partition's organization in a config of their own", part, rs.forTarget(rs.regionsPath), c.r.Where(firstPath), firstPart, firstPart)
		}
	}
}

// onePartition is the partition of regions, "" when there are none or they
// are in more than one.
func onePartition(regions []string) string {
	var part string
	for _, r := range regions {
		switch p := Partition(r); {
		case part == "":
			part = p
		case p != part:
			return ""
		}
	}
	return part
}

// crossCheck checks what only the resolved settings of one target show.
func (c *checker) crossCheck(rs *resolved) {
	if d := c.cfg.Defaults.RoleARN; rs.selected != "" && rs.rolePath == "" && nonEmpty(d) {
		// Rather than a silent amicrypt-target in every account.
		c.errf("defaults.role_arn", "role_arn names one account's role; a selector assumes role_name in each of its accounts instead%s, and neither it nor defaults: gives one: add role_name under defaults: or on that entry (role_arn stays for the account entries)", rs.forTarget("defaults.role_arn"))
	}
	if rs.regions == nil {
		if !c.r.Pos.FailedWithin("defaults.regions") {
			c.errf(rs.path+".regions", "required: this target has no regions and defaults: gives none; add regions: [...] here or under defaults:")
		}
		return
	}
	regions, partitions := rs.validRegions(), map[string]bool{}
	for _, r := range regions {
		partitions[Partition(r)] = true
	}
	if len(partitions) > 1 {
		c.errf(rs.regionsPath, "regions in different partitions (%s): an account lives in one partition; list the others under a target of that partition", strings.Join(sortedKeys(partitions), ", "))
		return
	}
	if len(regions) == 0 {
		return // every region is wrong, and said so
	}
	part := Partition(regions[0])

	if rs.roleARN != "" {
		if m := roleARNRe.FindStringSubmatch(rs.roleARN); m != nil {
			switch {
			case accountRe.MatchString(rs.account) && m[2] != rs.account:
				c.errf(rs.rolePath, "the role is in account %s, not in the target's account %s%s: name a role of %s (or use role_name)", m[2], rs.account, rs.forTarget(rs.rolePath), rs.account)
			case m[1] != part:
				c.errf(rs.rolePath, "the role ARN is in partition %s but the target's regions are in %s%s: write arn:%s:iam::...", m[1], part, rs.forTarget(rs.rolePath), part)
			}
		}
	}

	if k := rs.keyARN; k != nil {
		switch {
		case k.ARN != "":
			m := keyARNRe.FindStringSubmatch(k.ARN)
			if m == nil || !awsregion.Valid(m[2]) || !keyIDRe.MatchString(m[4]) {
				break // said by settings
			}
			kr, multi := m[2], strings.HasPrefix(m[4], "mrk-")
			var others []string
			for _, r := range regions {
				if r != kr {
					others = append(others, r)
				}
			}
			switch {
			case !slices.Contains(regions, kr):
				c.errf(rs.keyARNPath, "the key is in %s, which is not among the target's regions (%s)%s: a KMS key serves only its own region; give a key of one of them, or add %s to regions", kr, strings.Join(regions, ", "), rs.forTarget(rs.keyARNPath), kr)
			case len(others) > 0 && !multi:
				c.errf(rs.keyARNPath, "the key is in %s, but the target also copies into %s%s, where it cannot be used: give key_arn as a mapping region → key ARN, e.g. {%s: %s, %s: <key ARN in %s>}, or use a multi-Region key (mrk-...)", kr, strings.Join(others, ", "), rs.forTarget(rs.keyARNPath), kr, k.ARN, others[0], others[0])
			}
		case k.ByRegion != nil:
			for _, r := range regions {
				if _, ok := k.ByRegion[r]; !ok {
					c.r.KeyErrorf(rs.keyARNPath, "no key for %s, a region of the target%s: add %s: <key ARN in %s> here", r, rs.forTarget(rs.keyARNPath), r, r)
				}
			}
			if !rs.inheritedKey {
				for _, r := range sortedKeys(k.ByRegion) {
					if awsregion.Valid(r) && !slices.Contains(regions, r) {
						c.r.KeyErrorf(yamlconf.Child(rs.keyARNPath, r), "%s is not among the target's regions (%s): remove it, or add the region to regions", r, strings.Join(regions, ", "))
					}
				}
			}
		}
	}

	if rs.manage && rs.grant {
		later := rs.grantPath
		other := rs.managePath
		if strings.HasPrefix(later, "defaults") && !strings.HasPrefix(rs.managePath, "defaults") {
			later, other = rs.managePath, rs.grantPath
		}
		c.errf(later, "manage_key_policy and grant_service_linked_role are both true%s (the other at %s): either amicrypt edits an adopted key's policy, or it leaves the policy alone and grants the service-linked role; set one false", rs.forTarget(later), c.r.Where(other))
	}

	if s := rs.subnets; s != nil {
		switch {
		case len(s.All) > 0 && len(regions) > 1:
			c.errf(rs.subnetsPath, "a subnet belongs to one region, but this target copies into %d (%s)%s: give subnet_ids as a mapping region → list, e.g. {%s: [%s]}", len(regions), strings.Join(regions, ", "), rs.forTarget(rs.subnetsPath), regions[0], s.All[0])
		case s.ByRegion != nil && !rs.inheritedSubnets:
			for _, r := range sortedKeys(s.ByRegion) {
				if awsregion.Valid(r) && !slices.Contains(regions, r) {
					c.r.KeyErrorf(yamlconf.Child(rs.subnetsPath, r), "%s is not among the target's regions (%s): remove it, or add the region to regions", r, strings.Join(regions, ", "))
				}
			}
		}
	}
}

// sources checks the source images against the targets.
func (c *checker) sources(sources map[string]string) {
	if len(sources) == 0 {
		c.r.Add(&yamlconf.Error{Message: "no source images: give at least one --source REGION=AMI, the unencrypted image Packer built in that region"})
		return
	}
	byPartition := map[string][]string{}
	byImage := map[string]string{}
	for _, region := range sortedKeys(sources) {
		id := sources[region]
		where := fmt.Sprintf("source %s=%s: ", region, id)
		if msg := regionProblem(region); msg != "" {
			c.r.Add(&yamlconf.Error{Message: where + msg})
			continue
		}
		if msg := amiProblem(id); msg != "" {
			c.r.Add(&yamlconf.Error{Message: where + msg})
		} else if first, dup := byImage[id]; dup {
			c.r.Add(&yamlconf.Error{Message: where + fmt.Sprintf("%s is also given for %s; an AMI lives in one region: give each region the image built there", id, first)})
		} else {
			byImage[id] = region
		}
		byPartition[Partition(region)] = append(byPartition[Partition(region)], region)
	}
	if len(byPartition) > 1 {
		var parts []string
		for _, p := range sortedKeys(byPartition) {
			parts = append(parts, fmt.Sprintf("%s (%s)", p, strings.Join(byPartition[p], ", ")))
		}
		c.r.Add(&yamlconf.Error{Message: fmt.Sprintf("sources in more than one partition: %s; the builder account lives in one partition: give this run the sources of one, and run each partition with its own config", strings.Join(parts, ", "))})
		return
	}
	var srcPart string
	for p := range byPartition {
		srcPart = p
	}
	if srcPart == "" {
		return
	}
	if m := roleARNRe.FindStringSubmatch(c.cfg.Builder.RoleARN); m != nil && m[1] != srcPart {
		c.errf("builder.role_arn", "the role is in partition %s, but the sources (%s) are in %s", m[1], strings.Join(byPartition[srcPart], ", "), srcPart)
	}
	if o := c.cfg.OrganizationAccess; o != nil {
		if m := roleARNRe.FindStringSubmatch(o.RoleARN); m != nil && m[1] != srcPart {
			c.errf("organization.role_arn", "the role is in partition %s, but the sources (%s) are in %s: name a role of the organization the targets are in, in %s", m[1], strings.Join(byPartition[srcPart], ", "), srcPart, srcPart)
		}
	}
	for i := range c.cfg.Targets {
		rs := c.resolve(i)
		for j, r := range rs.regions {
			if !awsregion.Valid(r) || Partition(r) == srcPart {
				continue
			}
			c.errf(yamlconf.Index(rs.regionsPath, j), "no source image can reach %s: images are copied only within a partition, %s is in %s and the sources (%s) are in %s; give --source for a region of %s, or remove %s here", r, r, Partition(r), strings.Join(byPartition[srcPart], ", "), srcPart, Partition(r), r)
		}
	}
}

// IsAccountID reports whether s is a 12-digit AWS account id.
func IsAccountID(s string) bool { return accountRe.MatchString(s) }

// organizationRe is an AWS Organizations id: "o-" and 10 to 32 lowercase
// letters or digits (the Organization type of the Organizations API).
var organizationRe = regexp.MustCompile(`^o-[a-z0-9]{10,32}$`)

// IsOrganizationID reports whether s is an AWS Organizations id (o-...).
func IsOrganizationID(s string) bool { return organizationRe.MatchString(s) }
