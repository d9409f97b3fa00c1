package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/policy"
	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// Instances and their EBS volumes. An instance starts `pending`; after the
// world's instance duration it is `running` — unless EC2 could not use one of
// its volumes' KMS keys for the principal that launched (or started) it. That
// decision is made when RunInstances / StartInstances is called, from the key
// policies, grants and identity policies in force then (the EBS encryption
// documentation: EC2 creates a grant and asks KMS for data keys on the
// principal's behalf), and applied when the pending period ends: the instance
// becomes `terminated` (launch) or `stopped` (start) with the state reason AWS
// gives, Client.InternalError: Client error on launch (seed 002, F4).
//
// Instances an Auto Scaling group launches are decided by the group when its
// launch activity resolves (autoscaling.go); advanceInstances leaves them alone
// while they are pending.

const (
	launchFailCode      = "Client.InternalError"
	launchFailMessage   = "Client.InternalError: Client error on launch"
	keyStateFailCode    = "Client.InvalidKMSKey.InvalidState"
	keyStateFailMsg     = "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state"
	userShutdownCode    = "Client.UserInitiatedShutdown"
	userShutdownMsg     = "Client.UserInitiatedShutdown: User initiated shutdown"
	terminatedLifetime  = time.Hour  // AWS shows terminated instances for about an hour
	defaultInstanceType = "m1.small" // RunInstances' documented default
)

var instanceStateCodes = map[string]int64{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

var (
	instanceIDRE = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)
	volumeIDRE   = regexp.MustCompile(`^vol-[0-9a-f]{8,17}$`)
)

func (s *Server) registerEC2Instances() {
	s.handle("ec2", "RunInstances", s.ec2RunInstances)
	s.handle("ec2", "DescribeInstances", s.ec2DescribeInstances)
	s.handle("ec2", "DescribeInstanceStatus", s.ec2DescribeInstanceStatus)
	s.handle("ec2", "StopInstances", s.ec2StopInstances)
	s.handle("ec2", "StartInstances", s.ec2StartInstances)
	s.handle("ec2", "TerminateInstances", s.ec2TerminateInstances)
	s.handle("ec2", "ModifyInstanceAttribute", s.ec2ModifyInstanceAttribute)
	s.handle("ec2", "DescribeVolumes", s.ec2DescribeVolumes)
}

// launchSpec is one launch: RunInstances parameters with the launch template
// already merged in, and who launches.
type launchSpec struct {
	account, region    string
	params             map[string]any
	minCount, maxCount int64
	launchedBy         string // ARN of the principal EC2 acts for
	groupName          string
	ltID, ltVersion    string
	clientToken        string
	subnetID           string // chosen by Auto Scaling; overrides params
	extraTags          Tags   // instance tags the launcher adds
}

// volumePlan is one EBS volume an instance will get.
type volumePlan struct {
	device     string
	snapshotID string
	size       int64
	volumeType string
	dot        bool
	encrypted  bool
	keyARN     string
	keyErr     error // the named key does not resolve
}

// mergeLaunchParams overlays explicit RunInstances parameters on launch
// template data: a parameter given explicitly wins; block device mappings merge
// by device name and tag specifications add up (later tags win per key). AWS's
// documentation says explicit parameters override the template's; how it
// merges lists is the sandbox's choice.
func mergeLaunchParams(ltData, explicit map[string]any) map[string]any {
	out := deepCopyMap(ltData)
	if out == nil {
		out = map[string]any{}
	}
	for k, v := range explicit {
		switch k {
		case "LaunchTemplate", "MinCount", "MaxCount", "ClientToken", "DryRun":
			continue
		case "BlockDeviceMappings":
			byDev := map[string]int{}
			merged := wire.List(out, k)
			for i, m := range merged {
				mm, _ := m.(map[string]any)
				byDev[wire.Str(mm, "DeviceName")] = i
			}
			for _, m := range wire.Structs(explicit, k) {
				if i, ok := byDev[wire.Str(m, "DeviceName")]; ok {
					merged[i] = deepCopyMap(m)
				} else {
					merged = append(merged, deepCopyMap(m))
				}
			}
			out[k] = merged
		case "TagSpecifications":
			out[k] = append(wire.List(out, k), deepCopyValue(v).([]any)...)
		default:
			out[k] = deepCopyValue(v)
		}
	}
	return out
}

