package activities

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	astypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// The target's images, as resources: which of them are provably amicrypt's
// for a family (scope), what uses one (imageUsers), and their retirement in
// two steps — DisableImage first (EnableImage undoes it), deregistration
// with the snapshots only after the grace and only while still unused.

// Tags of an image's retirement and build order.
const (
	// TagSourceCreated is the source image's creation date on a copy: the
	// family's build order (a copy's own date says when it was copied).
	TagSourceCreated = "amicrypt:source-created"
	// TagDisabledAt is when amicrypt disabled the image (RFC 3339), and
	// TagDisabledReason why; an image disabled without it was disabled by
	// someone else, and amicrypt leaves it alone.
	TagDisabledAt     = "amicrypt:disabled-at"
	TagDisabledReason = "amicrypt:disabled-reason"
)

// familyImage is one of the target's images that is provably amicrypt's for
// the scope's family.
type familyImage struct {
	ID, Name  string
	State     ec2types.ImageState
	Order     string // build order: the source's creation date, else the copy's
	Proven    string // the amicrypt:proven tag: "true", "false" or ""
	Protected bool   // deregistration protection on
	Snapshots []string
	// SnapshotKeys are the snapshots' keys ("" unencrypted), in order.
	SnapshotKeys []string
	rootDevice   string
	Tags         map[string]string
}

// disabledAt is when amicrypt disabled the image (zero: not amicrypt).
func (im familyImage) disabledAt() time.Time {
	t, _ := time.Parse(time.RFC3339, im.Tags[TagDisabledAt])
	return t
}

// imageScope says which images are amicrypt's for one target and family.
type imageScope struct {
	Account, Region string
	// Family: only images of this family ("" any).
	Family string
	// Keys are the keys this target's configuration manages: every
	// snapshot of an image in scope is under one of them. OtherKey, when
	// set, judges a key not in Keys ("" when it is the configuration's
	// after all, else why not).
	Keys     map[string]bool
	OtherKey func(key string) string
}

// scopedImages lists the account's images that carry amicrypt's tags —
// disabled ones included — and keeps those the evidence says are amicrypt's
// for the scope: owned by the account; made by CopyImage (EC2's own
// SourceImageId, which no one can set) from the image its amicrypt tag
// names (the source, or for a re-encrypted image the image it was copied
// from, in the same region); of the scope's family; every snapshot under a
// key the configuration manages. Tags find the candidates; they never
// decide alone. The others come back as "ami-…: why", newest build first.
func scopedImages(ctx context.Context, ec EC2API, s imageScope) ([]familyImage, []string, error) {
	images, err := candidateImages(ctx, ec, s.Family)
	if err != nil {
		return nil, nil, err
	}
	return judgeImages(ctx, ec, s, images)
}

