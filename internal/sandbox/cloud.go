package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// Cloud is the sandbox's model of AWS: the state, the lock that guards it, the
// clock that moves pending work along, and the behaviour settings of the world.
type Cloud struct {
	mu    sync.Mutex
	state *State
	clock func() time.Time
	cfg   Behaviour

	// indexes rebuilt from state (not persisted)
	imageIndex map[string]*Image    // image id -> image
	snapIndex  map[string]*Snapshot // snapshot id -> snapshot
	keyIndex   map[string]*Key      // key id -> key
	userKeys   map[string]userRef   // IAM user access key id -> user
	regionList []regionRef          // every account's regions, in a fixed order
	regionPos  map[*Region]int      // a region's place in regionList

	// due is the schedule of time-driven work (due.go).
	due schedule

	// trail is CloudTrail's event history (cloudtrail.go): persisted with the
	// state, not part of it.
	trail *Trail

	dirty bool
}

// Behaviour is what the world file says about time, limits and faults; it can be
// changed at run time through the admin endpoint. Its JSON form (admin endpoint,
// state file) gives durations in seconds and latencies in milliseconds, as the
// world file does.
type Behaviour struct {
	CopyDuration        time.Duration
	BootDuration        time.Duration
	CreateImageDuration time.Duration
	InstanceDuration    time.Duration
	Throttle            bool
	ErrorRate           float64
	LostResponseRate    float64
	ThrottleRate        float64
	Latency             time.Duration
	ServiceFaults       map[string]Fault // by service: ec2, kms, ...
	ActionFaults        map[string]Fault // by action (CopyImage) or service:action (ec2:CopyImage)
	CopyFailures        map[string]string
	ConcurrentCopies    int
	// ImageShareAccounts is the AMI sharing quota (limits.image_share_accounts);
	// 0 (a state file written before it existed) is AWS's default, 1000.
	ImageShareAccounts int
	Buckets            map[string]BucketSetting
}

// Fault is a rule for a service or an action, as in the world file: what it
// sets overrides the wider rule (action over service over global); a nil field
// inherits.
type Fault struct {
	ErrorRate        *float64
	LostResponseRate *float64
	ThrottleRate     *float64
	Latency          *time.Duration
}

// BucketSetting overrides one token bucket: burst capacity and refill per second.
type BucketSetting struct {
	Burst float64 `json:"burst"`
	Rate  float64 `json:"rate"`
}

type faultJSON struct {
	ErrorRate        *float64 `json:"error_rate,omitempty"`
	LostResponseRate *float64 `json:"lost_response_rate,omitempty"`
	ThrottleRate     *float64 `json:"throttle_rate,omitempty"`
	LatencyMS        *float64 `json:"latency_ms,omitempty"`
}

type behaviourJSON struct {
	CopySeconds        float64                  `json:"copy_seconds"`
	BootSeconds        float64                  `json:"boot_seconds"`
	CreateImageSeconds float64                  `json:"create_image_seconds"`
	InstanceSeconds    float64                  `json:"instance_seconds"`
	Throttle           bool                     `json:"throttle"`
	ErrorRate          float64                  `json:"error_rate"`
	LostResponseRate   float64                  `json:"lost_response_rate"`
	ThrottleRate       float64                  `json:"throttle_rate"`
	LatencyMS          float64                  `json:"latency_ms"`
	Services           map[string]faultJSON     `json:"services,omitempty"`
	Actions            map[string]faultJSON     `json:"actions,omitempty"`
	CopyFailures       map[string]string        `json:"copy_failures,omitempty"`
	ConcurrentCopies   int                      `json:"concurrent_copies"`
	ImageShareAccounts int                      `json:"image_share_accounts"`
	Buckets            map[string]BucketSetting `json:"buckets,omitempty"`
}

