package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"golang.org/x/sync/errgroup"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// The preflight is PrepareTarget's checks and changes, in the run's order,
// and it is also what a plan runs: one implementation, so a plan cannot
// disagree with the run it precedes. In a run (dry false) every change is
// made and the first failure stops the target, as a diagnosis naming its
// step. In a plan (dry true) nothing is written: each change becomes an
// Action with the exact statements or call, and each predicted failure is
// noted and the plan goes on to the checks that do not depend on it.

// Outcomes of a target's plan.
const (
	PlanOK     = "ok"          // nothing to set up: the run copies, proves, publishes
	PlanChange = "will-change" // the run creates or changes something first
	PlanFail   = "will-fail"   // AWS would refuse something: see Failures
)

// TargetPlan is what a run would do in one target, and what AWS would
// refuse, found with reads only.
type TargetPlan struct {
	Account string `json:"account"`
	Name    string `json:"name,omitempty"`
	Region  string `json:"region"`
	Outcome string `json:"outcome"`
	// As is who amicrypt is in the target (sts:GetCallerIdentity).
	As string `json:"as,omitempty"`
	// KeyARN is the key the copy would be encrypted under ("" when the run
	// would create it).
	KeyARN string `json:"key_arn,omitempty"`
	// Changes are what the run would create, write, grant, share, publish
	// or retire, in the run's order.
	Changes []Action `json:"changes,omitempty"`
	// Failures are the refusals predicted, each as the run would report it.
	Failures []Diagnosis `json:"failures,omitempty"`
	// Warnings: what may slow the run or could not be checked.
	Warnings []string `json:"warnings,omitempty"`
}

// settle sets the outcome from what the plan found.
func (p *TargetPlan) settle() {
	switch {
	case len(p.Failures) > 0:
		p.Outcome = PlanFail
	case len(p.Changes) > 0:
		p.Outcome = PlanChange
	default:
		p.Outcome = PlanOK
	}
}

// preflight runs the checks in one mode.
type preflight struct {
	dry  bool
	plan *TargetPlan
}

// fail handles a check's error: nil passes. In a run it is the target's
// failure at step. In a plan a diagnosed one is noted (and nil returned:
// the plan goes on); an undiagnosed one (throttled, an answer lost) is
// returned so the activity retries.
func (p *preflight) fail(step string, err error) error {
	if err == nil {
		return nil
	}
	err = atStep(step, err)
	if !p.dry {
		return err
	}
	d, ok := DiagnosisOf(err)
	if !ok {
		return err
	}
	p.plan.Failures = append(p.plan.Failures, d)
	return nil
}

// warn notes what could not be checked; a run logs it.
func (p *preflight) warn(format string, args ...any) {
	p.plan.Warnings = append(p.plan.Warnings, fmt.Sprintf(format, args...))
}

// failed reports whether the plan has noted a failure.
func (p *preflight) failed() bool { return len(p.plan.Failures) > 0 }