// candidateImages lists the account's images that carry amicrypt's tags,
// disabled ones included, of family ("" any): the candidates, on tags alone.
func candidateImages(ctx context.Context, ec EC2API, family string) ([]ec2types.Image, error) {
	var images []ec2types.Image
	p := ec2.NewDescribeImagesPaginator(ec, &ec2.DescribeImagesInput{
		Owners:          []string{"self"},
		IncludeDisabled: aws.Bool(true),
		Filters:         []ec2types.Filter{{Name: aws.String("tag-key"), Values: []string{TagSourceImage}}},
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, im := range page.Images {
			if family == "" || sameFamily(tagMap(im.Tags)[TagFamily], family) {
				images = append(images, im)
			}
		}
	}
	return images, nil
}

// judgeImages keeps the candidates the evidence shows are the scope's (see
// scopedImages).
func judgeImages(ctx context.Context, ec EC2API, s imageScope, images []ec2types.Image) ([]familyImage, []string, error) {
	var snaps []string
	for _, im := range images {
		snaps = append(snaps, imageSnapshots(im)...)
	}
	keys, err := snapshotKeys(ctx, ec, snaps)
	if err != nil {
		return nil, nil, err
	}
	var in []familyImage
	var out []string
	for _, im := range images {
		tags := tagMap(im.Tags)
		fi := familyImage{
			ID: aws.ToString(im.ImageId), Name: aws.ToString(im.Name), State: im.State,
			Order: tags[TagSourceCreated], Proven: tags[TagProven], Snapshots: imageSnapshots(im), Tags: tags,
			Protected:  strings.HasPrefix(aws.ToString(im.DeregistrationProtection), "enabled"),
			rootDevice: aws.ToString(im.RootDeviceName),
		}
		if fi.Order == "" {
			fi.Order = aws.ToString(im.CreationDate)
		}
		for _, sn := range fi.Snapshots {
			fi.SnapshotKeys = append(fi.SnapshotKeys, keys[sn])
		}
		if why := s.evidence(im, tags, keys); why != "" {
			out = append(out, fi.ID+": "+why)
			continue
		}
		in = append(in, fi)
	}
	sort.SliceStable(in, func(i, j int) bool { return in[i].Order > in[j].Order })
	sort.Strings(out)
	return in, out, nil
}

// evidence is "" when the image is provably amicrypt's for the scope, else
// why it is not.
func (s imageScope) evidence(im ec2types.Image, tags map[string]string, keys map[string]string) string {
	if owner := aws.ToString(im.OwnerId); owner != "" && owner != s.Account {
		return fmt.Sprintf("owned by account %s, not %s", owner, s.Account)
	}
	from := aws.ToString(im.SourceImageId)
	if from == "" {
		return "not made by CopyImage (EC2 records no source image): its amicrypt tags were put on another image"
	}
	switch {
	case tags[TagRekeyedFrom] != "":
		if from != tags[TagRekeyedFrom] {
			return fmt.Sprintf("EC2 says it was copied from %s, its tag says %s", from, tags[TagRekeyedFrom])
		}
		if r := aws.ToString(im.SourceImageRegion); r != "" && r != s.Region {
			return fmt.Sprintf("re-encrypted copies are made in their own region; this one was copied from %s", r)
		}
	case from != tags[TagSourceImage]:
		return fmt.Sprintf("EC2 says it was copied from %s, its tag says %s", from, tags[TagSourceImage])
	}
	if s.Keys == nil {
		return ""
	}
	for _, sn := range imageSnapshots(im) {
		k, ok := keys[sn]
		if !ok {
			return "snapshot " + sn + " cannot be read"
		}
		if !s.Keys[k] {
			if k == "" {
				return "snapshot " + sn + " is not encrypted"
			}
			why := "not a key this target's configuration manages"
			if s.OtherKey != nil {
				if why = s.OtherKey(k); why == "" {
					continue
				}
			}
			return fmt.Sprintf("snapshot %s is under key %s: %s", sn, k, why)
		}
	}
	return ""
}

// imageUsers says what uses each image, as "instance i-…", "launch template
// NAME version N", "parameter NAME", "Auto Scaling group NAME (…)",
// "deregistration protection": EC2's own reference check
// (DescribeImageReferences: instances, SSM parameters, Image Builder
// recipes), every version of every launch template (read here, so no
// version escapes the reference check's depth), and the Auto Scaling
// groups, by launch configuration or by launch template version. A version
// amicrypt itself made of the launch template it publishes to is not a use
// by itself (every build adds one; the default version is repointed, never
// kept on an old image), unless it is the template's default or latest
// version or a group launches from it. caller is amicrypt's identity in the
// target. Images nothing uses are absent.
func (a *Activities) imageUsers(ctx context.Context, t Target, caller string, images []familyImage) (map[string][]string, error) {
	users := map[string][]string{}
	if len(images) == 0 {
		return users, nil
	}
	acc := targetAccess(t)
	ec := a.clients.EC2(acc)
	want := map[string]bool{}
	var ids []string
	for _, im := range images {
		want[im.ID] = true
		ids = append(ids, im.ID)
		if im.Protected {
			users[im.ID] = append(users[im.ID], "deregistration protection")
		}
	}
	add := func(id, what string) {
		for _, u := range users[id] {
			if u == what {
				return
			}
		}
		users[id] = append(users[id], what)
	}
	for len(ids) > 0 {
		n := min(len(ids), 10) // DescribeImageReferences takes 10 images at a time
		p := ec2.NewDescribeImageReferencesPaginator(ec, &ec2.DescribeImageReferencesInput{ImageIds: ids[:n], ResourceTypes: []ec2types.ResourceTypeRequest{
			// A terminated instance uses nothing.
			{ResourceType: ec2types.ImageReferenceResourceTypeEc2Instance, ResourceTypeOptions: []ec2types.ResourceTypeOption{
				{OptionName: ec2types.ImageReferenceOptionNameStateName, OptionValues: []string{"pending", "running", "shutting-down", "stopping", "stopped"}},
			}},
			{ResourceType: ec2types.ImageReferenceResourceTypeSsmParameter},
			{ResourceType: ec2types.ImageReferenceResourceTypeImageBuilderImageRecipe},
			{ResourceType: ec2types.ImageReferenceResourceTypeImageBuilderContainerRecipe},
		}})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, fmt.Errorf("ec2:DescribeImageReferences: %w", err)
			}
			for _, r := range page.ImageReferences {
				add(aws.ToString(r.ImageId), referenceName(r))
			}
		}
		ids = ids[n:]
	}

	// The Auto Scaling groups: by launch configuration, or by launch
	// template version ("$Default", "$Latest" or a number).
	asc := a.clients.AutoScaling(acc)
	byConfig := map[string][]string{}
	type ltUse struct{ group, version string }
	byTemplate := map[string][]ltUse{} // template id or name → uses
	gp := autoscaling.NewDescribeAutoScalingGroupsPaginator(asc, &autoscaling.DescribeAutoScalingGroupsInput{})
	for gp.HasMorePages() {
		page, err := gp.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("autoscaling:DescribeAutoScalingGroups: %w", err)
		}
		for _, g := range page.AutoScalingGroups {
			name := aws.ToString(g.AutoScalingGroupName)
			if lc := aws.ToString(g.LaunchConfigurationName); lc != "" {
				byConfig[lc] = append(byConfig[lc], name)
			}
			specs := []*astypes.LaunchTemplateSpecification{g.LaunchTemplate}
			if g.MixedInstancesPolicy != nil && g.MixedInstancesPolicy.LaunchTemplate != nil {
				specs = append(specs, g.MixedInstancesPolicy.LaunchTemplate.LaunchTemplateSpecification)
			}
			for _, sp := range specs {
				if sp == nil {
					continue
				}
				v := aws.ToString(sp.Version)
				if v == "" {
					v = "$Default"
				}
				for _, k := range []string{aws.ToString(sp.LaunchTemplateId), aws.ToString(sp.LaunchTemplateName)} {
					if k != "" {
						byTemplate[k] = append(byTemplate[k], ltUse{name, v})
					}
				}
			}
		}
	}

	// Every launch template version.
	err := eachTemplateVersion(ctx, ec, func(lt ec2types.LaunchTemplate, v ec2types.LaunchTemplateVersion) {
		if v.LaunchTemplateData == nil || !want[aws.ToString(v.LaunchTemplateData.ImageId)] {
			return
		}
		name, id := aws.ToString(lt.LaunchTemplateName), aws.ToString(lt.LaunchTemplateId)
		own := name == t.Publish.LaunchTemplate && sameRole(aws.ToString(lt.CreatedBy), caller)
		image, n := aws.ToString(v.LaunchTemplateData.ImageId), aws.ToInt64(v.VersionNumber)
		current := aws.ToBool(v.DefaultVersion) || n == aws.ToInt64(lt.LatestVersionNumber)
		var launching []string
		for _, g := range append(append([]ltUse(nil), byTemplate[id]...), byTemplate[name]...) {
			if g.version == strconv.FormatInt(n, 10) ||
				(g.version == "$Default" && aws.ToBool(v.DefaultVersion)) ||
				(g.version == "$Latest" && n == aws.ToInt64(lt.LatestVersionNumber)) {
				launching = append(launching, g.group)
			}
		}
		if own && !current && len(launching) == 0 && sameRole(aws.ToString(v.CreatedBy), caller) {
			return // an earlier publication of amicrypt's own template
		}
		what := fmt.Sprintf("launch template %s version %d", name, n)
		if len(launching) > 0 {
			what += " (Auto Scaling group " + strings.Join(launching, ", ") + ")"
		}
		add(image, what)
	})
	if err != nil {
		return nil, err
	}

	if len(byConfig) > 0 {
		names := make([]string, 0, len(byConfig))
		for n := range byConfig {
			names = append(names, n)
		}
		sort.Strings(names)
		for len(names) > 0 {
			n := min(len(names), 50)
			out, err := asc.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{LaunchConfigurationNames: names[:n]})
			if err != nil {
				return nil, fmt.Errorf("autoscaling:DescribeLaunchConfigurations: %w", err)
			}
			for _, lc := range out.LaunchConfigurations {
				id := aws.ToString(lc.ImageId)
				if !want[id] {
					continue
				}
				for _, g := range byConfig[aws.ToString(lc.LaunchConfigurationName)] {
					add(id, fmt.Sprintf("Auto Scaling group %s (launch configuration %s)", g, aws.ToString(lc.LaunchConfigurationName)))
				}
			}
			names = names[n:]
		}
	}
	for id := range users {
		sort.Strings(users[id])
	}
	return users, nil
}

