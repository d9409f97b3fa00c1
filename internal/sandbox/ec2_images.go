package sandbox

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

func (s *Server) registerEC2Images() {
	s.handle("ec2", "DescribeImages", s.ec2DescribeImages)
	s.handle("ec2", "CopyImage", s.ec2CopyImage)
	s.handle("ec2", "CreateImage", s.ec2CreateImage)
	s.handle("ec2", "DeregisterImage", s.ec2DeregisterImage)
	s.handle("ec2", "DisableImage", s.ec2DisableImage)
	s.handle("ec2", "EnableImage", s.ec2EnableImage)
	s.handle("ec2", "EnableImageDeregistrationProtection", s.ec2EnableImageDeregistrationProtection)
	s.handle("ec2", "DisableImageDeregistrationProtection", s.ec2DisableImageDeregistrationProtection)
	s.handle("ec2", "DescribeImageReferences", s.ec2DescribeImageReferences)
	s.handle("ec2", "ModifyImageAttribute", s.ec2ModifyImageAttribute)
	s.handle("ec2", "DescribeImageAttribute", s.ec2DescribeImageAttribute)
	s.handle("ec2", "ResetImageAttribute", s.ec2ResetImageAttribute)
	s.handle("ec2", "DescribeSnapshots", s.ec2DescribeSnapshots)
	s.handle("ec2", "ModifySnapshotAttribute", s.ec2ModifySnapshotAttribute)
	s.handle("ec2", "DescribeSnapshotAttribute", s.ec2DescribeSnapshotAttribute)
	s.handle("ec2", "ResetSnapshotAttribute", s.ec2ResetSnapshotAttribute)
	s.handle("ec2", "DeleteSnapshot", s.ec2DeleteSnapshot)
	s.handle("ec2", "GetEbsEncryptionByDefault", s.ec2GetEbsEncryptionByDefault)
	s.handle("ec2", "EnableEbsEncryptionByDefault", s.ec2SetEbsEncryptionByDefault(true))
	s.handle("ec2", "DisableEbsEncryptionByDefault", s.ec2SetEbsEncryptionByDefault(false))
	s.handle("ec2", "GetEbsDefaultKmsKeyId", s.ec2GetEbsDefaultKmsKeyId)
}

var (
	imageIDRE    = regexp.MustCompile(`^ami-[0-9a-f]{8,17}$`)
	snapshotIDRE = regexp.MustCompile(`^snap-[0-9a-f]{8,17}$`)
	amiNameRE    = regexp.MustCompile(`^[a-zA-Z0-9().\-/_ \[\]'@]{3,128}$`)
)

func imageNotFound(ids ...string) error {
	return apiErr("InvalidAMIID.NotFound", "The image id '[%s]' does not exist", strings.Join(ids, ", "))
}

// rootDeviceType is the image's RootDeviceType: ebs or instance-store.
func (im *Image) rootDeviceType() string {
	if im.RootDeviceType == "" {
		return world.RootDeviceEBS
	}
	return im.RootDeviceType
}

// isInstanceStore reports whether the image is instance store-backed.
func (im *Image) isInstanceStore() bool { return im.rootDeviceType() == world.RootDeviceInstanceStore }

// canLaunch reports whether an account may see and launch an image.
func (im *Image) canLaunch(account string) bool {
	return im.Owner == account || im.Public || slices.Contains(im.LaunchPermissions, account)
}

// canUse reports whether an account may create volumes from (or copy) a snapshot.
func (sn *Snapshot) canUse(account string) bool {
	return sn.Owner == account || sn.Public || slices.Contains(sn.CreateVolumePermissions, account)
}

