package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/activities"
	"github.com/amicrypt/amicrypt/internal/awsregion"
	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

// resolved is one target's settings after inheritance, each with the path it
// came from ("" for a built-in default), so that a problem is reported where
// the value was written.
type resolved struct {
	path          string // targets[i]
	account, name string
	// selected is what a selector selects ("organizational unit ou-...",
	// "the organization"); "" for an account entry.
	selected string

	regions     []string
	regionsPath string

	roleARN, roleName, rolePath string // roleARN set, or roleName
	externalID                  string

	keyAlias     string
	keyARN       *KeyARN // nil, or a non-empty key_arn
	keyARNPath   string
	inheritedKey bool // keyARN comes from defaults

	manage, grant         bool
	managePath, grantPath string
	slrSuffix             string

	bootEnabled      bool
	instanceType     string
	subnets          *SubnetIDs
	subnetsPath      string
	inheritedSubnets bool
	timeout          time.Duration

	ssmParameter, launchTemplate string
	family                       string // "": derived at run time
	launchPrincipals             []string
	keep                         int

	// The config's retention.grace and rotation.retire_after, or their
	// defaults: every target gets them.
	grace, retireAfter time.Duration
}

// pick returns the target's value if given, else the default's, else def,
// with the path it came from.
func pick[T any](t, d *T, tp, dp string, def T) (T, string) {
	switch {
	case t != nil:
		return *t, tp
	case d != nil:
		return *d, dp
	}
	return def, ""
}

func bootOf(b *BootProof) BootProof {
	if b == nil {
		return BootProof{}
	}
	return *b
}

func publishOf(p *Publish) Publish {
	if p == nil {
		return Publish{}
	}
	return *p
}

func nonEmpty(s *string) bool { return s != nil && *s != "" }

// resolve applies defaults to the i-th target.
func (c *checker) resolve(i int) *resolved {
	t, d := &c.cfg.Targets[i], &c.cfg.Defaults
	tp := yamlconf.Index("targets", i)
	rs := &resolved{path: tp, account: t.Account, name: t.Name}
	if t.IsSelector() {
		rs.selected = t.selected()
	}

	switch {
	case t.Regions != nil:
		rs.regions, rs.regionsPath = t.Regions, tp+".regions"
	case d.Regions != nil:
		rs.regions, rs.regionsPath = d.Regions, "defaults.regions"
	}

	// The most specific level wins; on one level role_arn beats role_name.
	// A selector serves many accounts, and role_arn names one account's
	// role: a selector always assumes role_name.
	sel := rs.selected != ""
	switch {
	case !sel && nonEmpty(t.RoleARN):
		rs.roleARN, rs.rolePath = *t.RoleARN, tp+".role_arn"
	case t.RoleName != nil:
		rs.roleName, rs.rolePath = *t.RoleName, tp+".role_name"
	case !sel && nonEmpty(d.RoleARN):
		rs.roleARN, rs.rolePath = *d.RoleARN, "defaults.role_arn"
	case d.RoleName != nil:
		rs.roleName, rs.rolePath = *d.RoleName, "defaults.role_name"
	default:
		rs.roleName = DefaultRoleName
	}
	rs.externalID, _ = pick(t.ExternalID, d.ExternalID, "", "", "")

	rs.keyAlias, _ = pick(t.KeyAlias, d.KeyAlias, "", "", DefaultKeyAlias)
	// Likewise key_arn and key_alias; key_arn: "" on a target cancels one
	// from defaults.
	switch {
	case t.KeyARN != nil:
		rs.keyARN, rs.keyARNPath = t.KeyARN, tp+".key_arn"
	case t.KeyAlias != nil:
	case d.KeyARN != nil:
		rs.keyARN, rs.keyARNPath, rs.inheritedKey = d.KeyARN, "defaults.key_arn", true
	}
	if rs.keyARN != nil && rs.keyARN.ARN == "" && rs.keyARN.ByRegion == nil {
		rs.keyARN, rs.keyARNPath = nil, ""
	}

	rs.manage, rs.managePath = pick(t.ManageKeyPolicy, d.ManageKeyPolicy, tp+".manage_key_policy", "defaults.manage_key_policy", false)
	rs.grant, rs.grantPath = pick(t.GrantServiceLinkedRole, d.GrantServiceLinkedRole, tp+".grant_service_linked_role", "defaults.grant_service_linked_role", false)
	rs.slrSuffix, _ = pick(t.ServiceLinkedRoleSuffix, d.ServiceLinkedRoleSuffix, "", "", "")

	tb, db := bootOf(t.BootProof), bootOf(d.BootProof)
	rs.bootEnabled, _ = pick(tb.Enabled, db.Enabled, "", "", true)
	rs.instanceType, _ = pick(tb.InstanceType, db.InstanceType, "", "", DefaultInstanceType)
	rs.timeout, _ = pick(tb.Timeout, db.Timeout, "", "", DefaultBootTimeout)
	switch {
	case tb.SubnetIDs != nil:
		rs.subnets, rs.subnetsPath = tb.SubnetIDs, tp+".boot_proof.subnet_ids"
	case db.SubnetIDs != nil:
		rs.subnets, rs.subnetsPath, rs.inheritedSubnets = db.SubnetIDs, "defaults.boot_proof.subnet_ids", true
	}

	tpub, dpub := publishOf(t.Publish), publishOf(d.Publish)
	rs.ssmParameter, _ = pick(tpub.SSMParameter, dpub.SSMParameter, "", "", "")
	rs.launchTemplate, _ = pick(tpub.LaunchTemplate, dpub.LaunchTemplate, "", "", "")
	rs.family, _ = pick(t.Family, d.Family, "", "", "")
	rs.keep, _ = pick(t.Keep, d.Keep, "", "", DefaultKeep)
	rs.launchPrincipals = d.LaunchPrincipals
	if t.LaunchPrincipals != nil {
		rs.launchPrincipals = t.LaunchPrincipals
	}
	rs.grace = c.cfg.Retention.GraceOrDefault()
	rs.retireAfter = *c.cfg.Rotation.WithDefaults().RetireAfter
	return rs
}