// referenceName names what DescribeImageReferences found, from its ARN:
// "instance i-…", "launch template lt-…", "parameter NAME".
func referenceName(r ec2types.ImageReference) string {
	arn := aws.ToString(r.Arn)
	res := arn
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		res = arn[i+1:]
	}
	switch r.ResourceType {
	case ec2types.ImageReferenceResourceTypeEc2Instance:
		return "instance " + strings.TrimPrefix(res, "instance/")
	case ec2types.ImageReferenceResourceTypeEc2LaunchTemplate:
		return "launch template " + strings.TrimPrefix(res, "launch-template/")
	case ec2types.ImageReferenceResourceTypeSsmParameter:
		return "parameter " + strings.TrimPrefix(res, "parameter")
	}
	return string(r.ResourceType) + " " + arn
}

// Retirement is what retention (or a rotation's retirement of the images it
// replaced) did, and what it left and why.
type Retirement struct {
	// Disabled: images disabled now (aws ec2 enable-image undoes it).
	Disabled []string `json:"disabled,omitempty"`
	// Deregistered: images deregistered with their snapshots, disabled for
	// at least the grace and unused.
	Deregistered []string `json:"deregistered,omitempty"`
	// Enabled: images amicrypt had disabled that something came to use:
	// enabled again.
	Enabled []string `json:"enabled,omitempty"`
	// Kept: "ami-…: why" for images retention would retire but does not
	// (something uses them; their grace is not over).
	Kept []string `json:"kept,omitempty"`
	// OutOfScope: "ami-…: why" for images carrying amicrypt's tags that
	// the evidence does not show to be this target's: left alone.
	OutOfScope []string `json:"out_of_scope,omitempty"`
}

