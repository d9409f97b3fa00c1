package sandbox

import (
	"encoding/json"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// EC2's management events in CloudTrail's event history: the sandbox records
// every EC2 request that changes who may use an image or a snapshot — an
// image's launch permissions, a snapshot's create-volume permissions — so
// that a test can read, through LookupEvents, every such change in order,
// who made it, when, and what it added or removed (account ids, the group
// all, organization and OU ARNs). Those requests are ModifyImageAttribute,
// ModifySnapshotAttribute, ResetImageAttribute, ResetSnapshotAttribute,
// DisableImage (which removes an image's launch permissions), and
// DeregisterImage and DeleteSnapshot (which end them with the resource).
// Each event is in the caller's account, in the request's region, as
// CloudTrail records EC2 API calls.
//
// The record follows CloudTrail's EC2 events: requestParameters holds the
// request's members in lower camel case with every list as {"items": [...]}
// (so a share is requestParameters.launchPermission.add.items[].userId,
// or .createVolumePermission.add.items[].userId), and a failed request
// carries errorCode "Client.<code>" ("Server.<code>" for a 5xx) and
// errorMessage. LookupEvents' Resources name the image (AWS::EC2::Ami) or
// snapshot (AWS::EC2::Snapshot).
//
// Where AWS does not document a behaviour, the sandbox's choices:
//   - Only the requests above are recorded, not every EC2 management event
//     (Describe*, RunInstances…): they are what tells who could use an
//     image or snapshot and when; the others would crowd the 10,000 events
//     an account keeps per region.
//   - ModifyImageAttribute and ModifySnapshotAttribute record attributeType
//     (launchPermission; CREATE_VOLUME_PERMISSION for a snapshot, as
//     CloudTrail writes it) in place of the request's Attribute member.
//   - A request refused before it reached EC2 (fault injection, request-rate
//     limits, a signature or parameters that did not decode) is not recorded;
//     one refused by IAM, or by EC2 itself, is, with its error code.

const (
	ec2EventSource       = "ec2.amazonaws.com"
	ec2ImageResource     = "AWS::EC2::Ami"
	ec2SnapshotResource  = "AWS::EC2::Snapshot"
	createVolumeAttrType = "CREATE_VOLUME_PERMISSION"
)

// ec2PermissionActions are the EC2 requests recorded in CloudTrail: those
// that change an image's launch or a snapshot's create-volume permissions.
var ec2PermissionActions = map[string]bool{
	"ModifyImageAttribute": true, "ModifySnapshotAttribute": true,
	"ResetImageAttribute": true, "ResetSnapshotAttribute": true,
	"DisableImage": true, "DeregisterImage": true, "DeleteSnapshot": true,
}

// ec2RequestParameters is an EC2 request's requestParameters.
func ec2RequestParameters(action string, in map[string]any) map[string]any {
	out, _ := trailValue(in).(map[string]any)
	if out == nil {
		out = map[string]any{}
	}
	delete(out, "dryRun")
	switch action {
	case "ModifyImageAttribute":
		if attr, ok := out["attribute"]; ok {
			out["attributeType"] = attr
			delete(out, "attribute")
		} else if _, ok := out["description"]; ok {
			out["attributeType"] = "description"
		} else {
			out["attributeType"] = "launchPermission"
		}
	case "ModifySnapshotAttribute":
		delete(out, "attribute")
		out["attributeType"] = createVolumeAttrType
	}
	return out
}

// trailValue writes a decoded request value as CloudTrail does: structure
// members in lower camel case, lists as {"items": [...]}.
func trailValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[lowerFirst(k)] = trailValue(x)
		}
		return out
	case []any:
		items := make([]any, len(v))
		for i, x := range v {
			items[i] = trailValue(x)
		}
		return map[string]any{"items": items}
	case []string:
		items := make([]any, len(v))
		for i, x := range v {
			items[i] = x
		}
		return map[string]any{"items": items}
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	}
	return v
}

// recordEC2Call records an EC2 request that changes permissions
// (ec2PermissionActions); err is how it failed, nil when it took effect.
func (c *Cloud) recordEC2Call(cl *call, err error) {
	if !ec2PermissionActions[cl.action] {
		return
	}
	actor := callerActor(cl.caller, cl.sourceIP, cl.userAgent)
	at := cl.now.UTC().Truncate(time.Second)
	id := c.trailID("event")
	rec := map[string]any{
		"eventVersion":       "1.11",
		"userIdentity":       actor.identity,
		"eventTime":          at.Format(time.RFC3339),
		"eventSource":        ec2EventSource,
		"eventName":          cl.action,
		"awsRegion":          cl.region,
		"sourceIPAddress":    actor.sourceIP,
		"userAgent":          actor.userAgent,
		"requestParameters":  ec2RequestParameters(cl.action, cl.in),
		"responseElements":   map[string]any{"requestId": cl.requestID, "_return": err == nil},
		"requestID":          cl.requestID,
		"eventID":            id,
		"readOnly":           false,
		"eventType":          "AwsApiCall",
		"managementEvent":    true,
		"recipientAccountId": cl.caller.Account,
		"eventCategory":      "Management",
	}
	var code string
	if err != nil {
		ae := asAPIError(err)
		prefix := "Client."
		if ae.Status >= 500 {
			prefix = "Server."
		}
		code = prefix + ae.Code
		rec["errorCode"], rec["errorMessage"] = code, ae.Message
		rec["responseElements"] = nil
	}
	var resources []TrailResource
	if img := wire.Str(cl.in, "ImageId"); img != "" {
		resources = append(resources, TrailResource{Type: ec2ImageResource, Name: img})
	}
	if snap := wire.Str(cl.in, "SnapshotId"); snap != "" {
		resources = append(resources, TrailResource{Type: ec2SnapshotResource, Name: snap})
	}
	b, _ := json.Marshal(rec)
	c.appendEvent(cl.caller.Account, cl.region, &TrailEvent{
		Seq: c.trail.Seq, ID: id, Time: at, Source: ec2EventSource, Name: cl.action,
		Username: actor.username, AccessKeyID: actor.accessKeyID, ErrorCode: code, Resources: resources, Record: string(b),
	})
}