// prepare is PrepareTarget (dry false) and a target's plan (dry true).
func (a *Activities) prepare(ctx context.Context, in PrepareTargetInput, dry bool) (PrepareTargetResult, *TargetPlan, error) {
	t := in.Target
	var res PrepareTargetResult
	p := &preflight{dry: dry, plan: &TargetPlan{Account: t.Account, Name: t.Name, Region: t.Region}}
	defer p.plan.settle()

	assumed, err := a.assumeTarget(ctx, AssumeTargetInput{Target: t})
	if err != nil {
		// Nothing else can be read without the role.
		return res, p.plan, p.fail(StepAssume, err)
	}
	res.AssumedARN, p.plan.As = assumed.Arn, assumed.Arn

	// The source, as this target would copy it.
	if in.Builder != nil && in.Source != nil {
		if err := p.fail(StepCopy, a.checkSourceFor(ctx, *in.Builder, *in.Source, t, assumed.Arn, p)); err != nil {
			return res, p.plan, err
		}
	}
	// The pointers the run would publish to must be amicrypt's: refused
	// before anything is created or copied.
	owner, err := a.publishOwner(ctx, t, assumed.Arn, "")
	if err := p.fail(StepPublish, err); err != nil {
		return res, p.plan, err
	}
	if dry && err == nil {
		p.plan.Changes = append(p.plan.Changes, publishActions(t, owner)...)
	}
	// What the boot proof needs: a subnet, room for one more group.
	if t.BootProof.Enabled {
		if err := p.fail(StepBootProof, a.checkProofRoom(ctx, t, p)); err != nil {
			return res, p.plan, err
		}
	}

	if dry {
		if err := a.checkCopyRoom(ctx, t, p); err != nil {
			return res, p.plan, err
		}
	}

	slr, err := a.ensureServiceLinkedRole(ctx, EnsureServiceLinkedRoleInput{Target: t, DryRun: dry})
	if err := p.fail(StepServiceLinkedRole, err); err != nil {
		return res, p.plan, err
	}
	res.SLRARN = slr.RoleARN
	if res.SLRARN == "" {
		res.SLRARN = t.ServiceLinkedRoleARN()
	}
	if slr.Planned {
		p.plan.Changes = append(p.plan.Changes, Action{Do: ActCreate, Resource: "service-linked role " + t.ServiceLinkedRoleName(),
			Evidence: "it does not exist in account " + t.Account + "; the boot proof launches through it, and the key policy names it",
			Detail:   createSLRCall(t)})
	}
	res.Key, err = a.ensureKey(ctx, EnsureKeyInput{Target: t, RunID: in.RunID, SLRARN: res.SLRARN, Pipeline: in.Pipeline, DryRun: dry})
	if err := p.fail(StepKey, err); err != nil {
		return res, p.plan, err
	}
	p.plan.KeyARN = res.Key.KeyARN
	p.plan.Changes = append(p.plan.Changes, res.Key.Actions...)
	if err == nil && len(t.LaunchPrincipals) > 0 {
		keyARN := res.Key.KeyARN
		if keyARN == "" {
			keyARN = plannedKeyARN(t)
		}
		if err := p.fail(StepKey, a.checkLaunchPrincipals(ctx, t, keyARN, res.Key.doc, res.Key.grants, p)); err != nil {
			return res, p.plan, err
		}
	}
	if dry {
		return res, p.plan, a.planRetention(ctx, in, owner, p)
	}
	return res, p.plan, nil
}

// PlanTargetsInput plans a slice of a run's targets.
type PlanTargetsInput struct {
	RunID    string     `json:"run_id"`
	Builder  Builder    `json:"builder"`
	Items    []PlanItem `json:"items"`
	Pipeline string     `json:"pipeline_role_arn,omitempty"`
}

// PlanItem is one target and the source the run would copy into it.
type PlanItem struct {
	Target Target `json:"target"`
	Source Source `json:"source"`
}

// planConcurrency is how many targets one PlanTargets reads at once, and
// PlanTargetsAtOnce how many the worker plans at once over all of them. A
// plan of 10,000 targets runs some 200 PlanTargets at once; its reads
// keep a 2-core worker busy at a few dozen targets at once, and more at
// once only hold more goroutines, buffers and connections (measured: 7,600
// goroutines and a 570 MB peak RSS without the worker's bound).
const (
	planConcurrency   = 16
	PlanTargetsAtOnce = 64
)