// planVolumes decides the volumes of an instance from the image's block devices
// and the launch's block device mappings.
func (c *Cloud) planVolumes(account, region string, im *Image, params map[string]any) ([]volumePlan, error) {
	mappings := map[string]map[string]any{}
	var order []string
	for _, m := range wire.Structs(params, "BlockDeviceMappings") {
		dev := wire.Str(m, "DeviceName")
		if dev == "" {
			return nil, apiErr("InvalidBlockDeviceMapping", "The device name must be specified in a block device mapping")
		}
		if _, seen := mappings[dev]; !seen {
			order = append(order, dev)
		}
		mappings[dev] = m
	}
	var plans []volumePlan
	plan := func(dev string, bd *BlockDevice, m map[string]any) error {
		if m != nil && wire.Has(m, "NoDevice") {
			return nil
		}
		ebs := wire.Struct(m, "Ebs")
		if bd == nil && ebs == nil {
			return nil // instance store (VirtualName): not modelled
		}
		p := volumePlan{device: dev, dot: true, volumeType: "gp2"}
		var snap *Snapshot
		if bd != nil {
			p.snapshotID, p.size, p.dot = bd.SnapshotID, bd.VolumeSize, bd.DeleteOnTermination
			if bd.VolumeType != "" {
				p.volumeType = bd.VolumeType
			}
			snap = c.snapIndex[bd.SnapshotID]
			if snap == nil {
				// The image's snapshot is gone from the index; its block device still says
				// how it was encrypted.
				snap = &Snapshot{ID: bd.SnapshotID, Owner: im.Owner, Region: im.Region, VolumeSize: bd.VolumeSize, Encrypted: bd.Encrypted, KMSKeyID: bd.KMSKeyID}
			}
		}
		if id := wire.Str(ebs, "SnapshotId"); id != "" && id != p.snapshotID {
			sn, err := c.visibleSnapshot(account, region, id)
			if err != nil {
				return err
			}
			snap, p.snapshotID, p.size = sn, sn.ID, sn.VolumeSize
		}
		if v, ok := numOK(ebs, "VolumeSize"); ok {
			if snap != nil && v < snap.VolumeSize {
				return apiErr("InvalidBlockDeviceMapping", "Volume of size %dGB is smaller than snapshot '%s', expect size >= %dGB", v, snap.ID, snap.VolumeSize)
			}
			p.size = v
		}
		if p.size <= 0 {
			return apiErr("InvalidBlockDeviceMapping", "The volume size of device %s must be specified for a volume without a snapshot", dev)
		}
		if t := wire.Str(ebs, "VolumeType"); t != "" {
			p.volumeType = t
		}
		if v, ok := wire.BoolOK(ebs, "DeleteOnTermination"); ok {
			p.dot = v
		}
		reqEnc := wire.Bool(ebs, "Encrypted")
		key := wire.Str(ebs, "KmsKeyId")
		if key != "" && !reqEnc {
			return apiErr("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
		}
		// Encrypted=false is treated as "not set": EBS never removes encryption, and
		// encryption by default still applies (the EBS "encryption outcomes" rules).
		enc, keyARN, err := c.volumeKeyPlan(account, region, snap, reqEnc, key)
		if err != nil {
			// Unknown in AWS's documentation: whether a KmsKeyId that does not resolve
			// fails RunInstances at once or the launch. The sandbox fails the launch
			// (Client.InternalError), as it does for a key EC2 may not use.
			p.encrypted, p.keyErr = true, err
		} else {
			p.encrypted, p.keyARN = enc, keyARN
		}
		plans = append(plans, p)
		return nil
	}
	for i := range im.BlockDevices {
		bd := &im.BlockDevices[i]
		if err := plan(bd.DeviceName, bd, mappings[bd.DeviceName]); err != nil {
			return nil, err
		}
	}
	for _, dev := range order {
		if imageHasDevice(im, dev) {
			continue
		}
		if err := plan(dev, nil, mappings[dev]); err != nil {
			return nil, err
		}
	}
	return plans, nil
}

// numOK reads an integer member of stored request data, which a state file
// read back from JSON holds as float64.
func numOK(m map[string]any, key string) (int64, bool) {
	if f, ok := m[key].(float64); ok {
		return int64(f), true
	}
	return wire.IntOK(m, key)
}

func imageHasDevice(im *Image, dev string) bool {
	for _, bd := range im.BlockDevices {
		if bd.DeviceName == dev {
			return true
		}
	}
	return false
}

// launchInstances validates a launch and creates its instances (pending) and
// volumes. It returns the error RunInstances would return.
func (c *Cloud) launchInstances(spec launchSpec, now time.Time) ([]*Instance, error) {
	acct, region, params := spec.account, spec.region, spec.params
	r := c.region(acct, region)
	imageID := wire.Str(params, "ImageId")
	if imageID == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter ImageId")
	}
	im, err := c.visibleImage(acct, region, imageID)
	if err != nil {
		return nil, err
	}
	if im.State != "available" {
		// The code is EC2's; the wording is the sandbox's.
		return nil, apiErr("InvalidAMIID.Unavailable", "The image id '[%s]' is not available: its state is %s", im.ID, im.State)
	}
	if spec.minCount < 1 {
		return nil, apiErr("InvalidParameterValue", "Value (%d) for parameter minCount is invalid. Expected a value of at least 1.", spec.minCount)
	}
	if spec.maxCount < spec.minCount {
		return nil, apiErr("InvalidParameterValue", "Value (%d) for parameter maxCount is invalid. Expected a value of at least minCount (%d).", spec.maxCount, spec.minCount)
	}
	itype := wire.Str(params, "InstanceType")
	if itype == "" {
		itype = defaultInstanceType
	}
	if err := checkLaunchType(itype, im); err != nil {
		return nil, err
	}

	// Network: a subnet (explicit, from the primary network interface, or the
	// default subnet of the requested zone), security groups of its VPC.
	vpc := c.defaultNetwork(acct, region)
	var primary map[string]any
	for _, ni := range wire.Structs(params, "NetworkInterfaces") {
		if n, _ := numOK(ni, "DeviceIndex"); primary == nil || n == 0 {
			primary = ni
		}
	}
	subnetID := spec.subnetID
	if subnetID == "" {
		subnetID = wire.Str(params, "SubnetId")
	}
	if subnetID == "" {
		subnetID = wire.Str(primary, "SubnetId")
	}
	zone := wire.Str(wire.Struct(params, "Placement"), "AvailabilityZone")
	var sn *Subnet
	if subnetID != "" {
		sn = r.Subnets[subnetID]
		if sn == nil {
			return nil, apiErr("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", subnetID)
		}
	} else {
		if zone != "" && zoneIndex(region, zone) < 0 {
			return nil, apiErr("InvalidParameterValue", "Invalid availability zone: [%s]", zone)
		}
		if vpc == nil {
			return nil, errNoDefaultVPC()
		}
		sn = c.defaultSubnet(acct, region, zone)
	}
	var sgIDs []string
	for _, id := range append(wire.Strs(params, "SecurityGroupIds"), wire.Strs(primary, "Groups")...) {
		g := r.SecurityGroups[id]
		if g == nil || g.VPCID != sn.VPCID {
			return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", id, sn.VPCID)
		}
		if !inList(sgIDs, id) {
			sgIDs = append(sgIDs, id)
		}
	}
	for _, name := range wire.Strs(params, "SecurityGroups") {
		g := c.securityGroupByName(acct, region, sn.VPCID, name)
		if g == nil {
			return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", name, sn.VPCID)
		}
		if !inList(sgIDs, g.ID) {
			sgIDs = append(sgIDs, g.ID)
		}
	}
	if len(sgIDs) == 0 && vpc != nil {
		if g := c.securityGroupByName(acct, region, vpc.ID, "default"); g != nil && sn.VPCID == vpc.ID {
			sgIDs = []string{g.ID}
		}
	}
	keyName := wire.Str(params, "KeyName")
	if keyName != "" && c.keyPairByName(acct, region, keyName) == nil {
		return nil, apiErr("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", keyName)
	}
	// Instance profiles are not modelled: the name or ARN is recorded as given.
	profile := ""
	if ip := wire.Struct(params, "IamInstanceProfile"); ip != nil {
		profile = wire.Str(ip, "Arn")
		if profile == "" && wire.Str(ip, "Name") != "" {
			profile = fmt.Sprintf("arn:aws:iam::%s:instance-profile/%s", acct, wire.Str(ip, "Name"))
		}
	}
	publicIP := sn.IsDefault
	if v, ok := wire.BoolOK(primary, "AssociatePublicIpAddress"); ok {
		publicIP = v
	}

	plans, err := c.planVolumes(acct, region, im, params)
	if err != nil {
		return nil, err
	}

	instTags := tagSpecs(params, "instance")
	mergeTags(&instTags, spec.extraTags)
	if spec.ltID != "" {
		mergeTags(&instTags, Tags{"aws:ec2launchtemplate:id": spec.ltID, "aws:ec2launchtemplate:version": spec.ltVersion})
	}
	volTags := tagSpecs(params, "volume")
	reservation := c.nextID("r")
	var out []*Instance
	for i := int64(0); i < spec.maxCount; i++ {
		inst := &Instance{
			ID: c.nextID("i"), Owner: acct, Region: region, ImageID: im.ID, InstanceType: itype, State: "pending",
			Zone: sn.Zone, SubnetID: sn.ID, VPCID: sn.VPCID, SecurityGroupIDs: append([]string(nil), sgIDs...),
			KeyName: keyName, RootDeviceName: im.RootDeviceName, RootDeviceType: im.RootDeviceType, VolumeIDs: map[string]string{},
			LaunchedBy: spec.launchedBy, GroupName: spec.groupName, LaunchTemplateID: spec.ltID, LaunchTemplateVersion: spec.ltVersion,
			Launched: now.UTC().Truncate(time.Second), ReservationID: reservation, ClientToken: spec.clientToken,
			LaunchIndex: i, Architecture: im.Architecture, IamInstanceProfile: profile,
		}
		inst.PrivateIP = privateIP(sn, inst.ID)
		if publicIP {
			inst.PublicIP = publicIPFor(inst.ID)
		}
		if len(instTags) > 0 {
			inst.Tags = Tags{}
			mergeTags(&inst.Tags, instTags)
		}
		for _, p := range plans {
			if p.keyErr != nil {
				inst.FailCode, inst.FailMessage = launchFailCode, launchFailMessage
				continue
			}
			v := &Volume{
				ID: c.nextID("vol"), Owner: acct, Region: region, Zone: sn.Zone, Size: p.size, SnapshotID: p.snapshotID,
				Encrypted: p.encrypted, KMSKeyID: p.keyARN, State: "in-use", InstanceID: inst.ID, Device: p.device,
				Created: inst.Launched, VolumeType: p.volumeType, DeleteOnTermination: p.dot, AttachTime: inst.Launched,
			}
			if len(volTags) > 0 {
				v.Tags = Tags{}
				mergeTags(&v.Tags, volTags)
			}
			r.Volumes[v.ID] = v
			inst.VolumeIDs[p.device] = v.ID
		}
		r.Instances[inst.ID] = inst
		out = append(out, inst)
	}
	im.noteLaunch(now)
	c.markDirty()
	return out, nil
}

