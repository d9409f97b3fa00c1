package activities

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/rs/zerolog"

	"github.com/amicrypt/amicrypt/internal/policy"
)

// DefaultKeyAlias is the dedicated key's alias when a target names none.
const DefaultKeyAlias = "alias/amicrypt"

// EnsureKey makes sure the target has the key its copy is encrypted under
// (step 2), and predicts with the policy evaluator, before any copy, whether
// the Auto Scaling service-linked role will be able to use it through EC2.
//
//   - Target.KeyARN set (a key of another account, seed 003 case 2): the key
//     is neither created nor edited; amicrypt creates, from the target
//     account, a grant that lets the service-linked role use it (F6 when the
//     key's owner has not allowed that).
//   - No key under the alias: amicrypt creates one (symmetric, rotation on,
//     tagged amicrypt:managed=true) with policy.RequiredKeyPolicy.
//   - A key amicrypt created: its policy is reconciled (required statements
//     added or corrected, the owner's kept).
//   - A key that was there before (adopted): its policy is left alone unless
//     the target says manage_key_policy (then reconciled like a managed key),
//     or grant_service_linked_role (then the role gets a grant).
//
// Disabled, pending-deletion and non-symmetric keys are refused (F5). A key
// the role could not use stops the target here with F2 (default role) or F3
// (custom suffix), the fix listing the statements to add. The service-linked
// role must exist (EnsureServiceLinkedRole) before this runs.
func (a *Activities) ensureKey(ctx context.Context, in EnsureKeyInput) (EnsureKeyResult, error) {
	t := in.Target
	slr := in.SLRARN
	if slr == "" {
		slr = t.ServiceLinkedRoleARN()
	}
	if t.KeyARN != "" {
		return a.ensureForeignKey(ctx, in, slr)
	}
	alias := keyAlias(t)
	log := a.logFor(t.Account, t.Region).With().Str("alias", alias).Logger()
	kc := a.clients.KMS(targetAccess(t))
	w := where{Account: t.Account, Region: t.Region, Resource: "key " + alias}

	var res EnsureKeyResult
	// fresh: the policy of a key created just now (nil for a key found).
	var fresh *policy.Document
	md, err := describeKey(ctx, kc, alias)
	if IsNotFound(err) && in.DryRun {
		return planKeyCreation(t, alias, slr, in.Pipeline)
	}
	if IsNotFound(err) {
		md, fresh, res.RetiredKeys, err = a.createKey(ctx, kc, t, alias, slr, in.Pipeline, log)
		res.Created = err == nil && fresh != nil
	}
	if err != nil {
		return EnsureKeyResult{}, diagnose(err, "kms:DescribeKey", w)
	}
	arn := aws.ToString(md.Arn)
	res.KeyARN = arn
	log = log.With().Str("key", arn).Logger()
	w.Resource = fmt.Sprintf("key %s (%s)", arn, alias)
	if d, bad := keyStateDiagnosis(t, md, alias); bad {
		return EnsureKeyResult{}, Diagnosed(d, nil)
	}
	if md.KeyManager != kmstypes.KeyManagerTypeCustomer {
		return EnsureKeyResult{}, Diagnosed(Diagnosis{
			Code:  F5,
			Cause: fmt.Sprintf("%s in account %s, %s is an AWS managed key; its policy cannot name the Auto Scaling role nor be shared", arn, t.Account, t.Region),
			Fix:   fmt.Sprintf("Point %s at a customer managed symmetric key, or delete the alias so amicrypt creates one; then replay the target.", alias),
		}, nil)
	}

	if fresh != nil {
		// Created just now with amicrypt's required policy, rotation on and
		// no grants: nothing to read back or reconcile, only to predict.
		res.Managed = true
		res.doc = fresh
		if ok, act, reason := evaluateSLRUse(fresh, nil, t, arn, slr); !ok {
			log.Warn().Str("action", act).Str("reason", reason).Msg("the service-linked role could not use the key")
			return EnsureKeyResult{}, Diagnosed(slrKeyDiagnosis(t, arn, slr, fresh, nil, nil,
				fmt.Sprintf("predicted before copying: %s would be refused", act)), nil)
		}
		return res, nil
	}

	tags, err := keyTags(ctx, kc, arn)
	if err != nil && IsAccessDenied(err) {
		// A security team's key may not let amicrypt read its tags: not amicrypt's.
		log.Warn().Err(err).Msg("key tags unreadable: treating the key as adopted")
		tags, err = nil, nil
	}
	if err != nil {
		return EnsureKeyResult{}, diagnose(err, "kms:ListResourceTags", w)
	}
	doc, readErr := a.keyPolicy(ctx, kc, arn)
	managed := managedKey(t, md, tags, doc)
	if tags[TagManagedKey] == "true" && !managed {
		log.Warn().Msg("key tagged amicrypt:managed, but neither its policy nor its description is amicrypt's: treating the key as adopted")
	}
	res.Managed = managed

	var planned []policy.Grant // a grant a dry run would create
	switch {
	case managed || t.ManageKeyPolicy:
		if readErr != nil {
			return EnsureKeyResult{}, diagnose(readErr, "kms:GetKeyPolicy", w)
		}
		merged, report := policy.MergeRequired(doc, policy.RequiredKeyPolicy(requiredParams(t, arn, slr, in.Pipeline)))
		if report.Changed {
			text, err := merged.Marshal()
			if err != nil {
				return EnsureKeyResult{}, Diagnosed(Diagnosis{Code: Other,
					Cause: fmt.Sprintf("the reconciled policy of key %s in account %s, %s cannot be written: %v", arn, t.Account, t.Region, err),
					Fix:   "Correct the key policy's statements that amicrypt cannot write back, then replay the target."}, err)
			}
			if in.DryRun {
				res.Actions = append(res.Actions, policyUpdateAction(arn, alias, merged, report))
			} else {
				if _, err := kc.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(arn), Policy: aws.String(string(text)), PolicyName: aws.String("default")}); err != nil {
					return EnsureKeyResult{}, keyPolicyWriteError(err, "kms:PutKeyPolicy", w)
				}
				res.PolicyChanged = true
				log.Info().Strs("added", report.Added).Strs("corrected", report.Corrected).Msg("key policy reconciled")
			}
		}
		doc = merged
		switch {
		case !managed:
		case in.DryRun:
			if on, err := rotationOn(ctx, kc, arn); err == nil && !on {
				res.Actions = append(res.Actions, Action{Do: ActEnableRotation, Resource: "key " + arn, Evidence: "amicrypt's keys rotate yearly"})
			}
		default:
			if err := ensureRotation(ctx, kc, arn); err != nil {
				return EnsureKeyResult{}, diagnose(err, "kms:EnableKeyRotation", w)
			}
		}
	case t.GrantServiceLinkedRole && in.DryRun:
		g, act := plannedSLRGrant(t, arn, slr)
		planned = append(planned, g)
		res.Actions = append(res.Actions, act)
	case t.GrantServiceLinkedRole:
		id, err := createSLRGrant(ctx, kc, t, arn, slr, false)
		if err != nil {
			return EnsureKeyResult{}, diagnose(err, "kms:CreateGrant", w)
		}
		res.GrantID = id
		log.Info().Str("grant", id).Msg("service-linked role granted the key")
	}

	// Predict: would the service-linked role be able to use the key?
	if readErr != nil && doc == nil {
		log.Warn().Err(readErr).Msg("key policy unreadable: no prediction, the boot proof decides")
		return res, nil
	}
	grants, err := a.keyGrants(ctx, kc, arn)
	if err != nil {
		log.Warn().Err(err).Msg("key grants unreadable: predicting from the key policy alone")
	}
	grants = append(grants, planned...)
	res.doc, res.grants = doc, grants
	if ok, act, reason := evaluateSLRUse(doc, grants, t, arn, slr); !ok {
		log.Warn().Str("action", act).Str("reason", reason).Msg("the service-linked role could not use the key")
		return EnsureKeyResult{}, Diagnosed(slrKeyDiagnosis(t, arn, slr, doc, grants, nil,
			fmt.Sprintf("predicted before copying: %s would be refused", act)), nil)
	}
	return res, nil
}