// PlanTargets plans each target as PrepareTarget would run it, with reads
// only (see prepare), several at once; the plans come back in input order.
func (a *Activities) PlanTargets(ctx context.Context, in PlanTargetsInput) ([]TargetPlan, error) {
	ctx, stop := a.keepAlive(ctx)
	defer stop()
	out := make([]TargetPlan, len(in.Items))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(planConcurrency)
	for i, it := range in.Items {
		g.Go(func() error {
			if a.planning != nil {
				if err := a.planning.Acquire(gctx, 1); err != nil {
					return err
				}
				defer a.planning.Release(1)
			}
			pin := PrepareTargetInput{Target: it.Target, RunID: in.RunID, Pipeline: in.Pipeline, Builder: &in.Builder, Source: &it.Source}
			_, plan, err := a.prepare(gctx, pin, true)
			if err != nil {
				return fmt.Errorf("planning %s: %w", it.Target.ID(), err)
			}
			out[i] = *plan
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// sourceFacts is what the builder account says about a source image, read
// once per source and worker a while (see memo): whether it exists, how it
// is stored, and the keys of its snapshots with their policies.
type sourceFacts struct {
	Found          bool        `json:"found"`
	Name           string      `json:"name,omitempty"`
	Architecture   string      `json:"architecture,omitempty"`
	RootDeviceType string      `json:"root_device_type,omitempty"`
	Keys           []sourceKey `json:"keys,omitempty"`
}

// sourceKey is a key a source snapshot is encrypted under.
type sourceKey struct {
	ARN      string `json:"arn"`
	Snapshot string `json:"snapshot"`
	// AWSManaged: aws/ebs, which cannot be shared (F1).
	AWSManaged bool `json:"aws_managed,omitempty"`
	// Policy is the key's policy; "" when the builder may not read it.
	Policy string `json:"policy,omitempty"`
}

// readSourceFacts reads (or remembers) the source's facts.
func (a *Activities) readSourceFacts(ctx context.Context, b Builder, src Source) (sourceFacts, error) {
	var f sourceFacts
	text, _, err := a.accounts.get("source\x00"+b.Account+"\x00"+src.Region+"\x00"+src.ImageID, func() (string, error) {
		f, err := a.describeSourceFacts(ctx, b, src)
		if err != nil {
			return "", err
		}
		out, err := json.Marshal(f)
		return string(out), err
	})
	if err != nil {
		return f, err
	}
	return f, json.Unmarshal([]byte(text), &f)
}

func (a *Activities) describeSourceFacts(ctx context.Context, b Builder, src Source) (sourceFacts, error) {
	acc := builderAccess(b, src.Region)
	w := where{Account: b.Account, Region: src.Region, Resource: "source image " + src.ImageID}
	var f sourceFacts
	im, found, err := describeSource(ctx, a.clients.EC2(acc), src, w)
	if err != nil || !found {
		return f, err
	}
	f.Found, f.Name = true, aws.ToString(im.Name)
	f.Architecture, f.RootDeviceType = string(im.Architecture), string(im.RootDeviceType)
	snaps := imageSnapshots(im)
	if len(snaps) == 0 {
		return f, nil
	}
	out, err := a.clients.EC2(acc).DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{SnapshotIds: snaps})
	if err != nil {
		return f, diagnose(err, "ec2:DescribeSnapshots", w)
	}
	kc := a.clients.KMS(acc)
	seen := map[string]bool{}
	for _, sn := range out.Snapshots {
		key := aws.ToString(sn.KmsKeyId)
		if !aws.ToBool(sn.Encrypted) || key == "" || seen[key] {
			continue
		}
		seen[key] = true
		k := sourceKey{ARN: key, Snapshot: aws.ToString(sn.SnapshotId)}
		md, err := describeKey(ctx, kc, key)
		if err == nil {
			k.ARN = aws.ToString(md.Arn)
			k.AWSManaged = md.KeyManager == kmstypes.KeyManagerTypeAws
		} else if isRetryable(err) {
			return f, err
		}
		if !k.AWSManaged {
			if pol, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(k.ARN), PolicyName: aws.String("default")}); err == nil {
				k.Policy = aws.ToString(pol.Policy)
			} else if isRetryable(err) {
				return f, err
			}
		}
		f.Keys = append(f.Keys, k)
	}
	return f, nil
}

// checkSourceFor predicts what the builder account's source means for this
// target: gone (what ShareSource reports), instance-store backed (EC2
// encrypts EBS copies only), under the AWS managed key (F1), under a
// builder key the target's role may not use through EC2 (F1: the copy
// would be refused and blamed on nothing), or of an architecture the
// boot-proof instance type cannot run.
func (a *Activities) checkSourceFor(ctx context.Context, b Builder, src Source, t Target, caller string, p *preflight) error {
	f, err := a.readSourceFacts(ctx, b, src)
	if err != nil {
		return err
	}
	if !f.Found {
		return sourceMissing(src, b)
	}
	if f.RootDeviceType == string(ec2types.DeviceTypeInstanceStore) {
		return Diagnosed(Diagnosis{
			Code:  SourceUnusable,
			Cause: fmt.Sprintf("source image %s in builder account %s, %s is instance-store backed; EC2 encrypts copies of EBS-backed images only", src.ImageID, b.Account, src.Region),
			Fix:   "Build an EBS-backed image (Packer's amazon-ebs builder) and run again with it.",
		}, nil)
	}
	for _, k := range f.Keys {
		if k.AWSManaged {
			return Diagnosed(awsManagedSourceDiagnosis(src, b.Account, k.Snapshot, k.ARN), nil)
		}
		if k.Policy == "" {
			p.warn("the policy of builder key %s (source %s) is not readable by the builder role: whether account %s may use it is not predicted", k.ARN, src.ImageID, t.Account)
			continue
		}
		if d, bad := builderKeyRefuses(k, b, src, t, caller); bad {
			return Diagnosed(d, nil)
		}
	}
	if !t.BootProof.Enabled || f.Architecture == "" {
		return nil
	}
	return a.checkArchitecture(ctx, t, src, f.Architecture, p)
}

// builderKeyUse is what EC2 asks of a source snapshot's key on behalf of
// the account copying it (the EBS encryption documentation: read the
// snapshot, re-encrypt it under the copy's key).
var builderKeyUse = []string{"kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:ReEncryptFrom"}

// assumedKMSUse stands for the target role's own IAM policy, not read: it
// allows the role's KMS use, as deploy/'s policy does.
var assumedKMSUse = &policy.Document{Version: policy.Version2012, Statements: []policy.Statement{{Effect: "Allow", Action: []string{"kms:*"}, Resource: []string{"*"}}}}

// builderKeyRefuses evaluates the builder key's policy for the target's
// role. The role's own identity policy is assumed to allow the use (the
// deploy/ policy does); what is judged is the builder key's side.
func builderKeyRefuses(k sourceKey, b Builder, src Source, t Target, caller string) (Diagnosis, bool) {
	doc, err := policy.Parse([]byte(k.Policy))
	if err != nil {
		return Diagnosis{}, false
	}
	p := policy.Principal{ARN: caller, Account: t.Account, RoleARN: t.RoleARN, IdentityPolicies: []*policy.Document{assumedKMSUse}}
	for _, act := range builderKeyUse {
		ctx := policy.ViaEC2Context(t.Region, t.Account)
		if act == "kms:CreateGrant" {
			ctx["kms:GrantIsForAWSResource"] = []string{"true"}
		}
		d := policy.EvaluateKMS(doc, b.Account, nil, policy.Request{Principal: p, Action: act, Resource: k.ARN, Context: ctx})
		if d.Allowed {
			continue
		}
		stmt := fmt.Sprintf(`{"Sid":"AllowAccount%sToCopyThroughEC2","Effect":"Allow","Principal":{"AWS":"arn:%s:iam::%s:root"},"Action":["kms:DescribeKey","kms:Decrypt","kms:ReEncrypt*","kms:CreateGrant"],"Resource":"*","Condition":{"StringEquals":{"kms:ViaService":"%s"}}}`,
			t.Account, policy.PartitionForRegion(src.Region), t.Account, policy.EC2ViaService(src.Region))
		return Diagnosis{
			Code: F1,
			Cause: fmt.Sprintf("source image %s in builder account %s, %s has snapshot %s under the builder's key %s, which account %s may not use: %s would be refused (%s)",
				src.ImageID, b.Account, src.Region, k.Snapshot, k.ARN, t.Account, act, d.Reason),
			Fix: fmt.Sprintf("Add to the policy of key %s (builder account %s) a statement letting the target accounts use it through EC2, e.g. %s — or build the source unencrypted; then run again.", k.ARN, b.Account, stmt),
		}, true
	}
	return Diagnosis{}, false
}

// checkArchitecture: the boot-proof instance type must run the image's
// architecture (an arm64 image does not boot on t3.micro).
func (a *Activities) checkArchitecture(ctx context.Context, t Target, src Source, arch string, p *preflight) error {
	it := t.BootProof.InstanceType
	if it == "" {
		return nil
	}
	// An instance type's architectures are the same for every account: asked
	// once per region (a type not offered there is an error, not remembered).
	archs, _, err := a.accounts.get("itype\x00"+t.Region+"\x00"+it, func() (string, error) {
		out, err := a.clients.EC2(targetAccess(t)).DescribeInstanceTypes(ctx, &ec2.DescribeInstanceTypesInput{InstanceTypes: []ec2types.InstanceType{ec2types.InstanceType(it)}})
		if err != nil {
			return "", err
		}
		var s []string
		for _, info := range out.InstanceTypes {
			if info.ProcessorInfo != nil {
				for _, a := range info.ProcessorInfo.SupportedArchitectures {
					s = append(s, string(a))
				}
			}
		}
		return strings.Join(s, ","), nil
	})
	if err != nil {
		if isRetryable(err) {
			return err
		}
		if code := APICode(err); strings.HasPrefix(code, "InvalidInstanceType") {
			return Diagnosed(Diagnosis{
				Code:  Architecture,
				Cause: fmt.Sprintf("the boot-proof instance type %s does not exist in %s (account %s): %s", it, t.Region, t.Account, apiMessage(err)),
				Fix:   "Set boot_proof.instance_type to a type offered in " + t.Region + " that runs " + arch + " images, then run again.",
			}, err)
		}
		p.warn("could not read instance type %s in account %s, %s (%v): the image's architecture %s is not checked against it", it, t.Account, t.Region, err, arch)
		return nil
	}
	if archs == "" || slices.Contains(strings.Split(archs, ","), arch) {
		return nil
	}
	suggest := "t3.micro"
	if arch == "arm64" {
		suggest = "t4g.micro"
	}
	return Diagnosed(Diagnosis{
		Code: Architecture,
		Cause: fmt.Sprintf("source image %s is %s, and the boot-proof instance type %s of account %s, %s runs %s only: the boot proof could not launch it",
			src.ImageID, arch, it, t.Account, t.Region, strings.ReplaceAll(archs, ",", ", ")),
		Fix: fmt.Sprintf("Set boot_proof.instance_type to a type that runs %s images (for example %s) for this target, then run again.", arch, suggest),
	}, nil)
}

// checkProofRoom: the boot proof needs a subnet (the configured ones must
// exist; without any, the region's default VPC) and one more Auto Scaling
// group than the account has.
func (a *Activities) checkProofRoom(ctx context.Context, t Target, p *preflight) error {
	ec := a.clients.EC2(targetAccess(t))
	if ids := t.BootProof.SubnetIDs; len(ids) > 0 {
		out, err := ec.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: ids})
		found := map[string]bool{}
		if err == nil {
			for _, sn := range out.Subnets {
				found[aws.ToString(sn.SubnetId)] = true
			}
		}
		var missing []string
		for _, id := range ids {
			if !found[id] {
				missing = append(missing, id)
			}
		}
		switch {
		case err != nil && APICode(err) == "InvalidSubnetID.NotFound":
			missing = ids
			if m := apiMessage(err); m != "" {
				missing = []string{strings.Join(ids, ", ") + " (" + m + ")"}
			}
		case err != nil:
			if isRetryable(err) {
				return err
			}
			p.warn("could not read the boot-proof subnets in account %s, %s (%v): not checked", t.Account, t.Region, err)
			missing = nil
		}
		if len(missing) > 0 {
			return Diagnosed(Diagnosis{
				Code:  NoSubnet,
				Cause: fmt.Sprintf("the boot-proof subnets %s do not exist in account %s, %s", strings.Join(missing, ", "), t.Account, t.Region),
				Fix:   fmt.Sprintf("Set boot_proof.subnet_ids to subnets of account %s in %s (aws ec2 describe-subnets --region %s), then run again.", t.Account, t.Region, t.Region),
			}, err)
		}
	} else {
		// A default VPC, once seen, stays for the run: asked once per account
		// and region (see memo). None is not remembered, so one created after
		// a failure is seen at once.
		_, _, err := a.accounts.get("defaultvpc\x00"+t.Account+"\x00"+t.Region+"\x00"+t.RoleARN, func() (string, error) {
			out, err := ec.DescribeAccountAttributes(ctx, &ec2.DescribeAccountAttributesInput{AttributeNames: []ec2types.AccountAttributeName{ec2types.AccountAttributeNameDefaultVpc}})
			if err != nil {
				return "", err
			}
			if !hasDefaultVPC(out) {
				return "", errNoDefaultVPC
			}
			return "yes", nil
		})
		switch {
		case err == nil:
		case isRetryable(err):
			return err
		case !errors.Is(err, errNoDefaultVPC):
			p.warn("could not read whether account %s has a default VPC in %s (%v): not checked", t.Account, t.Region, err)
		default:
			return Diagnosed(Diagnosis{
				Code:  NoSubnet,
				Cause: fmt.Sprintf("account %s has no default VPC in %s, and the target names no boot_proof.subnet_ids: the boot-proof group has nowhere to launch", t.Account, t.Region),
				Fix:   fmt.Sprintf("Set boot_proof.subnet_ids to a subnet of account %s in %s with a route to the EC2 and Auto Scaling endpoints (or create a default VPC: aws ec2 create-default-vpc --region %s), then run again.", t.Account, t.Region, t.Region),
			}, nil)
		}
	}
	lim, err := a.clients.AutoScaling(targetAccess(t)).DescribeAccountLimits(ctx, &autoscaling.DescribeAccountLimitsInput{})
	switch {
	case err != nil && isRetryable(err):
		return err
	case err != nil:
		p.warn("could not read the Auto Scaling limits of account %s, %s (%v): the group quota is not checked", t.Account, t.Region, err)
	case lim.MaxNumberOfAutoScalingGroups != nil && lim.NumberOfAutoScalingGroups != nil &&
		*lim.NumberOfAutoScalingGroups >= *lim.MaxNumberOfAutoScalingGroups:
		return Diagnosed(Diagnosis{
			Code: Quota,
			Cause: fmt.Sprintf("account %s, %s has %d Auto Scaling groups of its quota of %d: the boot-proof group could not be created",
				t.Account, t.Region, *lim.NumberOfAutoScalingGroups, *lim.MaxNumberOfAutoScalingGroups),
			Fix: fmt.Sprintf("Delete unused groups, or ask for a higher quota (Service Quotas, Auto Scaling groups per region, account %s, %s), then run again.", t.Account, t.Region),
		}, nil)
	}
	return nil
}