// Actions are the retirement's steps as actions (the image's evidence).
func (r Retirement) Actions() []Action {
	var out []Action
	for _, id := range r.Disabled {
		out = append(out, Action{Do: ActDisableImage, Resource: id, Evidence: "amicrypt's, retired, nothing uses it"})
	}
	for _, id := range r.Deregistered {
		out = append(out, Action{Do: ActDeregisterImage, Resource: id, Evidence: "disabled for the retention grace, nothing uses it"})
	}
	for _, id := range r.Enabled {
		out = append(out, Action{Do: ActEnableImage, Resource: id, Evidence: "disabled, but something uses it"})
	}
	return out
}

// Lines says what was done, one line each, with how to undo it: disabled,
// deregistered, enabled again, kept (and by what), left alone (and why).
func (r Retirement) Lines() []string {
	var out []string
	for _, id := range r.Disabled {
		out = append(out, "disabled image "+id+" (aws ec2 enable-image --image-id "+id+" undoes it)")
	}
	for _, id := range r.Deregistered {
		out = append(out, "deregistered image "+id+" with its snapshots")
	}
	for _, id := range r.Enabled {
		out = append(out, "enabled image "+id+" again (something uses it)")
	}
	for _, k := range r.Kept {
		out = append(out, "kept image "+k)
	}
	for _, o := range r.OutOfScope {
		out = append(out, "left alone image "+o)
	}
	return out
}