// planKeyCreation is what a run would do where the alias names no key:
// create one with amicrypt's required policy (given in full), alias it and
// turn its rotation on — predicted usable by the service-linked role first,
// as the run predicts it.
func planKeyCreation(t Target, alias, slr, pipeline string) (EnsureKeyResult, error) {
	doc := policy.RequiredKeyPolicy(requiredParams(t, "", slr, pipeline))
	placeholder := plannedKeyARN(t)
	if ok, act, _ := evaluateSLRUse(doc, nil, t, placeholder, slr); !ok {
		return EnsureKeyResult{}, Diagnosed(slrKeyDiagnosis(t, placeholder, slr, doc, nil, nil,
			fmt.Sprintf("predicted before creating the key: %s would be refused", act)), nil)
	}
	text, _ := doc.Marshal()
	return EnsureKeyResult{Managed: true, doc: doc, Actions: []Action{
		{Do: ActCreate, Resource: "key " + alias, Evidence: "no key has the alias; symmetric, rotation on, tagged amicrypt:managed, with amicrypt's policy", Detail: string(text)},
	}}, nil
}

// plannedKeyARN stands for a key a dry run would create (no ARN yet).
func plannedKeyARN(t Target) string {
	return fmt.Sprintf("arn:%s:kms:%s:%s:key/00000000-0000-0000-0000-000000000000", policy.PartitionForRegion(t.Region), t.Region, t.Account)
}