// forTarget names the target in a message about a value it inherits from
// defaults (the same value may be fine for another target).
func (rs *resolved) forTarget(path string) string {
	if !strings.HasPrefix(path, "defaults") {
		return ""
	}
	who := rs.path + ", account " + rs.account
	switch {
	case rs.selected != "":
		who = rs.path + ", " + rs.selected
	case rs.name != "":
		who = fmt.Sprintf("%s (%s, account %s)", rs.path, rs.name, rs.account)
	}
	return " (for " + who + ")"
}

// validRegions are the target's regions of valid syntax, without repeats.
func (rs *resolved) validRegions() []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rs.regions {
		if awsregion.Valid(r) && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// keyARNFor is the key ARN to use in region: the mapping's entry, the key
// itself in its region, or a multi-Region key's replica elsewhere.
func (rs *resolved) keyARNFor(region string) string {
	k := rs.keyARN
	switch {
	case k == nil:
		return ""
	case k.ByRegion != nil:
		return k.ByRegion[region]
	}
	m := keyARNRe.FindStringSubmatch(k.ARN)
	if m == nil || m[2] == region {
		return k.ARN
	}
	return "arn:" + m[1] + ":kms:" + region + ":" + m[3] + ":key/" + m[4]
}

func (rs *resolved) subnetsFor(region string) []string {
	if rs.subnets == nil {
		return nil
	}
	list := rs.subnets.All
	if rs.subnets.ByRegion != nil {
		list = rs.subnets.ByRegion[region]
	}
	if len(list) == 0 {
		return nil
	}
	return append([]string(nil), list...)
}

// expand gives one activities.Target per region.
func (rs *resolved) expand() []activities.Target {
	var out []activities.Target
	for _, region := range rs.validRegions() {
		// Each target its own copies: they are set even when they are the
		// defaults, so a run's input says what it was given.
		grace, retireAfter := rs.grace, rs.retireAfter
		role := rs.roleARN
		if role == "" {
			role = "arn:" + Partition(region) + ":iam::" + rs.account + ":role/" + rs.roleName
		}
		out = append(out, activities.Target{
			Account:                 rs.account,
			Name:                    rs.name,
			Region:                  region,
			RoleARN:                 role,
			ExternalID:              rs.externalID,
			KeyAlias:                rs.keyAlias,
			KeyARN:                  rs.keyARNFor(region),
			ManageKeyPolicy:         rs.manage,
			GrantServiceLinkedRole:  rs.grant,
			ServiceLinkedRoleSuffix: rs.slrSuffix,
			BootProof: activities.BootProof{
				Enabled:      rs.bootEnabled,
				InstanceType: rs.instanceType,
				SubnetIDs:    rs.subnetsFor(region),
				Timeout:      rs.timeout,
			},
			Publish:          activities.Publish{SSMParameter: rs.ssmParameter, LaunchTemplate: rs.launchTemplate},
			Keep:             rs.keep,
			Family:           rs.family,
			RetentionGrace:   &grace,
			RetireAfter:      &retireAfter,
			LaunchPrincipals: slices.Clone(rs.launchPrincipals),
		})
	}
	return out
}