// visibleImage returns an image the account may see in a region: one it owns,
// a public one, or one shared with it. Anything else does not exist for it.
func (c *Cloud) visibleImage(account, region, id string) (*Image, error) {
	if !imageIDRE.MatchString(id) {
		return nil, apiErr("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
	}
	im := c.imageIndex[id]
	if im == nil || im.Region != region || im.State == "deregistered" || !im.canLaunch(account) {
		return nil, imageNotFound(id)
	}
	return im, nil
}

// ownImage returns an image the account owns in the region.
func (c *Cloud) ownImage(account, region, id string) (*Image, error) {
	im, err := c.visibleImage(account, region, id)
	if err != nil {
		return nil, err
	}
	if im.Owner != account {
		return nil, apiErrStatus(403, "AuthFailure", "Not authorized for image:%s", id)
	}
	return im, nil
}

func (c *Cloud) ownerAlias(account string) string {
	if a := c.state.Accounts[account]; a != nil && (a.Name == "amazon" || a.Name == "aws-marketplace") {
		return a.Name
	}
	return ""
}

// ec2Time is how EC2 writes the times it reports as strings (CreationDate).
func ec2Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// imageOut renders an image as DescribeImages returns it to account viewer
// at now. EC2 does not report the KMS key of an image's block devices there;
// DescribeSnapshots does. An instance store-backed image has no EBS mapping:
// its root device is listed as the instance store volume ephemeral0 (AWS does
// not document how DescribeImages lists the root device of such an image; the
// sandbox names it with its VirtualName and no Ebs member).
func (c *Cloud) imageOut(im *Image, viewer string, now time.Time) map[string]any {
	var bdms []any
	if im.isInstanceStore() {
		bdms = append(bdms, map[string]any{"DeviceName": im.RootDeviceName, "VirtualName": "ephemeral0"})
	}
	for _, bd := range im.BlockDevices {
		bdms = append(bdms, map[string]any{
			"DeviceName": bd.DeviceName,
			"Ebs": map[string]any{
				"SnapshotId":          bd.SnapshotID,
				"VolumeSize":          bd.VolumeSize,
				"VolumeType":          bd.VolumeType,
				"Encrypted":           bd.Encrypted,
				"DeleteOnTermination": bd.DeleteOnTermination,
			},
		})
	}
	out := map[string]any{
		"ImageId":             im.ID,
		"ImageLocation":       im.Owner + "/" + im.Name,
		"State":               im.State,
		"OwnerId":             im.Owner,
		"CreationDate":        ec2Time(im.Created),
		"Public":              im.Public,
		"Architecture":        im.Architecture,
		"ImageType":           "machine",
		"Name":                im.Name,
		"RootDeviceType":      im.rootDeviceType(),
		"RootDeviceName":      im.RootDeviceName,
		"VirtualizationType":  "hvm",
		"Hypervisor":          "xen",
		"EnaSupport":          true,
		"PlatformDetails":     "Linux/UNIX",
		"UsageOperation":      "RunInstances",
		"BlockDeviceMappings": bdms,
	}
	if im.Description != "" {
		out["Description"] = im.Description
	}
	if alias := c.ownerAlias(im.Owner); alias != "" {
		out["ImageOwnerAlias"] = alias
	}
	if len(im.Tags) > 0 {
		out["Tags"] = tagList(im.Tags)
	}
	if im.StateReason != "" {
		code, msg, _ := strings.Cut(im.StateReason, ": ")
		out["StateReason"] = map[string]any{"Code": code, "Message": msg}
	}
	if im.SourceImageID != "" {
		out["SourceImageId"] = im.SourceImageID
		out["SourceImageRegion"] = im.SourceRegion
	}
	if im.SourceInstanceID != "" {
		out["SourceInstanceId"] = im.SourceInstanceID
	}
	out["DeregistrationProtection"] = im.deregistrationProtection(now)
	// AWS does not document whether other accounts see LastLaunchedTime (the
	// User Guide tells owners how to "check when your AMI was last used"); the
	// sandbox shows it to the owner only.
	if last := im.lastLaunched(now); viewer == im.Owner && !last.IsZero() {
		out["LastLaunchedTime"] = ec2Time(last)
	}
	return out
}

// launchReportDelay: "When the AMI is used to launch an instance, there is a
// 24-hour delay before that usage is reported" (Image.LastLaunchedTime).
const launchReportDelay = 24 * time.Hour

// maxRecentLaunches bounds the launches of one image waiting to be reported;
// past it the oldest waiting one is dropped (a later one is reported instead).
const maxRecentLaunches = 64

// lastLaunched is the LastLaunchedTime EC2 reports at now: the latest launch
// at least 24 hours old.
func (im *Image) lastLaunched(now time.Time) time.Time {
	last := im.LastLaunched
	for _, at := range im.RecentLaunches {
		if !at.After(now.Add(-launchReportDelay)) && at.After(last) {
			last = at
		}
	}
	return last
}

// noteLaunch records that an instance was launched from the image at at.
func (im *Image) noteLaunch(at time.Time) {
	at = at.UTC().Truncate(time.Second)
	im.LastLaunched = im.lastLaunched(at)
	keep := im.RecentLaunches[:0]
	for _, t := range im.RecentLaunches {
		if t.After(at.Add(-launchReportDelay)) {
			keep = append(keep, t)
		}
	}
	im.RecentLaunches = append(keep, at)
	if n := len(im.RecentLaunches); n > maxRecentLaunches {
		im.RecentLaunches = append([]time.Time(nil), im.RecentLaunches[n-maxRecentLaunches:]...)
	}
}

// Deregistration protection (EnableImageDeregistrationProtection,
// DisableImageDeregistrationProtection). The values of Return and of
// DescribeImages' DeregistrationProtection are those of the CLI reference's
// examples: "enabled-with-cooldown", "enabled-without-cooldown", "disabled".
// AWS does not document what DescribeImages shows while the 24-hour cooldown
// of a protection disabled "with cooldown" runs; the sandbox shows
// "disabled after <time>" (the form tools written against AWS parse), the
// time being when DeregisterImage is allowed again.
const (
	protectionWithCooldown    = "enabled-with-cooldown"
	protectionWithoutCooldown = "enabled-without-cooldown"
	protectionCooldown        = 24 * time.Hour
)

func (im *Image) deregistrationProtection(now time.Time) string {
	switch {
	case im.DeregistrationProtection != "":
		return im.DeregistrationProtection
	case now.Before(im.ProtectedUntil):
		return "disabled after " + ec2Time(im.ProtectedUntil)
	}
	return "disabled"
}

// deregistrationRefused says why DeregisterImage may not deregister the image
// now ("" when it may).
func (im *Image) deregistrationRefused(now time.Time) string {
	switch {
	case im.DeregistrationProtection != "":
		return "deregistration protection is enabled for it; disable it first (DisableImageDeregistrationProtection)"
	case now.Before(im.ProtectedUntil):
		return "its deregistration protection was disabled with a 24-hour cooldown, which ends at " + ec2Time(im.ProtectedUntil)
	}
	return ""
}

func (s *Server) ec2DescribeImages(c *call) (map[string]any, error) {
	ids := wire.Strs(c.in, "ImageIds")
	owners := wire.Strs(c.in, "Owners")
	execBy := wire.Strs(c.in, "ExecutableUsers")
	filters := parseFilters(c.in)
	if len(ids) > 0 && (wire.Str(c.in, "NextToken") != "" || wire.Int(c.in, "MaxResults") != 0) {
		return nil, apiErr("InvalidParameterCombination", "The parameter imageIdsSet cannot be used with the parameter maxResults")
	}
	me := c.caller.Account
	// "A disabled AMI does not appear in DescribeImages API calls by default"
	// (DisableImage); IncludeDisabled shows the owner's (nobody else can see
	// one: disabling removes its launch permissions). AWS does not say whether
	// naming a disabled AMI in ImageIds shows it without IncludeDisabled; the
	// sandbox shows it, as EC2 documents for deprecated AMIs ("does not appear
	// in DescribeImages API calls unless you specify its ID").
	includeDisabled := wire.Bool(c.in, "IncludeDisabled")
	var candidates []*Image
	if len(ids) > 0 {
		var missing []string
		for _, id := range ids {
			if !imageIDRE.MatchString(id) {
				return nil, apiErr("InvalidAMIID.Malformed", "Invalid id: \"%s\" (expecting \"ami-...\")", id)
			}
			im, err := c.c.visibleImage(me, c.region, id)
			if err != nil {
				missing = append(missing, id)
				continue
			}
			candidates = append(candidates, im)
		}
		if len(missing) > 0 {
			return nil, imageNotFound(missing...)
		}
	} else {
		for _, im := range c.c.imageIndex {
			if im.Region == c.region && im.State != "deregistered" && im.canLaunch(me) && (im.State != "disabled" || includeDisabled) {
				candidates = append(candidates, im)
			}
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].ID < candidates[j].ID })
	var items []any
	for _, im := range candidates {
		if len(owners) > 0 && !slices.ContainsFunc(owners, func(o string) bool {
			return o == im.Owner || (o == "self" && im.Owner == me) || (o != "" && o == c.c.ownerAlias(im.Owner))
		}) {
			continue
		}
		if len(execBy) > 0 && !slices.ContainsFunc(execBy, func(u string) bool {
			switch u {
			case "all":
				return im.Public
			case "self":
				return im.Owner != me && (im.Public || slices.Contains(im.LaunchPermissions, me))
			}
			return slices.Contains(im.LaunchPermissions, u) || im.Public
		}) {
			continue
		}
		ok, err := matchFilters(filters, func(name string) ([]string, bool) { return imageAttr(im, name) })
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, c.c.imageOut(im, me, c.now))
		}
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Images": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func imageAttr(im *Image, name string) ([]string, bool) {
	switch name {
	case "image-id":
		return []string{im.ID}, true
	case "name":
		return []string{im.Name}, true
	case "state":
		return []string{im.State}, true
	case "owner-id":
		return []string{im.Owner}, true
	case "is-public":
		return []string{boolStr(im.Public)}, true
	case "architecture":
		return []string{im.Architecture}, true
	case "description":
		return []string{im.Description}, true
	case "image-type":
		return []string{"machine"}, true
	case "root-device-type":
		return []string{im.rootDeviceType()}, true
	case "root-device-name":
		return []string{im.RootDeviceName}, true
	case "virtualization-type":
		return []string{"hvm"}, true
	case "block-device-mapping.encrypted":
		var vs []string
		for _, bd := range im.BlockDevices {
			vs = append(vs, boolStr(bd.Encrypted))
		}
		return vs, true
	case "block-device-mapping.snapshot-id":
		var vs []string
		for _, bd := range im.BlockDevices {
			vs = append(vs, bd.SnapshotID)
		}
		return vs, true
	case "source-image-id":
		return []string{im.SourceImageID}, true
	case "source-image-region":
		return []string{im.SourceRegion}, true
	case "source-instance-id":
		return []string{im.SourceInstanceID}, true
	}
	return tagAttr(im.Tags, name)
}