// policyUpdateAction lists the statements a reconciliation adds or corrects,
// as the JSON it would write (the owner's statements are kept).
func policyUpdateAction(arn, alias string, merged *policy.Document, report policy.MergeReport) Action {
	changed := map[string]bool{}
	for _, sid := range append(append([]string{}, report.Added...), report.Corrected...) {
		changed[sid] = true
	}
	part := &policy.Document{Version: merged.Version}
	for _, st := range merged.Statements {
		if changed[st.Sid] {
			part.Statements = append(part.Statements, st)
		}
	}
	text, _ := part.Marshal()
	ev := fmt.Sprintf("adds %v, corrects %v; keeps the other %d statements as they are", report.Added, report.Corrected, len(report.Kept))
	return Action{Do: ActUpdatePolicy, Resource: fmt.Sprintf("key %s (%s)", arn, alias), Evidence: ev, Detail: string(text)}
}

// plannedSLRGrant is the grant a run would create for the service-linked
// role, and the action naming the exact call.
func plannedSLRGrant(t Target, keyARN, slr string) (policy.Grant, Action) {
	name := slrGrantName(t, keyARN, slr)
	g := policy.Grant{ID: "planned", KeyARN: keyARN, GranteePrincipal: slr, Operations: grantOperationNames()}
	call := fmt.Sprintf("aws kms create-grant --region %s --key-id %s --grantee-principal %s --operations %s --name %s",
		t.Region, keyARN, slr, strings.Join(grantOperationNames(), " "), name)
	return g, Action{Do: ActCreateGrant, Resource: "key " + keyARN, Evidence: "lets the Auto Scaling service-linked role use the key", Detail: call}
}

// keyAlias is the target's alias in its full "alias/..." form.
func keyAlias(t Target) string {
	alias := t.KeyAlias
	if alias == "" {
		return DefaultKeyAlias
	}
	if !strings.HasPrefix(alias, "alias/") {
		alias = "alias/" + alias
	}
	return alias
}

func describeKey(ctx context.Context, kc KMSAPI, ref string) (*kmstypes.KeyMetadata, error) {
	out, err := kc.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
	if err != nil {
		return nil, err
	}
	if out.KeyMetadata == nil {
		return nil, fmt.Errorf("DescribeKey %s returned no key metadata", ref)
	}
	return out.KeyMetadata, nil
}