// privateIP gives an instance an address in its subnet, derived from its id.
func privateIP(sn *Subnet, id string) string {
	n := idNumber(id)
	var a, b, third int
	fmt.Sscanf(sn.CIDR, "%d.%d.%d.", &a, &b, &third)
	return fmt.Sprintf("%d.%d.%d.%d", a, b, third+int(n%16), 4+int((n>>8)%250))
}

// publicIPFor gives an instance an address from the documentation ranges
// (TEST-NET-2/3): the sandbox routes nothing.
func publicIPFor(id string) string {
	n := idNumber(id)
	if n%2 == 0 {
		return fmt.Sprintf("198.51.100.%d", 1+(n>>1)%254)
	}
	return fmt.Sprintf("203.0.113.%d", 1+(n>>1)%254)
}

func idNumber(id string) uint64 {
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8])
}

func dnsSuffix(region string, public bool) string {
	switch {
	case region == "us-east-1" && public:
		return "compute-1.amazonaws.com"
	case region == "us-east-1":
		return "ec2.internal"
	case public:
		return region + ".compute.amazonaws.com"
	}
	return region + ".compute.internal"
}

// instanceKeyProblem checks every encrypted volume of an instance for principal p.
func (c *Cloud) instanceKeyProblem(use *kmsUse, p policy.Principal, userID string, inst *Instance) *KeyUseProblem {
	r := c.region(inst.Owner, inst.Region)
	for _, dev := range sortedKeys(inst.VolumeIDs) {
		v := r.Volumes[inst.VolumeIDs[dev]]
		if v == nil || !v.Encrypted {
			continue
		}
		src := ""
		if sn := c.snapIndex[v.SnapshotID]; sn != nil && sn.Encrypted {
			src = sn.KMSKeyID
		}
		if prob := c.ebsKeyProblem(use, p, userID, inst.Region, src, inst.Region, v.KMSKeyID, true); prob != nil {
			return prob
		}
	}
	return nil
}