// ConcurrentCopyLimit is how many AMI copies EC2 lets an account have in
// flight into one region: about 100 (50 in older accounts). No API reads
// it; above it CopyImage answers ResourceLimitExceeded, which a run waits
// out (see diagnose), so a full region slows the run and fails nothing.
const ConcurrentCopyLimit = 100

// checkCopyRoom warns (a plan only: the run waits instead) when the
// target's region already has as many copies pending as EC2 runs at once.
func (a *Activities) checkCopyRoom(ctx context.Context, t Target, p *preflight) error {
	pending := 0
	pg := ec2.NewDescribeImagesPaginator(a.clients.EC2(targetAccess(t)), &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []ec2types.Filter{{Name: aws.String("state"), Values: []string{string(ec2types.ImageStatePending)}}},
	})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			if isRetryable(err) {
				return err
			}
			p.warn("could not count the AMI copies pending in account %s, %s (%v): the concurrent-copy limit is not checked", t.Account, t.Region, err)
			return nil
		}
		for _, im := range page.Images {
			if aws.ToString(im.SourceImageId) != "" { // a copy, not a CreateImage
				pending++
			}
		}
	}
	if pending+1 > ConcurrentCopyLimit {
		p.warn("account %s has %d AMI copies pending in %s, at EC2's limit of about %d concurrent copies per region: the copy will wait until some finish (ResourceLimitExceeded, retried)",
			t.Account, pending, t.Region, ConcurrentCopyLimit)
	}
	return nil
}