// createKey creates the dedicated key with amicrypt's required policy, names
// it with the alias and turns rotation on; it returns the key and the policy
// it was created with.
//
// KMS's CreateKey takes no client token, so a retry after a lost answer, or
// after a worker died between CreateKey and CreateAlias, would make a second
// key. So CreateKey runs without the SDK's retries (noRetry), a key is
// tagged with the alias it is made for (TagKeyAlias), and before creating
// one, the keys an earlier attempt made for this alias are looked for: the
// oldest is adopted (aliased now, returned with a nil policy so it is read
// and reconciled like any key found); once the alias names it, any other is
// a key nothing ever used and is scheduled for deletion (reversible for the
// 7-day window), reported in retired. When
// another run created the alias meanwhile, the key just made is retired the
// same way and the alias's key returned.
func (a *Activities) createKey(ctx context.Context, kc KMSAPI, t Target, alias, slr, pipeline string, log zerolog.Logger) (_ *kmstypes.KeyMetadata, _ *policy.Document, retired []string, _ error) {
	w := where{Account: t.Account, Region: t.Region, Resource: "key " + alias}
	made, err := a.findKeys(ctx, kc, t, func(tags map[string]string) bool {
		return tags[TagManagedKey] == "true" && tags[TagKeyAlias] == alias && tags[TagPredecessor] == ""
	})
	if err != nil {
		return nil, nil, nil, diagnose(err, "kms:ListKeys", w)
	}
	var md *kmstypes.KeyMetadata
	var doc *policy.Document
	if len(made) > 0 {
		md = &made[0]
		log.Info().Str("key", aws.ToString(md.Arn)).Msg("key made by an earlier attempt found: adopting it")
	} else {
		doc = policy.RequiredKeyPolicy(requiredParams(t, "", slr, pipeline))
		text, err := doc.Marshal()
		if err != nil {
			return nil, nil, nil, Diagnosed(Diagnosis{Code: Other, Cause: fmt.Sprintf("amicrypt's required key policy for account %s, %s cannot be written: %v", t.Account, t.Region, err),
				Fix: "Check the target's service-linked role and pipeline role ARNs."}, err)
		}
		out, err := kc.CreateKey(ctx, &kms.CreateKeyInput{
			Description: aws.String(fmt.Sprintf(keyDescriptionPrefix+"%s for encrypted AMIs (%s)", t.Account, alias)),
			KeySpec:     kmstypes.KeySpecSymmetricDefault,
			KeyUsage:    kmstypes.KeyUsageTypeEncryptDecrypt,
			Policy:      aws.String(string(text)),
			Tags:        kmsTags(map[string]string{TagManagedKey: "true", TagKeyAlias: alias}),
		}, noRetry)
		if err != nil {
			return nil, nil, nil, keyPolicyWriteError(err, "kms:CreateKey", w)
		}
		md = out.KeyMetadata
	}
	arn := aws.ToString(md.Arn)
	if _, err := kc.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(alias), TargetKeyId: md.KeyId}); err != nil {
		if APICode(err) != "AlreadyExistsException" {
			return nil, nil, retired, diagnose(err, "kms:CreateAlias", w)
		}
		cur, err := describeKey(ctx, kc, alias)
		if err != nil {
			return nil, nil, retired, diagnose(err, "kms:DescribeKey", w)
		}
		if aws.ToString(cur.Arn) != arn {
			// Lost the race to another run: use the alias's key, retire ours
			// (the others found, if any, are the other run's to judge).
			retired = append(retired, a.retireUnusedKey(ctx, kc, t, *md, "another run aliased "+alias+" to "+aws.ToString(cur.Arn)+" meanwhile", log)...)
			return cur, nil, retired, nil
		}
		// Our own CreateAlias, whose answer was lost.
	}
	// The alias is ours: the other keys earlier attempts made for it were
	// never used, and now never will be.
	for _, k := range made {
		if aws.ToString(k.Arn) != arn {
			retired = append(retired, a.retireUnusedKey(ctx, kc, t, k, "a second key an earlier attempt made for "+alias, log)...)
		}
	}
	// A new key's rotation is off: turn it on without asking (again, for a
	// key adopted: it is idempotent).
	if _, err := kc.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(arn)}); err != nil {
		return nil, nil, retired, diagnose(err, "kms:EnableKeyRotation", w)
	}
	log.Info().Str("key", arn).Msg("dedicated key created")
	return md, doc, retired, nil
}

