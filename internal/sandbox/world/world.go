// Package world reads, checks and ships the sandbox's world files.
//
// A world file is YAML describing an organisation the way the AWS sandbox
// models it: regions, accounts, IAM roles and users with their policies, AMIs,
// KMS keys with policies and grants, the Auto Scaling service-linked role, SSM
// parameters, and how the simulated services behave (timing, injected faults,
// request-rate limits). The embedded default world ([Default], [DefaultYAML])
// is commented for users to copy.
//
// Anchors, aliases and merge keys (<<:) work, so that a world of hundreds of
// accounts stays short; top-level keys beginning with x- are ignored and are
// the place to define shared anchors. Parsing is strict: unknown keys are
// errors that list the allowed keys, and every problem found is reported at
// once, each with file, line, column and path, sorted by line:
//
//	world.yaml:14:9: accounts[1].id: "22222222222" is not a 12-digit AWS account id
//
// Account ids should be quoted. An unquoted number is accepted when it is
// written with exactly 12 digits (as written: leading zeros are kept); any
// other unquoted number is rejected with a hint to quote it.
//
// Policy documents (trust policies, inline policies, key policies) may be
// written as YAML mappings or as strings holding JSON; both become the same
// canonical JSON (compact, keys in file order), checked by [PolicyValidator]
// when it is set.
package world

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/amicrypt/amicrypt/internal/yamlconf"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default world file (a copy).
func DefaultYAML() []byte {
	return append([]byte(nil), defaultYAML...)
}

// Default returns the embedded default world, parsed. It panics only if the
// embedded file is broken, which a test rules out.
func Default() *World {
	w, err := Parse(defaultYAML, "default.yaml")
	if err != nil {
		panic("world: the embedded default.yaml is invalid: " + err.Error())
	}
	return w
}

// Load reads and parses the world file at path.
func Load(path string) (*World, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading world file: %w", err)
	}
	return Parse(data, path)
}

// Error is one problem in a world file: file, line, column, path and
// message (see [yamlconf.Error]). Parse and Validate return all of them joined
// with errors.Join; errors.As finds the first.
type Error = yamlconf.Error

// Parse reads a world file. filename is used in error messages only. The
// result is validated (see [World.Validate]) and has its defaults filled in.
func Parse(data []byte, filename string) (w *World, err error) {
	defer func() {
		// yamlconf.Parse guards against the YAML parser; this guards the
		// checks below, so that no world file can crash the sandbox.
		if r := recover(); r != nil {
			w, err = nil, yamlconf.Join([]*Error{{File: filename, Message: fmt.Sprintf("cannot read this YAML (parser failure: %v)", r)}})
		}
	}()
	body, err := yamlconf.Parse(data, filename, yamlconf.Options{Noun: "world file"})
	if err != nil {
		return nil, err
	}
	if body.Kind == yamlconf.Null {
		return nil, yamlconf.Join([]*Error{{File: filename, Message: "the world file is empty: it needs at least regions: and accounts: (start from the default world)"}})
	}

	d := newDecoder(filename)
	w = &World{}
	w.setDefaults()
	d.Decode(body, "", reflect.ValueOf(w).Elem())
	fillDerived(w)

	c := &checker{r: d.Report, keyOrigins: d.keyOrigins}
	c.world(w)
	if err := c.result(); err != nil {
		return nil, err
	}
	// Either form of the organization keys gives the same World.
	w.OrganizationID = w.MainOrganization()
	w.OrganizationManagementAccount = w.organizationManagement()
	if o := w.Organization; o != nil {
		o.ID, o.ManagementAccount = w.OrganizationID, w.OrganizationManagementAccount
	}
	return w, nil
}

func (w *World) setDefaults() {
	w.Timing = Timing{CopySeconds: 20, BootSeconds: 5, CreateImageSeconds: 5, InstanceSeconds: 2}
	w.Faults = Faults{Throttle: true}
	w.Limits = Limits{ConcurrentCopies: 100, ImageShareAccounts: DefaultImageShareAccounts}
}

func (a *Account) setDefaults() { a.AutoScalingGroupLimit = DefaultAutoScalingGroupLimit }

func (r *Role) setDefaults() { r.Path = "/" }

func (u *User) setDefaults() { u.Path = "/" }

func (i *Image) setDefaults() {
	i.Encrypted = EncryptionSpec{Mode: EncryptionNone}
	i.Architecture = "x86_64"
	i.RootDeviceName = "/dev/xvda"
	i.RootDeviceType = RootDeviceEBS
	i.VolumeSize = 8
	i.State = "available"
}

func (k *Key) setDefaults() {
	k.Spec = "SYMMETRIC_DEFAULT"
	k.State = "Enabled"
}

func (p *Parameter) setDefaults() { p.Type = "String" }

// fillDerived fills the defaults that depend on other values: key usage and
// ids, snapshot ids, grant ids, the organization's root and OU ids; an
// instance store-backed image has no snapshot and no root volume size.
// Generated ids are stable: the same world file gives the same ids.
func fillDerived(w *World) {
	w.Organization = w.Organization.Resolved(w.MainOrganization())
	for ai := range w.Accounts {
		a := &w.Accounts[ai]
		for ki := range a.Keys {
			k := &a.Keys[ki]
			if k.Usage == "" {
				k.Usage = DefaultKeyUsage(k.Spec)
			}
			if k.ID == "" {
				k.ID = derivedUUID("key", a.ID, k.Region, k.Alias)
			}
			for gi := range k.Grants {
				g := &k.Grants[gi]
				if g.ID == "" {
					g.ID = derivedHex(64, "grant", a.ID, k.Region, k.ID, strconv.Itoa(gi), g.Grantee)
				}
			}
		}
		for ii := range a.Images {
			img := &a.Images[ii]
			if img.IsInstanceStore() {
				img.VolumeSize = 0
				continue
			}
			if img.SnapshotID == "" && img.ID != "" {
				img.SnapshotID = "snap-" + derivedHex(17, "snapshot", img.ID)
			}
		}
	}
}

func derivedHex(n int, parts ...string) string {
	sum := sha256.Sum256([]byte("amicrypt-sandbox\x00" + strings.Join(parts, "\x00")))
	return hex.EncodeToString(sum[:])[:n]
}

// derivedUUID returns a version-4-shaped UUID derived from parts.
func derivedUUID(parts ...string) string {
	h := []byte(derivedHex(32, parts...))
	h[12] = '4'
	h[16] = "89ab"[h[16]%4]
	s := string(h)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
