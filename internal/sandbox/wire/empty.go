package wire

import "sort"

// Empty lists. An operation that returns a list answers an empty list when
// there is nothing in it, and each protocol says so on the wire: EC2 with an
// empty set element (<imagesSet/>), the awsquery services with an empty member
// list (<AutoScalingGroups/>), the JSON services with []. Clients tell that
// apart from an absent member: aws-sdk-go-v2 returns an empty slice instead of
// nil, and the AWS CLI prints {"Images": []} instead of nothing at all. The
// IAM and Auto Scaling models mark these members required; the EC2, KMS and
// SSM models mark no output member required, but the services answer the
// same way (the API references' and the CLI reference's examples, e.g.
// "InvalidParameters": [] from ssm get-parameters).
//
// Unknown in AWS's documentation: which output lists a service sends when
// empty is not said member by member. The sandbox renders every list member of
// an operation's output that the handler leaves out as an empty list, except
// the members AWS returns only when the request asks for them
// (listsOnRequest). Lists inside structures are the handlers' to give.

// listsOnRequest holds, per "service:Operation", the output list members AWS
// returns only when the request asks for them.
var listsOnRequest = map[string][]string{
	// "You can specify only one attribute at a time" (API reference); the
	// 2007 references say of each list "Returned if launchPermission
	// [productCodes] is specified".
	"ec2:DescribeImageAttribute":    {"BlockDeviceMappings", "LaunchPermissions", "ProductCodes"},
	"ec2:DescribeSnapshotAttribute": {"CreateVolumePermissions", "ProductCodes"},
	// The results of DeleteAssociatedSnapshots; without it the CLI
	// reference's example output is {"Return": true}.
	"ec2:DeregisterImage": {"DeleteSnapshotResults"},
	// The tags given in TagSpecifications; the CLI reference's examples
	// without tags show no Tags member.
	"ec2:CreateSecurityGroup": {"Tags"},
	"ec2:CreateKeyPair":       {"Tags"},
}

// EmptyLists returns the output members of the operation that are lists AWS
// returns even when they are empty, sorted; the encoder renders such a member
// as an empty list when the output leaves it out.
func (o *Operation) EmptyLists() []string {
	return append([]string(nil), o.emptyLists...)
}

// emptyListsOf computes Operation.emptyLists once the output shape is resolved.
func emptyListsOf(svc string, op *Operation) []string {
	if op.output == nil {
		return nil
	}
	skip := map[string]bool{}
	for _, m := range listsOnRequest[svc+":"+op.Name] {
		skip[m] = true
	}
	var names []string
	for _, mn := range op.output.MemberNames {
		r := op.output.Members[mn]
		// An empty flattened list is no element at all in awsquery XML; no
		// served output has one, and there is nothing to render for it.
		if r.shape.Type != "list" || skip[mn] || (r.flattened() && op.svc.Protocol == ProtocolQuery) {
			continue
		}
		names = append(names, mn)
	}
	sort.Strings(names)
	return names
}

// fillEmptyLists adds an empty list for each member of op.EmptyLists that out
// lacks, creating out when it is nil.
func (o *Operation) fillEmptyLists(out map[string]any) map[string]any {
	for _, mn := range o.emptyLists {
		if _, ok := out[mn]; ok {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[mn] = []any{}
	}
	return out
}