// Empty says nothing was done, kept or left alone.
func (r Retirement) Empty() bool {
	return len(r.Disabled)+len(r.Deregistered)+len(r.Enabled)+len(r.Kept)+len(r.OutOfScope) == 0
}

// retire is the two-step retirement of images provably amicrypt's: each
// of retire that nothing uses is disabled (tagged with when and why first,
// so a worker lost between the two calls leaves an image amicrypt still
// knows it disabled); each image amicrypt disabled (retire's and earlier
// ones, in disabled) whose grace is over and that nothing uses is
// deregistered with its snapshots; one that something came to use is
// enabled again. why says why retire's images go.
// With dry, nothing is changed: res says what would be done.
// ignore, when set, names uses that do not count (in a dry run of a
// rotation: the pointers the rotation would repoint first).
func (a *Activities) retire(ctx context.Context, t Target, retire, disabled []familyImage, why string, dry bool, ignore func(string) bool, res *Retirement) error {
	ec := a.clients.EC2(targetAccess(t))
	log := a.logFor(t.Account, t.Region)
	w := where{Account: t.Account, Region: t.Region}
	if len(retire)+len(disabled) == 0 {
		return nil
	}
	assumed, err := a.assumeTarget(ctx, AssumeTargetInput{Target: t})
	if err != nil {
		return err
	}
	users, err := a.imageUsers(ctx, t, assumed.Arn, append(append([]familyImage(nil), retire...), disabled...))
	if err != nil {
		w.Resource = "what uses the images to retire"
		return diagnose(err, "ec2:DescribeImageReferences", w)
	}
	if ignore != nil {
		for id, u := range users {
			users[id] = slices.DeleteFunc(u, ignore)
		}
	}
	now := time.Now().UTC()
	grace := t.Grace()
	for _, im := range retire {
		if u := users[im.ID]; len(u) > 0 {
			res.Kept = append(res.Kept, fmt.Sprintf("%s: %s, but used by %s", im.ID, why, strings.Join(u, ", ")))
			continue
		}
		w.Resource = "image " + im.ID
		if dry {
			res.Disabled = append(res.Disabled, im.ID)
			im.State = ec2types.ImageStateDisabled
			im.Tags[TagDisabledAt] = now.Format(time.RFC3339)
			disabled = append(disabled, im)
			continue
		}
		if _, err := ec.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{im.ID}, Tags: []ec2types.Tag{
			{Key: aws.String(TagDisabledAt), Value: aws.String(now.Format(time.RFC3339))},
			{Key: aws.String(TagDisabledReason), Value: aws.String(truncate(why, 256))},
		}}); err != nil {
			return diagnose(err, "ec2:CreateTags", w)
		}
		if _, err := ec.DisableImage(ctx, &ec2.DisableImageInput{ImageId: aws.String(im.ID)}); err != nil && !IsNotFound(err) {
			return diagnose(err, "ec2:DisableImage", w)
		}
		log.Info().Str("image", im.ID).Str("why", why).Msg("image disabled (aws ec2 enable-image undoes it)")
		res.Disabled = append(res.Disabled, im.ID)
		im.State = ec2types.ImageStateDisabled
		im.Tags[TagDisabledAt] = now.Format(time.RFC3339)
		disabled = append(disabled, im)
	}
	now1 := now.Format(time.RFC3339)
	for _, im := range disabled {
		w.Resource = "image " + im.ID
		since := im.disabledAt()
		if since.IsZero() {
			continue
		}
		justNow := im.Tags[TagDisabledAt] == now1 && slices.Contains(res.Disabled, im.ID)
		if u := users[im.ID]; len(u) > 0 && dry {
			res.Enabled = append(res.Enabled, im.ID)
			continue
		}
		if u := users[im.ID]; len(u) > 0 {
			if _, err := ec.EnableImage(ctx, &ec2.EnableImageInput{ImageId: aws.String(im.ID)}); err != nil && !IsNotFound(err) {
				return diagnose(err, "ec2:EnableImage", w)
			}
			if _, err := ec.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{im.ID}, Tags: []ec2types.Tag{{Key: aws.String(TagDisabledAt)}, {Key: aws.String(TagDisabledReason)}}}); err != nil {
				return diagnose(err, "ec2:DeleteTags", w)
			}
			log.Warn().Str("image", im.ID).Strs("used_by", u).Msg("a disabled image is in use: enabled again")
			res.Enabled = append(res.Enabled, im.ID)
			res.Kept = append(res.Kept, fmt.Sprintf("%s: disabled %s, but now used by %s: enabled again", im.ID, since.Format(time.RFC3339), strings.Join(u, ", ")))
			continue
		}
		if left := since.Add(grace).Sub(now); left > 0 {
			if justNow {
				continue // listed as disabled: its grace starts now
			}
			res.Kept = append(res.Kept, fmt.Sprintf("%s: disabled %s; deregistered once the retention grace (%s) is over, in %s", im.ID, since.Format(time.RFC3339), grace, left.Round(time.Minute)))
			continue
		}
		if dry {
			res.Deregistered = append(res.Deregistered, im.ID)
			continue
		}
		_, err := ec.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(im.ID), DeleteAssociatedSnapshots: aws.Bool(true)})
		if err != nil && !IsNotFound(err) {
			return diagnose(err, "ec2:DeregisterImage", w)
		}
		log.Info().Str("image", im.ID).Time("disabled_at", since).Msg("image deregistered with its snapshots")
		res.Deregistered = append(res.Deregistered, im.ID)
	}
	return nil
}

