// Package sandbox is a local AWS-compatible endpoint: EC2, KMS, IAM, STS,
// SSM, Auto Scaling and CloudTrail, over the wire protocols of their botocore
// models (package wire), with the state of a world of accounts (package
// world). It follows AWS's documentation and service models. Where AWS does
// not document a behaviour, the code says so next to the choice it makes
// ("AWS does not document …; the sandbox …"); the choices about images,
// image references, SSM tags, KMS last usage and CloudTrail are:
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
// DescribeLaunchConfigurations always answers an empty list.
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
// days and at most 10,000 events per region.
//
// Counters (admin.go): an action is read-only when its name starts with
// Describe, Get, List or Lookup; every other call counts as mutating
// (Server.MutatingCalls, Server.CallSummary, /_sandbox/counters/summary).
package sandbox
