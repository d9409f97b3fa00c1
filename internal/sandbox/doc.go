// Package sandbox is a local AWS-compatible endpoint: EC2, KMS, IAM, STS,
// SSM, Auto Scaling, CloudTrail and Organizations, over the wire protocols of their botocore
// models (package wire), with the state of a world of accounts (package
// world). It follows AWS's documentation and service models. Where AWS does
// not document a behaviour, the code says so next to the choice it makes
// ("AWS does not document …; the sandbox …"); the choices about images,
// image references, SSM tags, Auto Scaling, instance types, the default VPC,
// KMS last usage, CloudTrail and Organizations are:
//
// Images (ec2_images.go, ec2_image_references.go):
//   - DisableImage of a disabled image and EnableImage of an available one
//     succeed and change nothing; a pending or failed image is IncorrectState.
//   - A disabled image named in DescribeImages' ImageIds is shown without
//     IncludeDisabled (as EC2 documents for deprecated images); listings
//     hide it. CopyImage of a disabled image is IncorrectState, and so is
//     sharing one (ModifyImageAttribute adding launch permissions).
//   - DeregisterImage of a protected image, or in the 24-hour cooldown, is
//     OperationNotPermitted; during the cooldown DescribeImages shows
//     DeregistrationProtection "disabled after <time>".
//   - LastLaunchedTime is shown to the image's owner only.
//   - DescribeImageReferences checks any well-formed AMI id, lists a launch
//     template once (its ARN has no version), counts String parameters of
//     either data type, needs the caller's read permissions for each resource
//     type (UnauthorizedOperation otherwise), takes MaxResults 5-1000, and
//     finds nothing for the Image Builder types, which are not modelled.
//
// EBS default key (ec2_ebs_default.go): ModifyEbsDefaultKmsKeyId with a key
// that does not exist in the account and region is InvalidParameterValue at
// once (AWS documents that such a call can appear to complete and fail later).
//
// SSM (ssm.go): tag keys starting with aws: are ValidationException; the SSM
// resource types other than Parameter exist in the API but not here, so their
// ids are InvalidResourceId.
//
// Auto Scaling (autoscaling.go): launch configurations are not modelled;
// DescribeLaunchConfigurations always answers an empty list, and
// DescribeAccountLimits none of AWS's default 200. The group quota is the
// world's autoscaling_group_limit (default 500, the Auto Scaling User Guide's
// quota; the API Reference still says 200); a group being deleted counts
// until it is gone. Going past it is LimitExceeded "AutoScalingGroup limit
// exceeded - You may only have N AutoScalingGroups" (the wording follows the
// one reported for launch configurations; AWS documents none for groups).
// CreateAutoScalingGroup and UpdateAutoScalingGroup refuse a launch template
// whose instance type does not support its image's architecture
// (ValidationError "You must use a valid fully-formed launch template. " and
// EC2's message, as Auto Scaling answers); a template that becomes wrong
// later fails the launch activity with EC2's message.
//
// Instance types (ec2_instance_types.go): a table of common types with AWS's
// values; a type not in it does not exist for the sandbox
// (DescribeInstanceTypes: InvalidInstanceType "The following supplied
// instance types do not exist: [a, b]" — how AWS joins several names is not
// documented; RunInstances: InvalidParameterValue "Invalid value '...' for
// InstanceType."; ModifyInstanceAttribute: InvalidInstanceAttributeValue, whose
// wording is the sandbox's, and no architecture check there). Every type is
// offered in every region. DescribeInstanceTypes lists by name, 100 a page
// when MaxResults is not given (AWS documents no default), and refuses the
// filter names it does not model like any unknown filter. RunInstances checks
// the type exists, then the architecture (InvalidParameterValue, EC2's
// "The architecture 'x' of the specified instance type does not match the
// architecture 'y' of the specified AMI. ..." — for a type with several
// architectures the message names x86_64, as AWS's do for t2 types), then an
// instance store-backed image's root device (UnsupportedOperation "AMI '...'
// with an instance-store root device is not supported for the instance type
// '...'."); AWS does not document the order of these checks.
//
// Default VPC (ec2_network.go): an account can have none in a region (world:
// default_vpc). There the region has no VPC, subnet or security group,
// DescribeAccountAttributes' default-vpc is "none", RunInstances without a
// subnet and security groups named by GroupName are VPCIdNotSpecified "No
// default VPC for this user. GroupName is only supported for EC2-Classic and
// default VPC.", CreateSecurityGroup without VpcId is VPCIdNotSpecified "No
// default VPC for this user". AWS does not document what an Auto Scaling
// group given Availability Zones only does without a default VPC; the
// sandbox refuses it at CreateAutoScalingGroup/UpdateAutoScalingGroup with
// ValidationError "No default VPC for this user" (Auto Scaling's wording for
// a launch configuration needing the default VPC; it also checks such a
// group's template against the default VPC at creation), rather than letting
// every launch fail. Creating VPCs and subnets is not modelled.
//
// Instance store-backed images (world: root_device_type: instance-store):
// no snapshot; DescribeImages lists the root device as {DeviceName,
// VirtualName: ephemeral0} with no Ebs member (AWS does not document how it
// lists the root device of such an AMI). CopyImage with Encrypted is
// InvalidParameterCombination (undocumented: EBS encryption applies to the
// copy's snapshots, and there are none); without it the copy stays instance
// store-backed (the Amazon S3 bundle and its permissions are not modelled).
// CreateImage from an instance of one is InvalidParameterValue (CreateImage
// makes an EBS-backed AMI from an EBS-backed instance; the error is not
// documented).
//
// AMI sharing quota (world: limits.image_share_accounts, default 1,000 per
// image and region, the EC2 User Guide's AMI quotas): ModifyImageAttribute
// leaving an image shared with more accounts is ResourceLimitExceeded (AWS
// documents no error for it; the sandbox uses the code and wording style of
// the public AMIs quota, "You have reached your quota of N for ..."); the
// accounts the request leaves are counted, so a swap within the quota passes.
//
// KMS (kms.go, kmsuse.go): GetKeyLastUsage answers the key id as KeyId, and
// an empty KeyLastUsage for a key not used since tracking began (the
// sandbox's start, or the key's creation). The KMS requests EC2 makes for a
// principal are those kmsuse.go decides (CopyImage, RunInstances,
// StartInstances, group launches); CreateImage makes none (the snapshots keep
// their volumes' key). For a key that is not usable, DescribeKey succeeds and
// the next request fails with the key state's error; for an asymmetric key no
// request follows DescribeKey.
//
// CloudTrail (cloudtrail.go): every KMS request that reaches KMS is recorded,
// failed ones included; a request whose key does not resolve only in the
// caller's account; the two copies of a cross-account event have their own
// eventID and share a sharedEventID; EC2's requests carry invokedBy
// ec2.amazonaws.com, an Auto Scaling group's are its service-linked role's
// session AutoScaling with invokedBy autoscaling.amazonaws.com; KMS's internal
// operations (DeleteKey, RotateKey) are not recorded; each account keeps 90
// days and at most 10,000 events per region. Of EC2 (cloudtrail_ec2.go), only
// the requests that change an image's launch or a snapshot's create-volume
// permissions are recorded, in the caller's account, with attributeType in
// place of the Attribute member (CREATE_VOLUME_PERMISSION for a snapshot).
//
// Organizations (organizations.go): DescribeOrganization, and the reads of
// the organization's tree (ListRoots, ListChildren, ListAccountsForParent,
// ListOrganizationalUnitsForParent, ListParents, ListAccounts,
// DescribeAccount, DescribeOrganizationalUnit) from the world's
// organization: block (OUs, delegated administrators, account status; the
// members of no OU, and of another organization, are under the root). Only
// the management account and delegated administrators read the tree
// (AccessDeniedException "You don't have permissions to access this
// resource." otherwise); IAM's organizations:<Action> is checked on "*", not
// on the account, OU or root ARNs. Undocumented, the sandbox's choices:
// FeatureSet ALL and service control policies enabled (the root's
// PolicyTypes too); no MasterAccountEmail, no account Email, Paths or OU
// Path; JoinedMethod INVITED, JoinedTimestamp a day before the sandbox's
// start, State equal to Status; a delegated administrator reads everything;
// OUs listed in the world's order, accounts by id; pages of MaxResults (20
// without it), never shorter while more remain; the checks in the order
// IAM, membership, management or delegated administrator, input, lookups;
// the messages of errors AWS does not word are the model's descriptions
// (InvalidInputException with the model's Reason: INVALID_NEXT_TOKEN,
// MIN_VALUE_EXCEEDED, MAX_VALUE_EXCEEDED, INVALID_PATTERN, INVALID_ENUM).
//
// Counters (admin.go): an action is read-only when its name starts with
// Describe, Get, List or Lookup; every other call counts as mutating
// (Server.MutatingCalls, Server.CallSummary, /_sandbox/counters/summary).
// A request with DryRun=true (EC2, KMS) is counted as "<action> (DryRun)",
// read-only: AWS checks it and changes nothing.
package sandbox