// copyKeyProblem says whether EBS, acting for the caller, can read every
// snapshot of the source and write the copy under the destination key.
func (c *Cloud) copyKeyProblem(use *kmsUse, cl *Caller, srcRegion, dstRegion string, src *Image, dstKey func(BlockDevice) string) *KeyUseProblem {
	for _, bd := range src.BlockDevices {
		srcKey := ""
		if bd.Encrypted {
			srcKey = bd.KMSKeyID
		}
		if prob := c.ebsKeyProblem(use, cl.principal(), cl.UserID, srcRegion, srcKey, dstRegion, dstKey(bd), false); prob != nil {
			return prob
		}
	}
	return nil
}

// ec2CopyImage copies an AMI (own, public or shared) into the caller's account in
// the request's region. Encryption: Encrypted=true with KmsKeyId (or the account's
// default EBS key); a copy of an encrypted image must be encrypted; EBS encryption
// by default encrypts every copy. The copy is pending for the world's copy
// duration, then available — or failed with a state reason when EBS could not
// use a key for the caller.
//
// Unknown in AWS's documentation, the sandbox's choice: a KmsKeyId that does not
// resolve is refused at once (InvalidParameterValue); a key that exists but is
// disabled, pending deletion, asymmetric, or that the caller may not use through
// EC2 makes the copy end `failed` with a state reason naming the problem. That
// covers a re-encrypting copy (an image under key A copied with KmsKeyId B):
// EBS must read A (DescribeKey, CreateGrant, Decrypt, ReEncryptFrom through EC2)
// and write B (DescribeKey, CreateGrant, GenerateDataKeyWithoutPlaintext,
// ReEncryptTo), so a disabled A fails the copy with
// Client.InvalidKMSKey.InvalidState. The code AWS puts in a failed copy's
// StateReason is not documented; the sandbox borrows the instance state reason
// EC2 gives for a key in the wrong state. The keys are checked when CopyImage
// is called: a key disabled while the copy is pending does not fail it (what
// AWS does then is not documented).
func (s *Server) ec2CopyImage(c *call) (map[string]any, error) {
	srcID, srcRegion, name := wire.Str(c.in, "SourceImageId"), wire.Str(c.in, "SourceRegion"), wire.Str(c.in, "Name")
	encrypted, kmsKeyID := wire.Bool(c.in, "Encrypted"), wire.Str(c.in, "KmsKeyId")
	token := wire.Str(c.in, "ClientToken")
	me, r := c.caller.Account, c.c.region(c.caller.Account, c.region)
	if len(token) > 64 {
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter clientToken is invalid. Client tokens must be at most 64 ASCII characters.", token)
	}
	if !c.c.knownRegion(srcRegion) {
		return nil, apiErr("InvalidParameterValue", "Invalid value '%s' for SourceRegion (this sandbox's regions: %s)", srcRegion, strings.Join(c.c.state.Regions, ", "))
	}
	if kmsKeyID != "" && !encrypted {
		return nil, apiErr("InvalidParameterDependency", "The parameter KmsKeyId requires the parameter Encrypted to be set.")
	}
	params := fmt.Sprintf("%s|%s|%s|%v|%s|%s", srcID, srcRegion, name, encrypted, kmsKeyID, wire.Str(c.in, "Description"))
	if token != "" {
		if prev, ok := r.CopyTokens[token]; ok {
			if prev.Params != params {
				return nil, apiErr("IdempotentParameterMismatch", "The client token '%s' was already used with different parameters.", token)
			}
			return map[string]any{"ImageId": prev.ImageID}, nil
		}
	}
	if !amiNameRE.MatchString(name) {
		return nil, apiErr("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/', '_', ' ', '[', ']', ''' and '@' (got %q)", name)
	}
	src, err := c.c.visibleImage(me, srcRegion, srcID)
	if err != nil {
		return nil, err
	}
	if src.State != "available" {
		// A disabled AMI cannot be used (DisableImage); AWS does not document the
		// error CopyImage gives for one, the sandbox answers as for any image
		// that is not available.
		return nil, apiErr("IncorrectState", "Image %s is not in the available state (it is %s).", srcID, src.State)
	}
	if src.isInstanceStore() && encrypted {
		// CopyImage's encryption applies to "the snapshots of the copied image"
		// (Encrypted) and the User Guide documents it as "encryption with
		// EBS-backed AMIs"; an instance store-backed AMI has no snapshot to
		// encrypt. AWS does not document the error for Encrypted=true on one;
		// the sandbox refuses it with InvalidParameterCombination.
		return nil, apiErr("InvalidParameterCombination", "Image %s is an instance store-backed AMI: it has no EBS snapshots to encrypt, so it cannot be copied with Encrypted set. Copy an EBS-backed AMI instead.", srcID)
	}
	if err := checkTagSpecs(c.in, "image", "snapshot"); err != nil {
		return nil, err
	}
	if dup := c.c.imageByName(me, c.region, name); dup != nil {
		return nil, apiErr("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, dup.ID)
	}
	srcEncrypted := false
	for _, bd := range src.BlockDevices {
		sn := c.c.snapIndex[bd.SnapshotID]
		if sn == nil {
			return nil, apiErr("InvalidSnapshot.NotFound", "The snapshot '%s' backing %s does not exist", bd.SnapshotID, srcID)
		}
		if !sn.canUse(me) {
			return nil, apiErrStatus(403, "AuthFailure", "You do not have permission to access the storage of this ami (snapshot %s of %s is not shared with account %s: the owner must add a createVolumePermission)", sn.ID, srcID, me)
		}
		srcEncrypted = srcEncrypted || sn.Encrypted
	}
	if srcEncrypted && !encrypted && !r.EBSEncryptionByDefault {
		for _, bd := range src.BlockDevices {
			if bd.Encrypted {
				return nil, apiErr("InvalidRequest", "Snapshot %s is encrypted. Creating an unencrypted copy from an encrypted snapshot is not supported.", bd.SnapshotID)
			}
		}
	}
	dstKeyARN, keepSourceKeys := "", false
	if (encrypted || srcEncrypted || r.EBSEncryptionByDefault) && !src.isInstanceStore() {
		switch {
		case kmsKeyID != "":
			k, kerr := c.c.resolveKey(me, c.region, kmsKeyID)
			if kerr != nil || k.Region != c.region {
				return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter kmsKeyId is invalid. The KMS key does not exist in %s or is not visible to account %s.", kmsKeyID, c.region, me)
			}
			dstKeyARN = k.ARN
		case encrypted || r.EBSEncryptionByDefault:
			if r.EBSDefaultKMSKeyID != "" && c.c.keyIndex[r.EBSDefaultKMSKeyID] != nil {
				dstKeyARN = c.c.keyIndex[r.EBSDefaultKMSKeyID].ARN
			} else {
				dstKeyARN = c.c.ensureAWSManagedKey(me, c.region, "alias/aws/ebs").ARN
			}
		default:
			// An encrypted source copied without Encrypted (only possible in the
			// same region): every snapshot keeps its own key, as CopySnapshot does.
			keepSourceKeys = true
		}
	}
	dstKey := func(bd BlockDevice) string {
		if keepSourceKeys {
			if bd.Encrypted {
				return bd.KMSKeyID
			}
			return ""
		}
		return dstKeyARN
	}
	if n := c.c.copiesInFlight(me, c.region); n >= c.c.cfg.ConcurrentCopies {
		return nil, apiErr("ResourceLimitExceeded", "You have reached the maximum number of concurrent AMI copies (%d) to %s in account %s. Wait for some to complete.", c.c.cfg.ConcurrentCopies, c.region, me)
	}

	failure := ""
	if prob := c.c.copyKeyProblem(c.ec2Use(), c.caller, srcRegion, c.region, src, dstKey); prob != nil {
		if prob.State != "" {
			failure = "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state (" + prob.Error() + ")"
		} else {
			failure = "Client.InvalidKMSKey.AccessDenied: " + prob.Error()
		}
	} else if reason, ok := c.c.cfg.CopyFailures[srcID]; ok {
		failure = "Server.InternalError: " + reason
	}

	im := &Image{
		ID: c.c.nextID("ami"), Owner: me, Region: c.region, Name: name, Description: wire.Str(c.in, "Description"),
		State: "pending", Architecture: src.Architecture, RootDeviceName: src.RootDeviceName, RootDeviceType: src.RootDeviceType,
		Created: c.now.UTC(), AvailableAt: c.now.Add(c.c.cfg.CopyDuration), SourceImageID: srcID, SourceRegion: srcRegion,
		PendingFailure: failure,
	}
	snapTags := tagSpecs(c.in, "snapshot")
	for _, bd := range src.BlockDevices {
		sn := &Snapshot{
			ID: c.c.nextID("snap"), Owner: me, Region: c.region, VolumeSize: bd.VolumeSize,
			Encrypted: dstKey(bd) != "", KMSKeyID: dstKey(bd), State: "pending",
			Description: fmt.Sprintf("Copied for DestinationAmi %s from SourceAmi %s for SourceSnapshot %s. Task created on %s.", im.ID, srcID, bd.SnapshotID, c.now.UTC().Format("2006-01-02,15:04:05")),
			Started:     c.now.UTC(),
		}
		mergeTags(&sn.Tags, snapTags)
		r.Snapshots[sn.ID] = sn
		c.c.snapIndex[sn.ID] = sn
		nb := bd
		nb.SnapshotID, nb.Encrypted, nb.KMSKeyID = sn.ID, sn.Encrypted, sn.KMSKeyID
		im.BlockDevices = append(im.BlockDevices, nb)
	}
	if wire.Bool(c.in, "CopyImageTags") && src.Owner == me {
		mergeTags(&im.Tags, src.Tags)
	}
	mergeTags(&im.Tags, tagSpecs(c.in, "image"))
	r.Images[im.ID] = im
	c.c.imageIndex[im.ID] = im
	if token != "" {
		r.CopyTokens[token] = &CopyToken{ImageID: im.ID, Params: params}
	}
	c.c.markDirty()
	return map[string]any{"ImageId": im.ID}, nil
}

func (c *Cloud) imageByName(account, region, name string) *Image {
	r := c.region(account, region)
	for _, im := range r.Images {
		if im.Name == name && im.State != "deregistered" {
			return im
		}
	}
	return nil
}

// copiesInFlight counts the account's pending copies in a region.
func (c *Cloud) copiesInFlight(account, region string) int {
	n := 0
	for _, im := range c.region(account, region).Images {
		if im.State == "pending" && im.SourceImageID != "" && im.SourceInstanceID == "" {
			n++
		}
	}
	return n
}

// advanceImage finishes a copy or image creation whose time has come (see
// due.go).
func (c *Cloud) advanceImage(r *Region, im *Image, now time.Time) {
	if im.State != "pending" || now.Before(im.AvailableAt) {
		return
	}
	if im.PendingFailure != "" {
		im.State, im.StateReason, im.PendingFailure = "failed", im.PendingFailure, ""
		for _, bd := range im.BlockDevices {
			delete(r.Snapshots, bd.SnapshotID)
			delete(c.snapIndex, bd.SnapshotID)
		}
	} else {
		im.State = "available"
		for _, bd := range im.BlockDevices {
			if sn := r.Snapshots[bd.SnapshotID]; sn != nil {
				sn.State = "completed"
			}
		}
	}
	c.markDirty()
}

// ec2CreateImage registers an AMI from one of the caller's instances; its
// snapshots are encrypted exactly as the instance's volumes are.
func (s *Server) ec2CreateImage(c *call) (map[string]any, error) {
	me, r := c.caller.Account, c.c.region(c.caller.Account, c.region)
	id, name := wire.Str(c.in, "InstanceId"), wire.Str(c.in, "Name")
	inst := r.Instances[id]
	if inst == nil || inst.State == "terminated" {
		return nil, apiErr("InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", id)
	}
	if inst.State != "running" && inst.State != "stopped" {
		return nil, apiErr("IncorrectInstanceState", "The instance '%s' is not in a state from which it can be imaged (it is %s).", id, inst.State)
	}
	if inst.RootDeviceType == world.RootDeviceInstanceStore {
		// CreateImage "creates an EBS-backed AMI from an Amazon EBS-backed
		// instance"; AWS does not document the error for an instance
		// store-backed one. The sandbox answers InvalidParameterValue.
		return nil, apiErr("InvalidParameterValue", "The instance '%s' is instance store-backed; CreateImage creates an AMI from an EBS-backed instance only.", id)
	}
	if !amiNameRE.MatchString(name) {
		return nil, apiErr("InvalidAMIName.Malformed", "AMI names must be between 3 and 128 characters long, and may contain letters, numbers, '(', ')', '.', '-', '/', '_', ' ', '[', ']', ''' and '@' (got %q)", name)
	}
	if dup := c.c.imageByName(me, c.region, name); dup != nil {
		return nil, apiErr("InvalidAMIName.Duplicate", "AMI name %s is already in use by AMI %s", name, dup.ID)
	}
	if err := checkTagSpecs(c.in, "image", "snapshot"); err != nil {
		return nil, err
	}
	src := c.c.imageIndex[inst.ImageID]
	arch := "x86_64"
	if src != nil {
		arch = src.Architecture
	}
	im := &Image{
		ID: c.c.nextID("ami"), Owner: me, Region: c.region, Name: name, Description: wire.Str(c.in, "Description"),
		State: "pending", Architecture: arch, RootDeviceName: inst.RootDeviceName, Created: c.now.UTC(),
		AvailableAt: c.now.Add(c.c.cfg.CreateImageDuration), SourceInstanceID: id,
		// "The ID and Region of the source AMI only appear if the AMI was created
		// by using ... CreateImage ... CopyImage" (User Guide, source AMI): for
		// CreateImage, the AMI the instance was launched from.
		SourceImageID: inst.ImageID, SourceRegion: c.region,
	}
	snapTags := tagSpecs(c.in, "snapshot")
	for _, dev := range sortedKeys(inst.VolumeIDs) {
		v := r.Volumes[inst.VolumeIDs[dev]]
		if v == nil {
			continue
		}
		sn := &Snapshot{
			ID: c.c.nextID("snap"), Owner: me, Region: c.region, VolumeSize: v.Size, Encrypted: v.Encrypted, KMSKeyID: v.KMSKeyID,
			State: "pending", Description: fmt.Sprintf("Created by CreateImage(%s) for %s", id, im.ID), Started: c.now.UTC(),
		}
		mergeTags(&sn.Tags, snapTags)
		r.Snapshots[sn.ID] = sn
		c.c.snapIndex[sn.ID] = sn
		im.BlockDevices = append(im.BlockDevices, BlockDevice{DeviceName: dev, SnapshotID: sn.ID, VolumeSize: v.Size, VolumeType: "gp3", Encrypted: v.Encrypted, KMSKeyID: v.KMSKeyID, DeleteOnTermination: true})
	}
	mergeTags(&im.Tags, tagSpecs(c.in, "image"))
	r.Images[im.ID] = im
	c.c.imageIndex[im.ID] = im
	c.c.markDirty()
	return map[string]any{"ImageId": im.ID}, nil
}

// ec2DeregisterImage deregisters an image the caller owns. One under
// deregistration protection, or in the 24-hour cooldown after its protection
// was disabled, is refused; AWS does not document the error code for that,
// the sandbox answers OperationNotPermitted, EC2's code for an action a
// protection forbids (TerminateInstances with termination protection).
func (s *Server) ec2DeregisterImage(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	if why := im.deregistrationRefused(c.now); why != "" {
		return nil, apiErr("OperationNotPermitted", "The image %s can't be deregistered: %s.", im.ID, why)
	}
	r := c.c.region(im.Owner, im.Region)
	out := map[string]any{"Return": true}
	if wire.Bool(c.in, "DeleteAssociatedSnapshots") {
		// "If a snapshot is associated with multiple AMIs, it is not deleted,
		// regardless of this setting" (API Reference); the sandbox reports it
		// "skipped", the SnapshotReturnCodes value for it (AWS does not say which
		// code it uses there).
		var results []any
		for _, bd := range im.BlockDevices {
			code := "success"
			if other := c.c.imageUsingSnapshot(r, bd.SnapshotID, im.ID); other != "" {
				code = "skipped"
			} else {
				delete(r.Snapshots, bd.SnapshotID)
				delete(c.c.snapIndex, bd.SnapshotID)
			}
			results = append(results, map[string]any{"SnapshotId": bd.SnapshotID, "ReturnCode": code})
		}
		out["DeleteSnapshotResults"] = results
	}
	delete(r.Images, im.ID)
	delete(c.c.imageIndex, im.ID)
	c.c.markDirty()
	return out, nil
}

// ec2DisableImage disables an AMI the caller owns: its state becomes
// disabled, its launch permissions are removed ("If an AMI was public or
// previously shared, it is made private") and it can no longer be launched,
// copied or shared until EnableImage. The snapshots' create-volume
// permissions are left as they were (DisableImage speaks of launch
// permissions only). AWS documents no error for disabling an AMI that is
// already disabled; the sandbox answers success and changes nothing. An AMI
// that is pending or failed is refused with IncorrectState (AWS documents
// neither case).
func (s *Server) ec2DisableImage(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	switch im.State {
	case "disabled":
		return map[string]any{"Return": true}, nil
	case "available":
	default:
		return nil, apiErr("IncorrectState", "The image %s is %s; only an available image can be disabled.", im.ID, im.State)
	}
	im.State = "disabled"
	im.Public, im.LaunchPermissions = false, nil
	c.c.markDirty()
	return map[string]any{"Return": true}, nil
}

// ec2EnableImage makes a disabled AMI available again. The accounts that lost
// access when it was disabled "do not regain access automatically". Enabling
// an AMI that is not disabled succeeds and changes nothing when it is
// available (AWS does not document either case) and is IncorrectState otherwise.
func (s *Server) ec2EnableImage(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	switch im.State {
	case "available":
		return map[string]any{"Return": true}, nil
	case "disabled":
	default:
		return nil, apiErr("IncorrectState", "The image %s is %s; only a disabled image can be enabled.", im.ID, im.State)
	}
	im.State = "available"
	c.c.markDirty()
	return map[string]any{"Return": true}, nil
}

// ec2EnableImageDeregistrationProtection turns protection on, with or without
// the 24-hour cooldown; enabling it again replaces the mode and ends a
// running cooldown.
func (s *Server) ec2EnableImageDeregistrationProtection(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	im.DeregistrationProtection = protectionWithoutCooldown
	if wire.Bool(c.in, "WithCooldown") {
		im.DeregistrationProtection = protectionWithCooldown
	}
	im.ProtectedUntil = time.Time{}
	c.c.markDirty()
	return map[string]any{"Return": im.DeregistrationProtection}, nil
}

// ec2DisableImageDeregistrationProtection turns protection off. With the
// cooldown, "you won't immediately be able to deregister the AMI": for 24
// hours DeregisterImage is still refused. Disabling protection that is off
// succeeds and changes nothing (AWS does not document the case).
func (s *Server) ec2DisableImageDeregistrationProtection(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	if im.DeregistrationProtection == protectionWithCooldown {
		im.ProtectedUntil = c.now.UTC().Truncate(time.Second).Add(protectionCooldown)
	}
	if im.DeregistrationProtection != "" {
		im.DeregistrationProtection = ""
		c.c.markDirty()
	}
	return map[string]any{"Return": im.deregistrationProtection(c.now)}, nil
}

// permissionChanges reads the Add/Remove lists of a launch or create-volume
// permission modification, plus the older OperationType + UserIds/UserGroups form.
func permissionChanges(in map[string]any, structName, groupsParam string) (add, remove []string, public, unpublic bool, err error) {
	mods := wire.Struct(in, structName)
	read := func(list []any) (users []string, all bool) {
		for _, p := range list {
			m, _ := p.(map[string]any)
			if g := wire.Str(m, "Group"); g == "all" {
				all = true
			}
			if u := wire.Str(m, "UserId"); u != "" {
				users = append(users, u)
			}
		}
		return
	}
	add, public = read(wire.List(mods, "Add"))
	remove, unpublic = read(wire.List(mods, "Remove"))
	switch strings.ToLower(wire.Str(in, "OperationType")) {
	case "add":
		add = append(add, wire.Strs(in, "UserIds")...)
		public = public || slices.Contains(wire.Strs(in, groupsParam), "all")
	case "remove":
		remove = append(remove, wire.Strs(in, "UserIds")...)
		unpublic = unpublic || slices.Contains(wire.Strs(in, groupsParam), "all")
	}
	for _, u := range append(append([]string{}, add...), remove...) {
		if !accountKeyRE.MatchString(u) {
			return nil, nil, false, false, apiErr("InvalidAMIAttributeItemValue", "Invalid attribute item value \"%s\" for userId item type.", u)
		}
	}
	return add, remove, public, unpublic, nil
}

func addUnique(list []string, items ...string) []string {
	for _, it := range items {
		if !slices.Contains(list, it) {
			list = append(list, it)
		}
	}
	sort.Strings(list)
	return list
}

func removeAll(list []string, items ...string) []string {
	return slices.DeleteFunc(list, func(s string) bool { return slices.Contains(items, s) })
}

// awsManagedKeyOf reports whether a snapshot is encrypted under an AWS-managed key.
func (c *Cloud) awsManagedKeyOf(sn *Snapshot) bool {
	if !sn.Encrypted {
		return false
	}
	k := c.keyByARN(sn.KMSKeyID)
	return k != nil && k.Manager == "AWS"
}

func (s *Server) ec2ModifyImageAttribute(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	if d := wire.Struct(c.in, "Description"); d != nil {
		im.Description = wire.Str(d, "Value")
		c.c.markDirty()
		return nil, nil
	}
	if attr := wire.Str(c.in, "Attribute"); attr != "" && attr != "launchPermission" && attr != "description" {
		return nil, apiErr("InvalidParameterValue", "The sandbox models the launchPermission and description attributes of an image, not %q", attr)
	}
	add, remove, public, unpublic, err := permissionChanges(c.in, "LaunchPermission", "UserGroups")
	if err != nil {
		return nil, err
	}
	if (len(add) > 0 || public) && im.State == "disabled" {
		// "A disabled AMI can't be shared" (DisableImage); the error code is not
		// documented, the sandbox answers IncorrectState.
		return nil, apiErr("IncorrectState", "The image %s is disabled and can't be shared; enable it first (EnableImage).", im.ID)
	}
	if len(add) > 0 || public {
		for _, bd := range im.BlockDevices {
			if sn := c.c.snapIndex[bd.SnapshotID]; sn != nil && c.c.awsManagedKeyOf(sn) {
				return nil, apiErr("InvalidParameter", "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot.")
			}
		}
	}
	if public {
		for _, bd := range im.BlockDevices {
			if bd.Encrypted {
				return nil, apiErr("InvalidParameter", "Encrypted images cannot be made public.")
			}
		}
	}
	perms := removeAll(addUnique(slices.Clone(im.LaunchPermissions), add...), remove...)
	if limit := c.c.cfg.shareAccounts(); len(add) > 0 && len(perms) > limit {
		// The AMI sharing quota: "The maximum number of entities
		// (organizations, organizational units (OUs), and accounts) that an AMI
		// can be shared with in a Region", 1,000 by default (AMI quotas). AWS
		// does not document the error for going past it; the sandbox answers
		// ResourceLimitExceeded, the code and wording EC2 gives for the public
		// AMIs quota of the same table, and counts the accounts the request
		// leaves the image shared with.
		return nil, apiErr("ResourceLimitExceeded", "You have reached your quota of %d for the number of entities that an AMI can be shared with in this Region (%s would be shared with %d accounts). "+
			"Share the AMI with an organization or OU instead of separate accounts, or request an increase in your AMI sharing quota.", limit, im.ID, len(perms))
	}
	im.LaunchPermissions = perms
	if public {
		im.Public = true
	}
	if unpublic {
		im.Public = false
	}
	c.c.markDirty()
	return nil, nil
}

// ec2ResetImageAttribute resets an image's launch permission, the only
// attribute ResetImageAttribute takes, to its default: private, shared with
// no account (the group all and every account id removed).
func (s *Server) ec2ResetImageAttribute(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	if attr := wire.Str(c.in, "Attribute"); attr != "launchPermission" {
		return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter attribute is invalid. Only launchPermission can be reset.", attr)
	}
	im.Public, im.LaunchPermissions = false, nil
	c.c.markDirty()
	return nil, nil
}

func (s *Server) ec2DescribeImageAttribute(c *call) (map[string]any, error) {
	im, err := c.c.ownImage(c.caller.Account, c.region, wire.Str(c.in, "ImageId"))
	if err != nil {
		return nil, err
	}
	out := map[string]any{"ImageId": im.ID}
	switch attr := wire.Str(c.in, "Attribute"); attr {
	case "launchPermission":
		perms := []any{}
		if im.Public {
			perms = append(perms, map[string]any{"Group": "all"})
		}
		for _, u := range im.LaunchPermissions {
			perms = append(perms, map[string]any{"UserId": u})
		}
		out["LaunchPermissions"] = perms
	case "description":
		out["Description"] = map[string]any{"Value": im.Description}
	case "blockDeviceMapping":
		out["BlockDeviceMappings"] = c.c.imageOut(im, c.caller.Account, c.now)["BlockDeviceMappings"]
	default:
		return nil, apiErr("InvalidParameterValue", "The sandbox models the launchPermission, description and blockDeviceMapping attributes of an image, not %q", attr)
	}
	return out, nil
}

// visibleSnapshot returns a snapshot the account may see.
func (c *Cloud) visibleSnapshot(account, region, id string) (*Snapshot, error) {
	if !snapshotIDRE.MatchString(id) {
		return nil, apiErr("InvalidSnapshotID.Malformed", "Invalid id: \"%s\" (expecting \"snap-...\")", id)
	}
	sn := c.snapIndex[id]
	if sn == nil || sn.Region != region || !sn.canUse(account) {
		return nil, apiErr("InvalidSnapshot.NotFound", "The snapshot '%s' does not exist.", id)
	}
	return sn, nil
}

func (c *Cloud) ownSnapshot(account, region, id string) (*Snapshot, error) {
	sn, err := c.visibleSnapshot(account, region, id)
	if err != nil {
		return nil, err
	}
	if sn.Owner != account {
		return nil, apiErrStatus(403, "AuthFailure", "Not authorized for snapshot:%s", id)
	}
	return sn, nil
}

// snapshotVolumeID is the VolumeId EC2 reports for snapshots that were not taken
// from a volume of the caller's (copies, for one); the sandbox reports it for all.
const snapshotVolumeID = "vol-ffffffff"

func snapshotOut(sn *Snapshot) map[string]any {
	progress := "100%"
	if sn.State == "pending" {
		progress = "0%"
	}
	out := map[string]any{
		"SnapshotId": sn.ID, "OwnerId": sn.Owner, "VolumeId": snapshotVolumeID, "VolumeSize": sn.VolumeSize,
		"State": sn.State, "StartTime": sn.Started, "Progress": progress, "Encrypted": sn.Encrypted,
		"Description": sn.Description, "StorageTier": "standard",
	}
	if sn.Encrypted {
		out["KmsKeyId"] = sn.KMSKeyID
	}
	if len(sn.Tags) > 0 {
		out["Tags"] = tagList(sn.Tags)
	}
	return out
}

func (s *Server) ec2DescribeSnapshots(c *call) (map[string]any, error) {
	me := c.caller.Account
	ids := wire.Strs(c.in, "SnapshotIds")
	owners := wire.Strs(c.in, "OwnerIds")
	restorable := wire.Strs(c.in, "RestorableByUserIds")
	filters := parseFilters(c.in)
	var candidates []*Snapshot
	if len(ids) > 0 {
		for _, id := range ids {
			sn, err := c.c.visibleSnapshot(me, c.region, id)
			if err != nil {
				return nil, err
			}
			candidates = append(candidates, sn)
		}
	} else {
		for _, sn := range c.c.snapIndex {
			if sn.Region == c.region && sn.canUse(me) {
				candidates = append(candidates, sn)
			}
		}
	}
	sort.Slice(candidates, func(i, j int) bool { return candidates[i].ID < candidates[j].ID })
	var items []any
	for _, sn := range candidates {
		if len(owners) > 0 && !slices.ContainsFunc(owners, func(o string) bool {
			return o == sn.Owner || (o == "self" && sn.Owner == me) || (o != "" && o == c.c.ownerAlias(sn.Owner))
		}) {
			continue
		}
		if len(restorable) > 0 && !slices.ContainsFunc(restorable, func(u string) bool {
			if u == "self" {
				u = me
			}
			return u == "all" && sn.Public || sn.canUse(u)
		}) {
			continue
		}
		// The filters of the EC2 API Reference; like EC2, none on the KMS key.
		ok, err := matchFilters(filters, func(name string) ([]string, bool) {
			switch name {
			case "snapshot-id":
				return []string{sn.ID}, true
			case "owner-id":
				return []string{sn.Owner}, true
			case "owner-alias":
				return []string{c.c.ownerAlias(sn.Owner)}, true
			case "status":
				return []string{sn.State}, true
			case "progress":
				return []string{wire.Str(snapshotOut(sn), "Progress")}, true
			case "start-time":
				return []string{sn.Started.UTC().Format("2006-01-02T15:04:05.000Z")}, true
			case "storage-tier":
				return []string{"standard"}, true
			case "volume-id":
				return []string{snapshotVolumeID}, true
			case "encrypted":
				return []string{boolStr(sn.Encrypted)}, true
			case "volume-size":
				return []string{fmt.Sprint(sn.VolumeSize)}, true
			case "description":
				return []string{sn.Description}, true
			}
			return tagAttr(sn.Tags, name)
		})
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, snapshotOut(sn))
		}
	}
	page, next, err := pageEC2(c, items, 1000)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Snapshots": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}