// formerKeys judges the keys of the target's images that are not in the
// alias's line: a key is the configuration's still when amicrypt made it
// for this alias (tagged amicrypt:managed and amicrypt:alias with it) and
// its policy carries amicrypt's statements for the service-linked role —
// which only a principal allowed kms:PutKeyPolicy on the key can write, not
// one that may only tag. The alias moved off it by hand, say. Answers are
// remembered for the call.
func (a *Activities) formerKeys(ctx context.Context, t Target) func(string) string {
	kc := a.clients.KMS(targetAccess(t))
	seen := map[string]string{}
	return func(key string) string {
		if why, ok := seen[key]; ok {
			return why
		}
		why := a.formerKey(ctx, kc, t, key)
		seen[key] = why
		return why
	}
}

func (a *Activities) formerKey(ctx context.Context, kc KMSAPI, t Target, key string) string {
	const not = "not a key this target's configuration manages"
	if owner := accountOfARN(key); owner != t.Account {
		return not + " (a key of account " + owner + ")"
	}
	tags, err := keyTags(ctx, kc, key)
	if err != nil {
		return not + " (its tags cannot be read: " + apiMessageOr(err) + ")"
	}
	if tags[TagManagedKey] != "true" || tags[TagKeyAlias] != keyAlias(t) {
		return not
	}
	ok, why, err := a.tagsGuarded(ctx, kc, t, key)
	if err != nil {
		return not + " (its policy cannot be read: " + apiMessageOr(err) + ")"
	}
	if !ok {
		return not + " (tagged as amicrypt's, but " + why + ", so anyone may have tagged it)"
	}
	return ""
}

// eachTemplateVersion calls fn with every version of every launch template of
// the account and region (a template deleted meanwhile is skipped). EC2 has no
// filter by image or key across templates: what names an image or a key is
// found here.
func eachTemplateVersion(ctx context.Context, ec EC2API, fn func(ec2types.LaunchTemplate, ec2types.LaunchTemplateVersion)) error {
	tp := ec2.NewDescribeLaunchTemplatesPaginator(ec, &ec2.DescribeLaunchTemplatesInput{})
	for tp.HasMorePages() {
		page, err := tp.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("ec2:DescribeLaunchTemplates: %w", err)
		}
		for _, lt := range page.LaunchTemplates {
			vp := ec2.NewDescribeLaunchTemplateVersionsPaginator(ec, &ec2.DescribeLaunchTemplateVersionsInput{LaunchTemplateId: lt.LaunchTemplateId})
			for vp.HasMorePages() {
				vpage, err := vp.NextPage(ctx)
				if IsNotFound(err) {
					break // deleted meanwhile
				}
				if err != nil {
					return fmt.Errorf("ec2:DescribeLaunchTemplateVersions: %w", err)
				}
				for _, v := range vpage.LaunchTemplateVersions {
					fn(lt, v)
				}
			}
		}
	}
	return nil
}