func seconds(d time.Duration) float64 { return d.Seconds() }
func fromSeconds(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func fromMillis(ms float64) time.Duration {
	return time.Duration(ms * float64(time.Millisecond))
}

func faultsToJSON(m map[string]Fault) map[string]faultJSON {
	if len(m) == 0 {
		return nil
	}
	out := map[string]faultJSON{}
	for k, f := range m {
		j := faultJSON{ErrorRate: f.ErrorRate, LostResponseRate: f.LostResponseRate, ThrottleRate: f.ThrottleRate}
		if f.Latency != nil {
			ms := millis(*f.Latency)
			j.LatencyMS = &ms
		}
		out[k] = j
	}
	return out
}

func faultsFromJSON(m map[string]faultJSON) map[string]Fault {
	out := map[string]Fault{}
	for k, j := range m {
		f := Fault{ErrorRate: j.ErrorRate, LostResponseRate: j.LostResponseRate, ThrottleRate: j.ThrottleRate}
		if j.LatencyMS != nil {
			d := fromMillis(*j.LatencyMS)
			f.Latency = &d
		}
		out[k] = f
	}
	return out
}

// MarshalJSON writes the behaviour with the world file's units.
func (b Behaviour) MarshalJSON() ([]byte, error) {
	return json.Marshal(behaviourJSON{
		CopySeconds: seconds(b.CopyDuration), BootSeconds: seconds(b.BootDuration),
		CreateImageSeconds: seconds(b.CreateImageDuration), InstanceSeconds: seconds(b.InstanceDuration),
		Throttle: b.Throttle, ErrorRate: b.ErrorRate, LostResponseRate: b.LostResponseRate, ThrottleRate: b.ThrottleRate, LatencyMS: millis(b.Latency),
		Services: faultsToJSON(b.ServiceFaults), Actions: faultsToJSON(b.ActionFaults),
		CopyFailures: b.CopyFailures, ConcurrentCopies: b.ConcurrentCopies, ImageShareAccounts: b.ImageShareAccounts, Buckets: b.Buckets,
	})
}

// UnmarshalJSON merges a (partial) JSON document into the behaviour: fields the
// document does not mention keep their values. Unknown fields are refused.
func (b *Behaviour) UnmarshalJSON(data []byte) error {
	j := behaviourJSON{
		CopySeconds: seconds(b.CopyDuration), BootSeconds: seconds(b.BootDuration),
		CreateImageSeconds: seconds(b.CreateImageDuration), InstanceSeconds: seconds(b.InstanceDuration),
		Throttle: b.Throttle, ErrorRate: b.ErrorRate, LostResponseRate: b.LostResponseRate, ThrottleRate: b.ThrottleRate, LatencyMS: millis(b.Latency),
		Services: faultsToJSON(b.ServiceFaults), Actions: faultsToJSON(b.ActionFaults),
		CopyFailures: b.CopyFailures, ConcurrentCopies: b.ConcurrentCopies, ImageShareAccounts: b.ImageShareAccounts, Buckets: b.Buckets,
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	*b = Behaviour{
		CopyDuration: fromSeconds(j.CopySeconds), BootDuration: fromSeconds(j.BootSeconds),
		CreateImageDuration: fromSeconds(j.CreateImageSeconds), InstanceDuration: fromSeconds(j.InstanceSeconds),
		Throttle: j.Throttle, ErrorRate: j.ErrorRate, LostResponseRate: j.LostResponseRate, ThrottleRate: j.ThrottleRate, Latency: fromMillis(j.LatencyMS),
		ServiceFaults: faultsFromJSON(j.Services), ActionFaults: faultsFromJSON(j.Actions),
		CopyFailures: j.CopyFailures, ConcurrentCopies: j.ConcurrentCopies, ImageShareAccounts: j.ImageShareAccounts, Buckets: j.Buckets,
	}
	return nil
}

// shareAccounts is the AMI sharing quota in force.
func (b Behaviour) shareAccounts() int {
	if b.ImageShareAccounts > 0 {
		return b.ImageShareAccounts
	}
	return world.DefaultImageShareAccounts
}

func newCloud(st *State, cfg Behaviour, clock func() time.Time) *Cloud {
	if clock == nil {
		clock = time.Now
	}
	c := &Cloud{state: st, clock: clock, cfg: cfg, trail: newTrail()}
	c.reindex()
	return c
}

func (c *Cloud) reindex() {
	c.imageIndex = map[string]*Image{}
	c.snapIndex = map[string]*Snapshot{}
	c.keyIndex = map[string]*Key{}
	c.userKeys = map[string]userRef{}
	c.regionList = nil
	c.regionPos = map[*Region]int{}
	c.resetSchedule()
	for _, id := range sortedKeys(c.state.Accounts) {
		for _, rn := range c.state.Regions {
			if r := c.state.Accounts[id].Regions[rn]; r != nil {
				c.addRegionRef(id, rn, r)
			}
		}
	}
	for _, a := range c.state.Accounts {
		for _, u := range a.Users {
			if u.AccessKeyID != "" {
				c.userKeys[u.AccessKeyID] = userRef{account: a.ID, user: u}
			}
		}
		if a.Roles == nil {
			a.Roles = map[string]*Role{}
		}
		for _, r := range a.Regions {
			r.ensureMaps()
			for id, im := range r.Images {
				c.imageIndex[id] = im
			}
			for id, s := range r.Snapshots {
				c.snapIndex[id] = s
			}
			for id, k := range r.Keys {
				c.keyIndex[id] = k
			}
		}
	}
}

type regionRef struct {
	account string
	name    string
	r       *Region
}

func (c *Cloud) addRegionRef(account, name string, r *Region) {
	c.regionPos[r] = len(c.regionList)
	c.regionList = append(c.regionList, regionRef{account: account, name: name, r: r})
}

type userRef struct {
	account string
	user    *User
}

// region returns an account's region state, creating it for a known region.
func (c *Cloud) region(account, region string) *Region {
	a := c.state.Accounts[account]
	if a == nil {
		return nil
	}
	r := a.Regions[region]
	if r == nil {
		if !c.knownRegion(region) {
			return nil
		}
		r = newRegion()
		a.Regions[region] = r
		c.addRegionRef(account, region, r)
	}
	return r
}

func (c *Cloud) knownRegion(region string) bool {
	for _, r := range c.state.Regions {
		if r == region {
			return true
		}
	}
	return false
}

// nextID returns a new resource id such as "ami-0a1b2c3d4e5f60718": a prefix
// and 17 hex digits derived from a counter, so a world replays to the same ids.
func (c *Cloud) nextID(prefix string) string {
	c.state.Seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", prefix, c.state.Seq)))
	return prefix + "-0" + hex.EncodeToString(sum[:])[:16]
}

// nextUUID returns a new key id in the UUID shape KMS uses.
func (c *Cloud) nextUUID(salt string) string {
	c.state.Seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", salt, c.state.Seq)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// nextToken returns an opaque token (grant tokens, session tokens, secrets).
func (c *Cloud) nextToken(salt string, n int) string {
	c.state.Seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", salt, c.state.Seq)))
	s := hex.EncodeToString(sum[:])
	for len(s) < n {
		s += s
	}
	return s[:n]
}

// markDirty notes that the state changed, so a persisted copy is rewritten.
func (c *Cloud) markDirty() { c.dirty = true }

// keyARN builds a KMS key ARN.
func keyARN(region, account, id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", region, account, id)
}

// resolveKey finds a key from any identifier KMS accepts: key id, key ARN,
// alias name or alias ARN. Alias names resolve in the caller's account and region;
// ARNs may name another account.
func (c *Cloud) resolveKey(callerAccount, region, ref string) (*Key, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, errValidation("KeyId", "must not be empty")
	}
	switch {
	case strings.HasPrefix(ref, "arn:"):
		parts := strings.SplitN(ref, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" {
			return nil, notFound(fmt.Sprintf("Invalid arn %s", ref))
		}
		kRegion, kAccount, res := parts[3], parts[4], parts[5]
		if strings.HasPrefix(res, "key/") {
			k := c.keyIndex[strings.TrimPrefix(res, "key/")]
			if k == nil || k.Account != kAccount || k.Region != kRegion {
				return nil, notFound(fmt.Sprintf("Key '%s' does not exist", ref))
			}
			return k, nil
		}
		if strings.HasPrefix(res, "alias/") {
			r := c.region(kAccount, kRegion)
			if r == nil {
				return nil, notFound(fmt.Sprintf("Alias %s is not found.", ref))
			}
			id, ok := r.Aliases[res]
			if !ok {
				return nil, notFound(fmt.Sprintf("Alias %s is not found.", ref))
			}
			return c.keyIndex[id], nil
		}
		return nil, notFound(fmt.Sprintf("Invalid arn %s", ref))
	case strings.HasPrefix(ref, "alias/"):
		r := c.region(callerAccount, region)
		if r != nil {
			if id, ok := r.Aliases[ref]; ok {
				return c.keyIndex[id], nil
			}
			if strings.HasPrefix(ref, "alias/aws/") {
				return c.ensureAWSManagedKey(callerAccount, region, ref), nil
			}
		}
		return nil, notFound(fmt.Sprintf("Alias arn:aws:kms:%s:%s:%s is not found.", region, callerAccount, ref))
	default:
		k := c.keyIndex[ref]
		if k == nil || k.Account != callerAccount || k.Region != region {
			return nil, notFound(fmt.Sprintf("Key '%s' does not exist", keyARN(region, callerAccount, ref)))
		}
		return k, nil
	}
}

// ensureAWSManagedKey returns the account's AWS-managed key for a service
// (alias/aws/ebs), creating it on first use as AWS does.
func (c *Cloud) ensureAWSManagedKey(account, region, alias string) *Key {
	r := c.region(account, region)
	if id, ok := r.Aliases[alias]; ok {
		return c.keyIndex[id]
	}
	service := strings.TrimPrefix(alias, "alias/aws/")
	id := c.nextUUID(account + region + alias)
	k := &Key{
		ID: id, ARN: keyARN(region, account, id), Account: account, Region: region,
		Spec: "SYMMETRIC_DEFAULT", Usage: "ENCRYPT_DECRYPT", State: "Enabled", Manager: "AWS",
		Description:     fmt.Sprintf("Default key that protects my %s data when no other key is defined", strings.ToUpper(service)),
		Policy:          awsManagedKeyPolicy(account, region, service),
		RotationEnabled: true, RotationPeriodDays: 365,
		Created: c.clock().UTC(),
	}
	r.Keys[id] = k
	r.Aliases[alias] = id
	c.keyIndex[id] = k
	c.markDirty()
	return k
}

// awsManagedKeyPolicy is the policy AWS attaches to aws/<service> keys: every
// principal of the account may use the key through that service only.
func awsManagedKeyPolicy(account, region, service string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Id":"auto-%[3]s-2","Statement":[`+
		`{"Sid":"Allow access through %[4]s for all principals in the account that are authorized to use %[4]s","Effect":"Allow","Principal":{"AWS":"*"},"Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:CreateGrant","kms:DescribeKey"],"Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"%[1]s","kms:ViaService":"%[5]s.%[2]s.amazonaws.com"}}},`+
		`{"Sid":"Allow direct access to key metadata to the account","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%[1]s:root"},"Action":["kms:Describe*","kms:Get*","kms:List*","kms:RevokeGrant"],"Resource":"*"}]}`,
		account, region, service, strings.ToUpper(service), viaServiceName(service))
}

func viaServiceName(service string) string {
	if service == "ebs" {
		return "ec2"
	}
	return service
}

// defaultKeyPolicy is the policy KMS gives a key created without one: the
// account root may do everything, which delegates access to IAM policies.
func defaultKeyPolicy(account string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}`, account)
}