func (s *Server) ec2ModifySnapshotAttribute(c *call) (map[string]any, error) {
	sn, err := c.c.ownSnapshot(c.caller.Account, c.region, wire.Str(c.in, "SnapshotId"))
	if err != nil {
		return nil, err
	}
	if attr := wire.Str(c.in, "Attribute"); attr != "" && attr != "createVolumePermission" {
		return nil, apiErr("InvalidParameterValue", "The sandbox models the createVolumePermission attribute of a snapshot, not %q", attr)
	}
	add, remove, public, unpublic, err := permissionChanges(c.in, "CreateVolumePermission", "GroupNames")
	if err != nil {
		return nil, err
	}
	if (len(add) > 0 || public) && c.c.awsManagedKeyOf(sn) {
		return nil, apiErr("InvalidParameter", "Snapshots encrypted with the AWS Managed CMK can't be shared. Specify another snapshot.")
	}
	if public && sn.Encrypted {
		return nil, apiErr("InvalidParameter", "Encrypted snapshots with EBS default key cannot be shared publicly.")
	}
	sn.CreateVolumePermissions = removeAll(addUnique(sn.CreateVolumePermissions, add...), remove...)
	if public {
		sn.Public = true
	}
	if unpublic {
		sn.Public = false
	}
	c.c.markDirty()
	return nil, nil
}