// errNoDefaultVPC: the region has no default VPC (not remembered).
var errNoDefaultVPC = errors.New("no default VPC")

func hasDefaultVPC(out *ec2.DescribeAccountAttributesOutput) bool {
	for _, at := range out.AccountAttributes {
		if aws.ToString(at.AttributeName) != string(ec2types.AccountAttributeNameDefaultVpc) {
			continue
		}
		for _, v := range at.AttributeValues {
			if val := aws.ToString(v.AttributeValue); val != "" && val != "none" {
				return true
			}
		}
		return false
	}
	return true // not answered: assume AWS's default, a default VPC
}

// launchKeyUse is what EC2 asks of the key on behalf of a principal that
// launches an instance from an encrypted image (seed 002): the grant for
// the volume (kms:GrantIsForAWSResource), decrypting its data key.
var launchKeyUse = []string{"kms:DescribeKey", "kms:CreateGrant", "kms:Decrypt", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom"}

// checkLaunchPrincipals is F4: each role that will launch from the copies
// must be able to use the key through EC2, its own inline policies read
// from IAM (attached managed policies are not read: a principal that has
// some and is refused by the rest is a warning, not a failure).
func (a *Activities) checkLaunchPrincipals(ctx context.Context, t Target, keyARN string, doc *policy.Document, grants []policy.Grant, p *preflight) error {
	if doc == nil {
		p.warn("the policy of key %s is not readable: the launch principals are not checked", keyARN)
		return nil
	}
	ic := a.clients.IAM(targetAccess(t))
	for _, principal := range t.LaunchPrincipals {
		name := roleName(principal)
		if accountOfARN(principal) != t.Account || name == "" {
			p.warn("launch principal %s is not a role of account %s: its own policies are not readable from here, not checked", principal, t.Account)
			continue
		}
		policies, attached, err := rolePolicies(ctx, ic, name)
		if err != nil {
			if isRetryable(err) {
				return err
			}
			if IsNotFound(err) {
				return Diagnosed(Diagnosis{Code: F4,
					Cause: fmt.Sprintf("launch principal %s does not exist in account %s", principal, t.Account),
					Fix:   "Correct launch_principals (role ARNs of the roles that launch from the images), then run again."}, err)
			}
			p.warn("could not read the policies of launch principal %s in account %s (%v): not checked", principal, t.Account, err)
			continue
		}
		pr := policy.Principal{ARN: principal, Account: t.Account, RoleARN: principal, IdentityPolicies: policies}
		for _, act := range launchKeyUse {
			rctx := policy.ViaEC2Context(t.Region, t.Account)
			if act == "kms:CreateGrant" {
				rctx["kms:GrantIsForAWSResource"] = []string{"true"}
			}
			d := policy.EvaluateKMS(doc, accountOfARN(keyARN), grants, policy.Request{Principal: pr, Action: act, Resource: keyARN, Context: rctx})
			if d.Allowed {
				continue
			}
			if attached {
				p.warn("launch principal %s may be refused %s on key %s unless a managed policy attached to it allows it (%s); managed policies are not read", principal, act, keyARN, d.Reason)
				break
			}
			return Diagnosed(Diagnosis{
				Code: F4,
				Cause: fmt.Sprintf("launch principal %s of account %s could not launch from the copies in %s: %s on key %s would be refused (%s)",
					principal, t.Account, t.Region, act, keyARN, d.Reason),
				Fix: fmt.Sprintf(`Allow %s the key's use through EC2 — in its IAM policy: {"Effect":"Allow","Action":["kms:DescribeKey","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKeyWithoutPlaintext"],"Resource":"%s"} and {"Effect":"Allow","Action":"kms:CreateGrant","Resource":"%s","Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}}} — then run again.`,
					principal, keyARN, keyARN),
			}, nil)
		}
	}
	return nil
}

// roleName is the name of a role ARN (its path dropped), "" when the ARN is
// not a role's.
func roleName(arn string) string {
	i := strings.Index(arn, ":role/")
	if i < 0 {
		return ""
	}
	rest := arn[i+len(":role/"):]
	return rest[strings.LastIndex(rest, "/")+1:]
}

// rolePolicies reads a role's inline policies, and whether managed ones are
// attached.
func rolePolicies(ctx context.Context, ic IAMAPI, name string) ([]*policy.Document, bool, error) {
	var docs []*policy.Document
	p := iam.NewListRolePoliciesPaginator(ic, &iam.ListRolePoliciesInput{RoleName: aws.String(name)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, false, err
		}
		for _, pn := range page.PolicyNames {
			got, err := ic.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: aws.String(name), PolicyName: aws.String(pn)})
			if err != nil {
				return nil, false, err
			}
			text := aws.ToString(got.PolicyDocument)
			if dec, err := url.QueryUnescape(text); err == nil {
				text = dec // IAM returns policy documents URL-encoded
			}
			if doc, err := policy.Parse([]byte(text)); err == nil {
				docs = append(docs, doc)
			}
		}
	}
	att, err := ic.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		return docs, true, nil // unknown: as if some were attached
	}
	return docs, len(att.AttachedPolicies) > 0, nil
}