// retireUnusedKey schedules the deletion of a key amicrypt made and nothing
// ever used (no alias named it), after KMS's shortest window (7 days, during
// which CancelKeyDeletion undoes it); it returns the key's ARN when
// scheduled. A failure is logged, not returned: the key is harmless, the
// sweep finds it again.
func (a *Activities) retireUnusedKey(ctx context.Context, kc KMSAPI, t Target, md kmstypes.KeyMetadata, why string, log zerolog.Logger) []string {
	arn := aws.ToString(md.Arn)
	if _, err := kc.ScheduleKeyDeletion(ctx, &kms.ScheduleKeyDeletionInput{KeyId: md.KeyId, PendingWindowInDays: aws.Int32(7)}); err != nil && !IsNotFound(err) && APICode(err) != "KMSInvalidStateException" {
		log.Warn().Err(err).Str("orphan", arn).Msg("could not schedule the deletion of a key amicrypt made and never used")
		return nil
	}
	log.Info().Str("orphan", arn).Str("why", why).Msg("key amicrypt made and never used scheduled for deletion (7 days)")
	return []string{arn}
}

// noRetry makes a call that creates something and has no client token
// (kms:CreateKey) without the SDK's retries: a retry after a lost answer
// would make a second key in the same call, with nothing to find it by. The
// error goes to the activity instead, whose next attempt finds the key the
// lost answer made (findKeys) and adopts it.
func noRetry(o *kms.Options) { o.Retryer = aws.NopRetryer{} }

// findKeys lists the account's enabled customer keys in the client's region
// whose tags match, oldest first: keys an earlier attempt made and whose
// creation was never recorded. Keys whose tags amicrypt may not read are not
// its own and are skipped, and so are keys whose policy lets others set
// amicrypt's tags (tagsGuarded): anyone could have made those match.
func (a *Activities) findKeys(ctx context.Context, kc KMSAPI, t Target, match func(tags map[string]string) bool) ([]kmstypes.KeyMetadata, error) {
	var out []kmstypes.KeyMetadata
	p := kms.NewListKeysPaginator(kc, &kms.ListKeysInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, k := range page.Keys {
			arn := aws.ToString(k.KeyArn)
			tags, err := keyTags(ctx, kc, arn)
			if err != nil {
				if IsAccessDenied(err) || IsNotFound(err) {
					continue
				}
				return nil, err
			}
			if !match(tags) {
				continue
			}
			if ok, _, err := a.tagsGuarded(ctx, kc, t, arn); err != nil {
				return nil, err
			} else if !ok {
				continue
			}
			md, err := describeKey(ctx, kc, arn)
			if IsNotFound(err) {
				continue
			}
			if err != nil {
				return nil, err
			}
			if md.KeyState == kmstypes.KeyStateEnabled && md.KeyManager == kmstypes.KeyManagerTypeCustomer {
				out = append(out, *md)
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ci, cj := aws.ToTime(out[i].CreationDate), aws.ToTime(out[j].CreationDate)
		if !ci.Equal(cj) {
			return ci.Before(cj)
		}
		return aws.ToString(out[i].Arn) < aws.ToString(out[j].Arn)
	})
	return out, nil
}

// keyPolicyWriteError explains a refused key policy: most often a principal
// that does not exist yet.
func keyPolicyWriteError(err error, call string, w where) error {
	if APICode(err) == "MalformedPolicyDocumentException" {
		return Diagnosed(Diagnosis{
			Code:  Other,
			Cause: fmt.Sprintf("%s in %s refused the key policy: %s", call, w, apiMessage(err)),
			Fix: "Every principal a key policy names must exist: run EnsureServiceLinkedRole before EnsureKey (the Auto Scaling " +
				"service-linked role), and check the pipeline role ARN; then replay the target.",
		}, err)
	}
	return diagnose(err, call, w)
}

func ensureRotation(ctx context.Context, kc KMSAPI, keyARN string) error {
	if on, err := rotationOn(ctx, kc, keyARN); err == nil && on {
		return nil
	}
	_, err := kc.EnableKeyRotation(ctx, &kms.EnableKeyRotationInput{KeyId: aws.String(keyARN)})
	return err
}

// rotationOn says whether the key's automatic rotation is on.
func rotationOn(ctx context.Context, kc KMSAPI, keyARN string) (bool, error) {
	st, err := kc.GetKeyRotationStatus(ctx, &kms.GetKeyRotationStatusInput{KeyId: aws.String(keyARN)})
	if err != nil {
		return false, err
	}
	return st.KeyRotationEnabled, nil
}

// keyPolicy reads and parses a key's default policy.
func (a *Activities) keyPolicy(ctx context.Context, kc KMSAPI, keyARN string) (*policy.Document, error) {
	out, err := kc.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: aws.String(keyARN), PolicyName: aws.String("default")})
	if err != nil {
		return nil, err
	}
	doc, err := policy.Parse([]byte(aws.ToString(out.Policy)))
	if err != nil {
		return nil, fmt.Errorf("parsing the key policy of %s, %w", keyARN, err)
	}
	return doc, nil
}