// ec2ResetSnapshotAttribute resets a snapshot's create-volume permission
// to its default: private, shared with no account. productCodes, the other
// attribute AWS names, is not modelled.
func (s *Server) ec2ResetSnapshotAttribute(c *call) (map[string]any, error) {
	sn, err := c.c.ownSnapshot(c.caller.Account, c.region, wire.Str(c.in, "SnapshotId"))
	if err != nil {
		return nil, err
	}
	if attr := wire.Str(c.in, "Attribute"); attr != "createVolumePermission" {
		return nil, apiErr("InvalidParameterValue", "The sandbox models the createVolumePermission attribute of a snapshot, not %q", attr)
	}
	sn.Public, sn.CreateVolumePermissions = false, nil
	c.c.markDirty()
	return nil, nil
}

func (s *Server) ec2DescribeSnapshotAttribute(c *call) (map[string]any, error) {
	sn, err := c.c.ownSnapshot(c.caller.Account, c.region, wire.Str(c.in, "SnapshotId"))
	if err != nil {
		return nil, err
	}
	if attr := wire.Str(c.in, "Attribute"); attr != "createVolumePermission" {
		return nil, apiErr("InvalidParameterValue", "The sandbox models the createVolumePermission attribute of a snapshot, not %q", attr)
	}
	perms := []any{}
	if sn.Public {
		perms = append(perms, map[string]any{"Group": "all"})
	}
	for _, u := range sn.CreateVolumePermissions {
		perms = append(perms, map[string]any{"UserId": u})
	}
	return map[string]any{"SnapshotId": sn.ID, "CreateVolumePermissions": perms}, nil
}