// launchFailure is the state reason EC2 gives when it cannot use a key. EC2's
// documentation lists Client.InternalError ("A client error caused the instance
// to terminate during launch") and does not say which reason a disabled or
// pending-deletion key gives; users report Client.InvalidKMSKey.InvalidState:
// The KMS key provided is in an incorrect state, also inside Auto Scaling's
// "Termination Reason" (for example hashicorp/terraform-provider-aws#39904), so
// the sandbox answers that for a key in the wrong state and
// Client.InternalError: Client error on launch for a key EC2 may not use.
//
// A key disabled after its volumes were attached changes nothing for a running
// instance (the KMS Developer Guide: EBS keeps the data key of an attached
// volume in memory); the next StartInstances or launch fails as above.
func launchFailure(prob *KeyUseProblem) (code, message string) {
	if prob.State != "" && prob.State != "not found" {
		return keyStateFailCode, keyStateFailMsg
	}
	return launchFailCode, launchFailMessage
}

func (s *Server) ec2RunInstances(c *call) (map[string]any, error) {
	acct := c.caller.Account
	r := c.c.region(acct, c.region)
	token := wire.Str(c.in, "ClientToken")
	if len(token) > 64 {
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. Client tokens must be at most 64 ASCII characters.", token)
	}
	if token != "" {
		// Idempotency: the same token returns the same reservation. (AWS also
		// compares the other parameters; the sandbox does not.)
		var same []*Instance
		for _, id := range sortedKeys(r.Instances) {
			if in := r.Instances[id]; in.ClientToken == token && in.GroupName == "" {
				same = append(same, in)
			}
		}
		if len(same) > 0 {
			return c.c.reservationOut(same), nil
		}
	}
	if err := checkTagSpecs(c.in, "instance", "volume", "network-interface", "spot-instances-request", "elastic-gpu"); err != nil {
		return nil, err
	}
	params := deepCopyMap(c.in)
	spec := launchSpec{account: acct, region: c.region, minCount: wire.Int(c.in, "MinCount"), maxCount: wire.Int(c.in, "MaxCount"),
		launchedBy: c.caller.ARN, clientToken: token}
	if lts := wire.Struct(c.in, "LaunchTemplate"); lts != nil {
		lt, v, err := c.c.findLaunchTemplateVersion(acct, c.region, wire.Str(lts, "LaunchTemplateId"), wire.Str(lts, "LaunchTemplateName"), wire.Str(lts, "Version"))
		if err != nil {
			return nil, err
		}
		params = mergeLaunchParams(v.Data, c.in)
		spec.ltID, spec.ltVersion = lt.ID, fmt.Sprint(v.Number)
	}
	spec.params = params
	insts, err := c.c.launchInstances(spec, c.now)
	if err != nil {
		return nil, err
	}
	p, use := c.caller.principal(), c.ec2Use()
	for _, inst := range insts {
		if inst.FailCode == "" {
			if prob := c.c.instanceKeyProblem(use, p, c.caller.UserID, inst); prob != nil {
				inst.FailCode, inst.FailMessage = launchFailure(prob)
			}
		}
		inst.Next, inst.DueAt = "running", c.now.Add(c.c.cfg.InstanceDuration)
	}
	return c.c.reservationOut(insts), nil
}

func (c *Cloud) reservationOut(insts []*Instance) map[string]any {
	list := make([]any, 0, len(insts))
	for _, in := range insts {
		list = append(list, c.instanceOut(in))
	}
	out := map[string]any{"ReservationId": insts[0].ReservationID, "OwnerId": insts[0].Owner, "Groups": []any{}, "Instances": list}
	return out
}

func instanceStateOut(state string) map[string]any {
	return map[string]any{"Code": instanceStateCodes[state], "Name": state}
}

