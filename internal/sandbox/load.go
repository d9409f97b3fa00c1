package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// A world's policy documents are checked by the same parser that evaluates them,
// so a malformed statement is refused with its line before the sandbox starts.
func init() {
	world.PolicyValidator = func(doc []byte) error {
		_, err := policy.Parse(doc)
		return err
	}
}

// stateFromWorld builds the initial state and behaviour a world describes.
func stateFromWorld(w *world.World, now time.Time) (*State, Behaviour, error) {
	st := &State{Regions: append([]string{}, w.Regions...), OrganizationID: w.MainOrganization(), Accounts: map[string]*Account{}, Sessions: map[string]*Session{},
		TrackingStart: now.UTC().Truncate(time.Second)}
	for i := range w.Accounts {
		if org := w.OrganizationOf(&w.Accounts[i]); org != "" && st.ManagementAccounts[org] == "" {
			if st.ManagementAccounts == nil {
				st.ManagementAccounts = map[string]string{}
			}
			st.ManagementAccounts[org] = w.ManagementAccountOf(org)
		}
	}
	c := newCloud(st, Behaviour{}, func() time.Time { return now })
	created := now.UTC().Add(-24 * time.Hour).Truncate(time.Second)
	st.Organizations = orgTreesFromWorld(w, created)

	for _, wa := range w.Accounts {
		a := &Account{ID: wa.ID, Name: wa.Name, Organization: wa.Organization, Roles: map[string]*Role{}, Users: map[string]*User{}, Regions: map[string]*Region{},
			AutoScalingGroupLimit: wa.GroupLimit()}
		st.Accounts[wa.ID] = a
		for _, region := range w.Regions {
			r := newRegion()
			r.EBSEncryptionByDefault = wa.EBSEncryptionByDefault
			r.NoDefaultVPC = !wa.HasDefaultVPC(region)
			a.Regions[region] = r
		}
		for _, wr := range wa.Roles {
			path := wr.Path
			if path == "" {
				path = "/"
			}
			r := c.newRole(wa.ID, wr.Name, path, string(wr.Trust), "")
			r.RoleID = "AROA" + stableHex("role/"+wa.ID+"/"+wr.Name, 17)
			r.Created = created
			for _, p := range wr.Policies {
				r.Policies[p.Name] = string(p.Document)
			}
			a.Roles[wr.Name] = r
		}
		for _, wu := range wa.Users {
			path := wu.Path
			if path == "" {
				path = "/"
			}
			u := &User{
				Name: wu.Name, Path: path, ARN: fmt.Sprintf("arn:aws:iam::%s:user%s%s", wa.ID, path, wu.Name),
				UserID: "AIDA" + stableHex("user/"+wa.ID+"/"+wu.Name, 17), AccessKeyID: "AKIA" + stableHex("key/"+wa.ID+"/"+wu.Name, 16),
				Policies: map[string]string{},
			}
			for _, p := range wu.Policies {
				u.Policies[p.Name] = string(p.Document)
			}
			a.Users[wu.Name] = u
		}
		for _, name := range wa.ServiceLinkedRoles {
			r := c.newServiceLinkedRole(wa.ID, "autoscaling.amazonaws.com", name)
			r.RoleID = "AROA" + stableHex("role/"+wa.ID+"/"+name, 17)
			r.Created = created
			a.Roles[name] = r
		}
		for _, wk := range wa.Keys {
			r := a.Regions[wk.Region]
			k := &Key{
				ID: wk.ID, ARN: keyARN(wk.Region, wa.ID, wk.ID), Account: wa.ID, Region: wk.Region,
				Spec: wk.Spec, Usage: wk.Usage, State: wk.State, Manager: "CUSTOMER", Description: wk.Description,
				Policy: string(wk.EffectivePolicy(wa.ID)), RotationEnabled: wk.Rotation, Tags: Tags(wk.Tags), Created: created,
			}
			if k.Spec == "" {
				k.Spec = "SYMMETRIC_DEFAULT"
			}
			if k.Usage == "" {
				k.Usage = world.DefaultKeyUsage(k.Spec)
			}
			if k.State == "" {
				k.State = "Enabled"
			}
			if k.RotationEnabled {
				k.RotationPeriodDays = 365
			}
			if k.State == "PendingDeletion" {
				k.PendingWindowInDays = 30
				k.DeletionDate = now.UTC().Add(30 * 24 * time.Hour)
			}
			for _, g := range wk.Grants {
				k.Grants = append(k.Grants, &Grant{
					ID: g.ID, Token: stableHex("token/"+g.ID, 64), Name: g.Name, GranteePrincipal: g.Grantee,
					RetiringPrincipal: g.RetiringPrincipal, IssuingAccount: "arn:aws:iam::" + wa.ID + ":root",
					Operations: append([]string{}, g.Operations...), Created: created,
				})
			}
			r.Keys[k.ID] = k
			r.Aliases[wk.Alias] = k.ID
			c.keyIndex[k.ID] = k
		}
		if wa.EBSDefaultKMSKey != "" {
			for region, r := range a.Regions {
				if id, ok := r.Aliases[wa.EBSDefaultKMSKey]; ok {
					r.EBSDefaultKMSKeyID = id
				} else if _, ok := r.Keys[wa.EBSDefaultKMSKey]; ok {
					r.EBSDefaultKMSKeyID = wa.EBSDefaultKMSKey
				} else {
					_ = region // validated by the world package: every region declares it
				}
			}
		}
		for _, wp := range wa.Parameters {
			typ := wp.Type
			if typ == "" {
				typ = "String"
			}
			a.Regions[wp.Region].Parameters[wp.Name] = &Parameter{Name: wp.Name, Type: typ, Value: wp.Value, DataType: "text", Version: 1, LastModified: created}
		}
	}
	// Images last: their snapshots may use any account's keys.
	for _, wa := range w.Accounts {
		a := st.Accounts[wa.ID]
		for _, wi := range wa.Images {
			r := a.Regions[wi.Region]
			state := wi.State
			if state == "" {
				state = "available"
			}
			if wi.IsInstanceStore() {
				// An instance store-backed AMI: its root device comes from the
				// image's bundle in Amazon S3, which the sandbox does not model;
				// no snapshot, no block devices.
				im := &Image{
					ID: wi.ID, Owner: wa.ID, Region: wi.Region, Name: wi.Name, Description: wi.Description, State: state,
					Public: wi.Public, LaunchPermissions: append([]string{}, wi.LaunchPermissions...),
					Architecture: wi.Architecture, RootDeviceName: wi.RootDeviceName, RootDeviceType: world.RootDeviceInstanceStore,
					Tags: Tags(wi.Tags), Created: created,
				}
				if state == "failed" {
					im.StateReason = "Server.InternalError: the world file declares this image failed"
				}
				r.Images[im.ID] = im
				continue
			}
			snap := &Snapshot{
				ID: wi.SnapshotID, Owner: wa.ID, Region: wi.Region, VolumeSize: int64(wi.VolumeSize), State: "completed",
				Description: "Created by CreateImage for " + wi.ID, Started: created, Public: wi.Public,
				CreateVolumePermissions: append([]string{}, wi.LaunchPermissions...),
			}
			switch wi.Encrypted.Mode {
			case world.EncryptionAWSManaged:
				snap.Encrypted, snap.KMSKeyID = true, c.ensureAWSManagedKey(wa.ID, wi.Region, "alias/aws/ebs").ARN
			case world.EncryptionKey:
				id, ok := r.Aliases[wi.Encrypted.KeyAlias]
				if !ok {
					return nil, Behaviour{}, fmt.Errorf("image %s: key %s is not declared in %s/%s", wi.ID, wi.Encrypted.KeyAlias, wa.ID, wi.Region)
				}
				snap.Encrypted, snap.KMSKeyID = true, c.keyIndex[id].ARN
			}
			im := &Image{
				ID: wi.ID, Owner: wa.ID, Region: wi.Region, Name: wi.Name, Description: wi.Description, State: state,
				Public: wi.Public, LaunchPermissions: append([]string{}, wi.LaunchPermissions...),
				Architecture: wi.Architecture, RootDeviceName: wi.RootDeviceName, Tags: Tags(wi.Tags), Created: created,
				BlockDevices: []BlockDevice{{
					DeviceName: wi.RootDeviceName, SnapshotID: snap.ID, VolumeSize: snap.VolumeSize, VolumeType: "gp3",
					Encrypted: snap.Encrypted, KMSKeyID: snap.KMSKeyID, DeleteOnTermination: true,
				}},
			}
			if state == "failed" {
				im.StateReason = "Server.InternalError: the world file declares this image failed"
			}
			r.Images[im.ID] = im
			r.Snapshots[snap.ID] = snap
		}
	}

	cfg := Behaviour{
		CopyDuration:        w.Timing.Copy(),
		BootDuration:        w.Timing.Boot(),
		CreateImageDuration: w.Timing.CreateImage(),
		InstanceDuration:    w.Timing.Instance(),
		Throttle:            w.Faults.Throttle,
		ErrorRate:           w.Faults.ErrorRate,
		LostResponseRate:    w.Faults.LostResponseRate,
		ThrottleRate:        w.Faults.ThrottleRate,
		Latency:             time.Duration(w.Faults.LatencyMS) * time.Millisecond,
		CopyFailures:        w.Faults.CopyFailures,
		ConcurrentCopies:    w.Limits.ConcurrentCopies,
		ImageShareAccounts:  w.Limits.ShareAccounts(),
		ServiceFaults:       map[string]Fault{},
		ActionFaults:        map[string]Fault{},
		Buckets:             map[string]BucketSetting{},
	}
	if cfg.ConcurrentCopies <= 0 {
		cfg.ConcurrentCopies = 100
	}
	// Rules are kept as written, keys included, and resolved per call (faultFor)
	// as world.Faults.For resolves them: a bare action's rule inherits from the
	// rule of the service the call is to.
	for svc, r := range w.Faults.Services {
		cfg.ServiceFaults[svc] = faultOf(r)
	}
	for action, r := range w.Faults.Actions {
		cfg.ActionFaults[action] = faultOf(r)
	}
	for class, b := range w.Limits.Buckets {
		cfg.Buckets[class] = BucketSetting{Burst: float64(b.Burst), Rate: b.Rate}
	}
	return st, cfg, nil
}

// faultOf is a world file's fault rule as the sandbox keeps it.
func faultOf(r world.FaultRule) Fault {
	f := Fault{ErrorRate: r.ErrorRate, LostResponseRate: r.LostResponseRate, ThrottleRate: r.ThrottleRate}
	if r.LatencyMS != nil {
		d := time.Duration(*r.LatencyMS) * time.Millisecond
		f.Latency = &d
	}
	return f
}

func stableHex(seed string, n int) string {
	sum := sha256.Sum256([]byte(seed))
	return strings.ToUpper(hex.EncodeToString(sum[:]))[:n]
}