// keyGrants lists a key's grants for the evaluator.
func (a *Activities) keyGrants(ctx context.Context, kc KMSAPI, keyARN string) ([]policy.Grant, error) {
	var out []policy.Grant
	p := kms.NewListGrantsPaginator(kc, &kms.ListGrantsInput{KeyId: aws.String(keyARN)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, g := range page.Grants {
			pg := policy.Grant{
				ID: aws.ToString(g.GrantId), KeyARN: keyARN,
				GranteePrincipal: aws.ToString(g.GranteePrincipal), RetiringPrincipal: aws.ToString(g.RetiringPrincipal),
			}
			for _, op := range g.Operations {
				pg.Operations = append(pg.Operations, string(op))
			}
			if g.Constraints != nil {
				pg.EncryptionContextEquals = g.Constraints.EncryptionContextEquals
				pg.EncryptionContextSubset = g.Constraints.EncryptionContextSubset
			}
			out = append(out, pg)
		}
	}
	return out, nil
}

// slrGrantName is the grant's deterministic name: with it, CreateGrant
// returns the existing grant instead of making a second one.
func slrGrantName(t Target, keyARN, slr string) string {
	return Token("amicrypt-slr", t.Account, t.Region, keyARN, slr)
}

// createSLRGrant gives the service-linked role the use of a key (idempotent
// by grant name).
// With dryRun, KMS only checks the request (permissions included) and
// answers DryRunOperationException when it would succeed.
func createSLRGrant(ctx context.Context, kc KMSAPI, t Target, keyARN, slr string, dryRun bool) (string, error) {
	in := &kms.CreateGrantInput{
		KeyId:            aws.String(keyARN),
		GranteePrincipal: aws.String(slr),
		Operations:       keyGrantOperations,
		Name:             aws.String(slrGrantName(t, keyARN, slr)),
	}
	if dryRun {
		in.DryRun = aws.Bool(true)
	}
	out, err := kc.CreateGrant(ctx, in)
	if err != nil {
		return "", err
	}
	return aws.ToString(out.GrantId), nil
}

// ensureForeignKey handles a key of another account: check it, and grant the
// target's service-linked role its use from the target account.
func (a *Activities) ensureForeignKey(ctx context.Context, in EnsureKeyInput, slr string) (EnsureKeyResult, error) {
	t := in.Target
	arn := t.KeyARN
	log := a.logFor(t.Account, t.Region).With().Str("key", arn).Logger()
	kc := a.clients.KMS(targetAccess(t))
	w := where{Account: t.Account, Region: t.Region, Resource: "key " + arn}

	if r := regionOfARN(arn); r != "" && r != t.Region {
		return EnsureKeyResult{}, Diagnosed(Diagnosis{
			Code:  Other,
			Cause: fmt.Sprintf("key_arn %s of target %s is in region %s, not %s", arn, t.ID(), r, t.Region),
			Fix:   "EBS encrypts with a key of the image's region: set key_arn to a key (or multi-Region replica) in " + t.Region + ", then replay the target.",
		}, nil)
	}
	md, err := describeKey(ctx, kc, arn)
	switch {
	case err != nil && IsAccessDenied(err):
		return EnsureKeyResult{}, Diagnosed(crossAccountKeyDiagnosis(t, arn, slr, "kms:DescribeKey from account "+t.Account+" refused: "+apiMessage(err)), err)
	case err != nil && IsNotFound(err):
		return EnsureKeyResult{}, Diagnosed(Diagnosis{
			Code:  Other,
			Cause: fmt.Sprintf("key_arn %s of target %s does not exist (or is not visible from account %s): %s", arn, t.ID(), t.Account, apiMessage(err)),
			Fix:   "Correct key_arn, then replay the target.",
		}, err)
	case err != nil:
		return EnsureKeyResult{}, diagnose(err, "kms:DescribeKey", w)
	}
	if d, bad := keyStateDiagnosis(t, md, ""); bad {
		return EnsureKeyResult{}, Diagnosed(d, nil)
	}
	var res EnsureKeyResult
	var grants []policy.Grant
	if in.DryRun {
		// Whether the key's owner lets this account create the grant is in
		// a policy this account cannot read; KMS answers it to a DryRun.
		g, act := plannedSLRGrant(t, arn, slr)
		_, err := createSLRGrant(ctx, kc, t, arn, slr, true)
		switch {
		case err == nil || APICode(err) == "DryRunOperationException":
		case IsAccessDenied(err):
			return EnsureKeyResult{}, Diagnosed(crossAccountKeyDiagnosis(t, arn, slr, "kms:CreateGrant from account "+t.Account+" refused (a DryRun): "+apiMessage(err)), err)
		case isRetryable(err):
			return EnsureKeyResult{}, err
		default:
			act.Evidence += fmt.Sprintf("; whether the key's owner allows kms:CreateGrant to account %s is not known (a DryRun answered %s)", t.Account, APICode(err))
		}
		res.Actions = append(res.Actions, act)
		grants = []policy.Grant{g}
	} else {
		id, err := createSLRGrant(ctx, kc, t, arn, slr, false)
		if err != nil {
			if IsAccessDenied(err) {
				return EnsureKeyResult{}, Diagnosed(crossAccountKeyDiagnosis(t, arn, slr, "kms:CreateGrant from account "+t.Account+" refused: "+apiMessage(err)), err)
			}
			return EnsureKeyResult{}, diagnose(err, "kms:CreateGrant", w)
		}
		log.Info().Str("grant", id).Msg("service-linked role granted another account's key")
		res.GrantID = id
		// Predict from the grants (the key policy of another account cannot be
		// read from here; the grant alone lets the role use the key).
		grants, err = a.keyGrants(ctx, kc, arn)
		if err != nil {
			grants = []policy.Grant{{ID: id, KeyARN: arn, GranteePrincipal: slr, Operations: grantOperationNames()}}
		}
	}
	if ok, act, _ := evaluateSLRUse(&policy.Document{Version: policy.Version2012}, grants, t, arn, slr); !ok {
		return EnsureKeyResult{}, Diagnosed(crossAccountKeyDiagnosis(t, arn, slr, "predicted before copying: "+act+" would be refused"), nil)
	}
	res.KeyARN, res.grants = aws.ToString(md.Arn), grants
	return res, nil
}