func (c *Cloud) instanceOut(in *Instance) map[string]any {
	r := c.region(in.Owner, in.Region)
	out := map[string]any{
		"InstanceId": in.ID, "ImageId": in.ImageID, "InstanceType": in.InstanceType, "State": instanceStateOut(in.State),
		"LaunchTime": in.Launched, "AmiLaunchIndex": in.LaunchIndex, "Architecture": in.Architecture,
		"Placement":      map[string]any{"AvailabilityZone": in.Zone, "Tenancy": "default", "GroupName": ""},
		"RootDeviceName": in.RootDeviceName, "RootDeviceType": in.rootDeviceType(), "Hypervisor": "xen", "VirtualizationType": "hvm",
		"EbsOptimized": false, "EnaSupport": true, "SourceDestCheck": true, "Monitoring": map[string]any{"State": "disabled"},
		"PlatformDetails": "Linux/UNIX", "UsageOperation": "RunInstances", "StateTransitionReason": in.TransitionReason,
		"ProductCodes": []any{},
	}
	if in.Architecture == "" {
		out["Architecture"] = "x86_64"
	}
	if in.ClientToken != "" {
		out["ClientToken"] = in.ClientToken
	}
	if in.KeyName != "" {
		out["KeyName"] = in.KeyName
	}
	if in.State != "terminated" {
		out["SubnetId"], out["VpcId"] = in.SubnetID, in.VPCID
		out["PrivateIpAddress"] = in.PrivateIP
		out["PrivateDnsName"] = "ip-" + strings.ReplaceAll(in.PrivateIP, ".", "-") + "." + dnsSuffix(in.Region, false)
		var sgs []any
		for _, id := range in.SecurityGroupIDs {
			name := ""
			if g := r.SecurityGroups[id]; g != nil {
				name = g.Name
			}
			sgs = append(sgs, map[string]any{"GroupId": id, "GroupName": name})
		}
		out["SecurityGroups"] = orEmpty(sgs)
	} else {
		out["PrivateDnsName"] = ""
		out["SecurityGroups"] = []any{}
	}
	if in.PublicIP != "" && (in.State == "pending" || in.State == "running" || in.State == "stopping" || in.State == "shutting-down") {
		out["PublicIpAddress"] = in.PublicIP
		out["PublicDnsName"] = "ec2-" + strings.ReplaceAll(in.PublicIP, ".", "-") + "." + dnsSuffix(in.Region, true)
	} else {
		out["PublicDnsName"] = ""
	}
	var bdms []any
	for _, dev := range sortedKeys(in.VolumeIDs) {
		v := r.Volumes[in.VolumeIDs[dev]]
		if v == nil {
			continue
		}
		bdms = append(bdms, map[string]any{"DeviceName": dev, "Ebs": map[string]any{
			"VolumeId": v.ID, "Status": "attached", "AttachTime": v.AttachTime, "DeleteOnTermination": v.DeleteOnTermination,
		}})
	}
	out["BlockDeviceMappings"] = orEmpty(bdms)
	if in.StateReasonCode != "" && in.State != "pending" && in.State != "running" {
		out["StateReason"] = map[string]any{"Code": in.StateReasonCode, "Message": in.StateReason}
	}
	if in.IamInstanceProfile != "" {
		out["IamInstanceProfile"] = map[string]any{"Arn": in.IamInstanceProfile, "Id": "AIPA" + strings.ToUpper(stableID("aipa", in.IamInstanceProfile)[6:])}
	}
	if len(in.Tags) > 0 {
		out["Tags"] = tagList(in.Tags)
	}
	return out
}

// rootDeviceType is the instance's RootDeviceType: its image's.
func (in *Instance) rootDeviceType() string {
	if in.RootDeviceType == "" {
		return "ebs"
	}
	return in.RootDeviceType
}

// ownInstances resolves instance ids of the caller (InvalidInstanceID.* errors).
func (c *Cloud) ownInstances(account, region string, ids []string) ([]*Instance, error) {
	if len(ids) == 0 {
		return nil, apiErr("MissingParameter", "The request must contain the parameter InstanceId")
	}
	r := c.region(account, region)
	var out []*Instance
	var missing []string
	for _, id := range ids {
		if !instanceIDRE.MatchString(id) {
			return nil, apiErr("InvalidInstanceID.Malformed", "Invalid id: \"%s\"", id)
		}
		in := r.Instances[id]
		if in == nil {
			missing = append(missing, id)
			continue
		}
		out = append(out, in)
	}
	if len(missing) == 1 {
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	}
	if len(missing) > 1 {
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
	}
	return out, nil
}

func instanceAttr(c *Cloud, in *Instance, name string) ([]string, bool) {
	switch name {
	case "instance-id":
		return []string{in.ID}, true
	case "instance-state-name":
		return []string{in.State}, true
	case "instance-state-code":
		return []string{fmt.Sprint(instanceStateCodes[in.State])}, true
	case "image-id":
		return []string{in.ImageID}, true
	case "instance-type":
		return []string{in.InstanceType}, true
	case "subnet-id", "network-interface.subnet-id":
		return []string{in.SubnetID}, true
	case "vpc-id", "network-interface.vpc-id":
		return []string{in.VPCID}, true
	case "availability-zone":
		return []string{in.Zone}, true
	case "key-name":
		return []string{in.KeyName}, true
	case "reservation-id":
		return []string{in.ReservationID}, true
	case "private-ip-address":
		return []string{in.PrivateIP}, true
	case "ip-address":
		return []string{in.PublicIP}, true
	case "architecture":
		return []string{in.Architecture}, true
	case "owner-id":
		return []string{in.Owner}, true
	case "client-token":
		return []string{in.ClientToken}, true
	case "root-device-type":
		return []string{in.rootDeviceType()}, true
	case "root-device-name":
		return []string{in.RootDeviceName}, true
	case "iam-instance-profile.arn":
		return []string{in.IamInstanceProfile}, true
	case "instance.group-id", "group-id", "network-interface.group-id":
		return in.SecurityGroupIDs, true
	case "instance.group-name", "group-name", "network-interface.group-name":
		r := c.region(in.Owner, in.Region)
		var names []string
		for _, id := range in.SecurityGroupIDs {
			if g := r.SecurityGroups[id]; g != nil {
				names = append(names, g.Name)
			}
		}
		return names, true
	case "block-device-mapping.volume-id":
		var ids []string
		for _, dev := range sortedKeys(in.VolumeIDs) {
			ids = append(ids, in.VolumeIDs[dev])
		}
		return ids, true
	case "block-device-mapping.device-name":
		return sortedKeys(in.VolumeIDs), true
	case "state-reason-code":
		return []string{in.StateReasonCode}, true
	case "launch-time":
		return []string{in.Launched.UTC().Format("2006-01-02T15:04:05.000Z")}, true
	}
	return tagAttr(in.Tags, name)
}

// sortedInstances lists an account's instances in a region by launch time, then id.
func (c *Cloud) sortedInstances(account, region string) []*Instance {
	r := c.region(account, region)
	out := make([]*Instance, 0, len(r.Instances))
	for _, in := range r.Instances {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Launched.Equal(out[j].Launched) {
			return out[i].Launched.Before(out[j].Launched)
		}
		if out[i].ReservationID != out[j].ReservationID {
			return out[i].ReservationID < out[j].ReservationID
		}
		return out[i].LaunchIndex < out[j].LaunchIndex
	})
	return out
}