func (s *Server) ec2DeleteSnapshot(c *call) (map[string]any, error) {
	sn, err := c.c.ownSnapshot(c.caller.Account, c.region, wire.Str(c.in, "SnapshotId"))
	if err != nil {
		return nil, err
	}
	r := c.c.region(sn.Owner, sn.Region)
	if id := c.c.imageUsingSnapshot(r, sn.ID, ""); id != "" {
		return nil, apiErr("InvalidSnapshot.InUse", "The snapshot %s is currently in use by %s", sn.ID, id)
	}
	delete(r.Snapshots, sn.ID)
	delete(c.c.snapIndex, sn.ID)
	c.c.markDirty()
	return map[string]any{}, nil
}

// imageUsingSnapshot names a registered image of the region (other than
// except) whose block devices use the snapshot, or "" when none does.
func (c *Cloud) imageUsingSnapshot(r *Region, snapID, except string) string {
	for _, id := range sortedKeys(r.Images) {
		im := r.Images[id]
		if id == except || im.State == "deregistered" {
			continue
		}
		for _, bd := range im.BlockDevices {
			if bd.SnapshotID == snapID {
				return id
			}
		}
	}
	return ""
}

func (s *Server) ec2GetEbsEncryptionByDefault(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	return map[string]any{"EbsEncryptionByDefault": r.EBSEncryptionByDefault, "SseType": "sse-ebs"}, nil
}

func (s *Server) ec2SetEbsEncryptionByDefault(on bool) handler {
	return func(c *call) (map[string]any, error) {
		r := c.c.region(c.caller.Account, c.region)
		r.EBSEncryptionByDefault = on
		c.c.markDirty()
		return map[string]any{"EbsEncryptionByDefault": on}, nil
	}
}

// ec2GetEbsDefaultKmsKeyId answers with the account's default EBS key, which is
// alias/aws/ebs until the account names a customer managed key.
func (s *Server) ec2GetEbsDefaultKmsKeyId(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	if k := c.c.keyIndex[r.EBSDefaultKMSKeyID]; r.EBSDefaultKMSKeyID != "" && k != nil {
		return map[string]any{"KmsKeyId": k.ARN}, nil
	}
	return map[string]any{"KmsKeyId": "alias/aws/ebs"}, nil
}