// createSLRCall is the call that creates the target's service-linked role.
func createSLRCall(t Target) string {
	call := "aws iam create-service-linked-role --aws-service-name " + autoScalingService
	if t.ServiceLinkedRoleSuffix != "" {
		call += " --custom-suffix " + t.ServiceLinkedRoleSuffix
	}
	return call
}

// publishActions are the pointers a run would write: created, or moved from
// what they name now to the new copy.
func publishActions(t Target, owner publishTargets) []Action {
	var out []Action
	if name := t.Publish.SSMParameter; name != "" {
		x := Action{Do: ActCreate, Resource: "ssm:" + name, Evidence: "parameter of data type aws:ec2:image, naming the new copy"}
		if owner.parameterExists {
			x.Do, x.Evidence = ActPublish, owner.parameterValue+" → the new copy"
		}
		out = append(out, x)
	}
	if name := t.Publish.LaunchTemplate; name != "" {
		x := Action{Do: ActPublish, Resource: "launch template " + name, Evidence: orUnknown(owner.templateImage) + " → the new copy (a new default version)"}
		if owner.templateDefault == nil && owner.templateImage == "" {
			x.Do, x.Evidence = ActCreate, "launch template naming the new copy"
		}
		out = append(out, x)
	}
	return out
}

// planRetention lists what retention would retire once the new copy is
// published (it becomes the newest build), and what it would keep and why.
func (a *Activities) planRetention(ctx context.Context, in PrepareTargetInput, owner publishTargets, p *preflight) error {
	t := in.Target
	if t.Keep < 1 || p.failed() {
		return nil
	}
	var src Source
	if in.Source != nil {
		src = *in.Source
	}
	ret, err := a.applyRetention(ctx, RetentionInput{Target: t, Source: src, KeyARN: p.plan.KeyARN, DryRun: true, Incoming: true})
	if err != nil {
		if isRetryable(err) {
			return err
		}
		p.warn("could not preview retention in account %s, %s: %v", t.Account, t.Region, err)
		return nil
	}
	p.plan.Changes = append(p.plan.Changes, ret.Actions()...)
	for _, k := range ret.Kept {
		p.warn("retention keeps %s", k)
	}
	return nil
}