func (s *Server) ec2DescribeInstances(c *call) (map[string]any, error) {
	ids := wire.Strs(c.in, "InstanceIds")
	if len(ids) > 0 && wire.Has(c.in, "MaxResults") {
		return nil, apiErr("InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	}
	if n, ok := wire.IntOK(c.in, "MaxResults"); ok && (n < 5 || n > 1000) {
		return nil, apiErr("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value greater than 5.", n)
	}
	var candidates []*Instance
	if len(ids) > 0 {
		insts, err := c.c.ownInstances(c.caller.Account, c.region, ids)
		if err != nil {
			return nil, err
		}
		candidates = insts
		sort.SliceStable(candidates, func(i, j int) bool { return candidates[i].Launched.Before(candidates[j].Launched) })
	} else {
		candidates = c.c.sortedInstances(c.caller.Account, c.region)
	}
	filters := parseFilters(c.in)
	var matched []any
	for _, in := range candidates {
		ok, err := matchFilters(filters, func(name string) ([]string, bool) { return instanceAttr(c.c, in, name) })
		if err != nil {
			return nil, err
		}
		if ok {
			matched = append(matched, in)
		}
	}
	page, next, err := pageEC2(c, matched, 1000)
	if err != nil {
		return nil, err
	}
	var reservations []any
	var cur map[string]any
	for _, v := range page {
		in := v.(*Instance)
		if cur == nil || cur["ReservationId"] != in.ReservationID {
			cur = map[string]any{"ReservationId": in.ReservationID, "OwnerId": in.Owner, "Groups": []any{}, "Instances": []any{}}
			reservations = append(reservations, cur)
		}
		cur["Instances"] = append(cur["Instances"].([]any), c.c.instanceOut(in))
	}
	out := map[string]any{"Reservations": reservations}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

// ec2DescribeInstanceStatus reports running instances (all with
// IncludeAllInstances). A running instance passes its status checks at once;
// AWS shows "initializing" for a few minutes first, which the sandbox skips.
func (s *Server) ec2DescribeInstanceStatus(c *call) (map[string]any, error) {
	ids := wire.Strs(c.in, "InstanceIds")
	all := wire.Bool(c.in, "IncludeAllInstances")
	var candidates []*Instance
	if len(ids) > 0 {
		insts, err := c.c.ownInstances(c.caller.Account, c.region, ids)
		if err != nil {
			return nil, err
		}
		candidates = insts
	} else {
		candidates = c.c.sortedInstances(c.caller.Account, c.region)
	}
	filters := parseFilters(c.in)
	var items []any
	for _, in := range candidates {
		if !all && in.State != "running" {
			continue
		}
		status := "not-applicable"
		detail := map[string]any{}
		if in.State == "running" {
			status = "ok"
			detail = map[string]any{"Name": "reachability", "Status": "passed"}
		}
		ok, err := matchFilters(filters, func(name string) ([]string, bool) {
			switch name {
			case "instance-state-name":
				return []string{in.State}, true
			case "instance-state-code":
				return []string{fmt.Sprint(instanceStateCodes[in.State])}, true
			case "availability-zone":
				return []string{in.Zone}, true
			case "instance-status.status", "system-status.status":
				return []string{status}, true
			case "instance-status.reachability", "system-status.reachability":
				return []string{wire.Str(detail, "Status")}, true
			}
			return nil, false
		})
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		summary := func() map[string]any {
			m := map[string]any{"Status": status}
			if len(detail) > 0 {
				m["Details"] = []any{detail}
			}
			return m
		}
		items = append(items, map[string]any{
			"InstanceId": in.ID, "AvailabilityZone": in.Zone, "InstanceState": instanceStateOut(in.State),
			"InstanceStatus": summary(), "SystemStatus": summary(), "AttachedEbsStatus": summary(), "Events": []any{},
		})
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"InstanceStatuses": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func userInitiated(now time.Time) string {
	return "User initiated (" + now.UTC().Format("2006-01-02 15:04:05") + " GMT)"
}

func stateChange(in *Instance, prev string) map[string]any {
	return map[string]any{"InstanceId": in.ID, "PreviousState": instanceStateOut(prev), "CurrentState": instanceStateOut(in.State)}
}

func (s *Server) ec2StopInstances(c *call) (map[string]any, error) {
	insts, err := c.c.ownInstances(c.caller.Account, c.region, wire.Strs(c.in, "InstanceIds"))
	if err != nil {
		return nil, err
	}
	for _, in := range insts {
		switch in.State {
		case "running", "stopping", "stopped":
		default:
			return nil, apiErr("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be stopped.", in.ID)
		}
	}
	var changes []any
	for _, in := range insts {
		prev := in.State
		if in.State == "running" {
			c.c.beginStop(in, c.now)
		}
		changes = append(changes, stateChange(in, prev))
	}
	c.c.markDirty()
	return map[string]any{"StoppingInstances": changes}, nil
}

func (c *Cloud) beginStop(in *Instance, now time.Time) {
	in.State, in.Next, in.DueAt = "stopping", "stopped", now.Add(c.cfg.InstanceDuration)
	in.TransitionReason = userInitiated(now)
	in.StateReasonCode, in.StateReason = userShutdownCode, userShutdownMsg
}

// ec2StartInstances starts stopped instances. EC2 asks KMS again, for the
// caller, for every encrypted volume: without kms:CreateGrant (and the data key
// actions) the instance goes pending and then back to stopped (seed 002, F4).
func (s *Server) ec2StartInstances(c *call) (map[string]any, error) {
	insts, err := c.c.ownInstances(c.caller.Account, c.region, wire.Strs(c.in, "InstanceIds"))
	if err != nil {
		return nil, err
	}
	for _, in := range insts {
		switch in.State {
		case "stopped", "pending", "running":
		default:
			return nil, apiErr("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be started.", in.ID)
		}
	}
	p, use := c.caller.principal(), c.ec2Use()
	var changes []any
	for _, in := range insts {
		prev := in.State
		if in.State == "stopped" {
			in.State, in.Next, in.DueAt = "pending", "running", c.now.Add(c.c.cfg.InstanceDuration)
			in.StateReasonCode, in.StateReason, in.TransitionReason = "", "", ""
			in.FailCode, in.FailMessage = "", ""
			if sn := c.c.region(in.Owner, in.Region).Subnets[in.SubnetID]; sn != nil && sn.IsDefault {
				in.PublicIP = publicIPFor(in.ID + "/" + c.now.String())
			}
			if prob := c.c.instanceKeyProblem(use, p, c.caller.UserID, in); prob != nil {
				in.Next = "stopped"
				in.FailCode, in.FailMessage = launchFailure(prob)
			}
		}
		changes = append(changes, stateChange(in, prev))
	}
	c.c.markDirty()
	return map[string]any{"StartingInstances": changes}, nil
}

func (s *Server) ec2TerminateInstances(c *call) (map[string]any, error) {
	insts, err := c.c.ownInstances(c.caller.Account, c.region, wire.Strs(c.in, "InstanceIds"))
	if err != nil {
		return nil, err
	}
	var changes []any
	for _, in := range insts {
		prev := in.State
		c.c.beginTerminate(in, c.now)
		changes = append(changes, stateChange(in, prev))
	}
	c.c.markDirty()
	return map[string]any{"TerminatingInstances": changes}, nil
}

// beginTerminate moves an instance to shutting-down (no-op once terminating).
func (c *Cloud) beginTerminate(in *Instance, now time.Time) {
	if in.State == "terminated" || in.State == "shutting-down" {
		return
	}
	in.State, in.Next, in.DueAt = "shutting-down", "terminated", now.Add(c.cfg.InstanceDuration)
	in.FailCode, in.FailMessage = "", ""
	in.TransitionReason = userInitiated(now)
	in.StateReasonCode, in.StateReason = userShutdownCode, userShutdownMsg
}

func (s *Server) ec2ModifyInstanceAttribute(c *call) (map[string]any, error) {
	insts, err := c.c.ownInstances(c.caller.Account, c.region, []string{wire.Str(c.in, "InstanceId")})
	if err != nil {
		return nil, err
	}
	in := insts[0]
	if in.State == "terminated" {
		return nil, apiErr("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be modified.", in.ID)
	}
	r := c.c.region(in.Owner, in.Region)
	newType := wire.Str(wire.Struct(c.in, "InstanceType"), "Value")
	if wire.Str(c.in, "Attribute") == "instanceType" {
		newType = wire.Str(c.in, "Value")
	}
	if newType != "" {
		if in.State != "stopped" {
			return nil, apiErr("IncorrectInstanceState", "The instance '%s' is not in the 'stopped' state.", in.ID)
		}
		if lookupInstanceType(newType) == nil {
			// "If the instance type is not valid, the error returned is
			// InvalidInstanceAttributeValue" (ModifyInstanceAttribute); the
			// wording is the sandbox's. Whether EC2 also checks the new type
			// against the image's architecture here is not documented; the
			// sandbox does not.
			return nil, apiErr("InvalidInstanceAttributeValue", "Invalid value '%s' for InstanceType.", newType)
		}
		in.InstanceType = newType
	}
	if groups := wire.Strs(c.in, "Groups"); len(groups) > 0 {
		for _, id := range groups {
			if g := r.SecurityGroups[id]; g == nil || g.VPCID != in.VPCID {
				return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in VPC '%s'", id, in.VPCID)
			}
		}
		in.SecurityGroupIDs = append([]string(nil), groups...)
	}
	for _, m := range wire.Structs(c.in, "BlockDeviceMappings") {
		dev := wire.Str(m, "DeviceName")
		id, ok := in.VolumeIDs[dev]
		if !ok {
			return nil, apiErr("InvalidInstanceAttributeValue", "No device is currently mapped at %s", dev)
		}
		if v, ok := wire.BoolOK(wire.Struct(m, "Ebs"), "DeleteOnTermination"); ok && r.Volumes[id] != nil {
			r.Volumes[id].DeleteOnTermination = v
		}
	}
	// Other attributes (EnaSupport, SriovNetSupport, SourceDestCheck, UserData,
	// ...) are accepted and not recorded.
	c.c.markDirty()
	return nil, nil
}

// advanceInstance completes an instance's transition whose time has come and
// forgets it an hour after it terminated (see due.go).
func (c *Cloud) advanceInstance(r *Region, in *Instance, now time.Time) {
	if in.Next != "" && !in.DueAt.IsZero() && !now.Before(in.DueAt) {
		c.completeTransition(r, in, in.DueAt)
	}
	if in.State == "terminated" && !in.EndedAt.IsZero() && now.Sub(in.EndedAt) >= terminatedLifetime {
		delete(r.Instances, in.ID)
		c.markDirty()
	}
}

func (c *Cloud) completeTransition(r *Region, in *Instance, at time.Time) {
	next := in.Next
	in.Next, in.DueAt = "", time.Time{}
	switch next {
	case "running":
		if in.FailCode != "" {
			c.failLaunch(r, in, at, in.FailCode, in.FailMessage)
		} else {
			in.State = "running"
			in.StateReasonCode, in.StateReason = "", ""
		}
	case "stopped":
		in.State = "stopped"
		in.PublicIP = ""
		if in.FailCode != "" {
			in.StateReasonCode, in.StateReason = in.FailCode, in.FailMessage
			in.TransitionReason = ""
			in.FailCode, in.FailMessage = "", ""
		}
	case "terminated":
		c.finishTermination(r, in, at)
	}
	c.markDirty()
}

// failLaunch ends an instance EC2 could not launch: terminated with the state
// reason, and the volumes it was to get never exist.
func (c *Cloud) failLaunch(r *Region, in *Instance, at time.Time, code, msg string) {
	in.State, in.StateReasonCode, in.StateReason = "terminated", code, msg
	in.FailCode, in.FailMessage, in.PublicIP = "", "", ""
	in.Next, in.DueAt = "", time.Time{}
	in.EndedAt = at
	for _, id := range in.VolumeIDs {
		delete(r.Volumes, id)
	}
	in.VolumeIDs = nil
	c.markDirty()
}

// finishTermination ends a terminating instance: volumes marked
// DeleteOnTermination go, the others are detached.
func (c *Cloud) finishTermination(r *Region, in *Instance, at time.Time) {
	in.State, in.PublicIP, in.EndedAt = "terminated", "", at
	in.Next, in.DueAt = "", time.Time{}
	for _, id := range in.VolumeIDs {
		v := r.Volumes[id]
		if v == nil {
			continue
		}
		if v.DeleteOnTermination {
			delete(r.Volumes, id)
		} else {
			v.State, v.InstanceID, v.Device, v.AttachTime = "available", "", "", time.Time{}
		}
	}
	in.VolumeIDs = nil
	c.markDirty()
}

// ---- volumes ----

func volumeOut(v *Volume) map[string]any {
	out := map[string]any{
		"VolumeId": v.ID, "Size": v.Size, "SnapshotId": v.SnapshotID, "AvailabilityZone": v.Zone, "State": v.State,
		"CreateTime": v.Created, "Encrypted": v.Encrypted, "VolumeType": v.VolumeType, "MultiAttachEnabled": false,
		"Attachments": []any{},
	}
	if v.VolumeType == "" {
		out["VolumeType"] = "gp2"
	}
	switch out["VolumeType"] {
	case "gp3":
		out["Iops"], out["Throughput"] = int64(3000), int64(125)
	case "gp2":
		iops := 3 * v.Size
		if iops < 100 {
			iops = 100
		}
		out["Iops"] = iops
	}
	if v.Encrypted {
		out["KmsKeyId"] = v.KMSKeyID
	}
	if v.InstanceID != "" {
		out["Attachments"] = []any{map[string]any{
			"VolumeId": v.ID, "InstanceId": v.InstanceID, "Device": v.Device, "State": "attached",
			"AttachTime": v.AttachTime, "DeleteOnTermination": v.DeleteOnTermination,
		}}
	}
	if len(v.Tags) > 0 {
		out["Tags"] = tagList(v.Tags)
	}
	return out
}

// volumeAttr answers the DescribeVolumes filters the EC2 API Reference lists.
// There is no filter on the KMS key: a caller finds the volumes under a key by
// reading KmsKeyId from the output (an unknown filter name is
// InvalidParameterValue, as in EC2).
func volumeAttr(v *Volume, name string) ([]string, bool) {
	switch name {
	case "volume-id":
		return []string{v.ID}, true
	case "attachment.instance-id":
		return []string{v.InstanceID}, true
	case "attachment.device":
		return []string{v.Device}, true
	case "attachment.status":
		if v.InstanceID != "" {
			return []string{"attached"}, true
		}
		return nil, true
	case "attachment.attach-time":
		if v.InstanceID != "" {
			return []string{v.AttachTime.UTC().Format("2006-01-02T15:04:05.000Z")}, true
		}
		return nil, true
	case "attachment.delete-on-termination":
		if v.InstanceID != "" {
			return []string{boolStr(v.DeleteOnTermination)}, true
		}
		return nil, true
	case "encrypted":
		return []string{boolStr(v.Encrypted)}, true
	case "multi-attach-enabled", "fast-restored":
		return []string{"false"}, true // neither is modelled
	case "availability-zone-id":
		for i, z := range zoneNames(v.Region) {
			if z == v.Zone {
				return []string{zoneID(v.Region, i)}, true
			}
		}
		return nil, true
	case "status":
		return []string{v.State}, true
	case "snapshot-id":
		return []string{v.SnapshotID}, true
	case "availability-zone":
		return []string{v.Zone}, true
	case "volume-type":
		return []string{v.VolumeType}, true
	case "size":
		return []string{fmt.Sprint(v.Size)}, true
	case "create-time":
		return []string{v.Created.UTC().Format("2006-01-02T15:04:05.000Z")}, true
	}
	return tagAttr(v.Tags, name)
}

func (s *Server) ec2DescribeVolumes(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	ids := wire.Strs(c.in, "VolumeIds")
	var candidates []*Volume
	if len(ids) > 0 {
		if wire.Has(c.in, "MaxResults") {
			return nil, apiErr("InvalidParameterCombination", "The parameter volumeSet cannot be used with the parameter maxResults")
		}
		for _, id := range ids {
			if !volumeIDRE.MatchString(id) {
				return nil, apiErr("InvalidVolumeID.Malformed", "Invalid id: \"%s\" (expecting \"vol-...\")", id)
			}
			v := r.Volumes[id]
			if v == nil {
				return nil, apiErr("InvalidVolume.NotFound", "The volume '%s' does not exist.", id)
			}
			candidates = append(candidates, v)
		}
	} else {
		for _, id := range sortedKeys(r.Volumes) {
			candidates = append(candidates, r.Volumes[id])
		}
	}
	filters := parseFilters(c.in)
	var items []any
	for _, v := range candidates {
		ok, err := matchFilters(filters, func(name string) ([]string, bool) { return volumeAttr(v, name) })
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, volumeOut(v))
		}
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Volumes": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}
