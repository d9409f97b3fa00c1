package sandbox

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// CloudTrail's event history: the management events of each account in each
// region, read with LookupEvents (CloudTrail API Reference). The sandbox
// records the requests KMS serves — the ones callers make and the ones EC2
// and Auto Scaling make on a principal's behalf (kmsuse.go) — as the KMS
// Developer Guide's "Logging AWS KMS API calls with AWS CloudTrail" describes:
// an event in the account that owns the key and, for cross-account use, one
// in the caller's account too, except that "cross-account AWS KMS requests
// that are rejected because access is denied are logged only in the caller's
// account". The two copies of a cross-account event have their own eventID
// and share a sharedEventID.
//
// Where AWS does not document a behaviour, the sandbox's choices:
//   - Failed requests are all recorded ("in some scenarios, attempted calls
//     that failed"), with errorCode and errorMessage; requests the sandbox's
//     fault injection or request-rate limits refused never reached KMS and are
//     not recorded, nor are requests whose signature or parameters did not
//     decode.
//   - A request whose key does not resolve is recorded in the caller's
//     account only, without resources.
//   - Events EC2 makes for a principal carry the principal's identity with
//     invokedBy "ec2.amazonaws.com" (sourceIPAddress and userAgent likewise);
//     an Auto Scaling group's launches act as its service-linked role's
//     session named AutoScaling, invokedBy "autoscaling.amazonaws.com".
//   - KMS's own internal operations (DeleteKey at the end of a deletion
//     waiting period, RotateKey) are not recorded.
//   - CreateImage makes no KMS request: the snapshots of an instance's
//     encrypted volumes keep the volumes' key (what EBS asks KMS for when it
//     snapshots an encrypted volume is not modelled).
//   - An account keeps its last 10,000 events per region, and 90 days
//     ("You can look up events that occurred in a Region within the last 90
//     days").
//   - The history is kept with the sandbox's state file, but not shown in
//     /_sandbox/state; /_sandbox/reset clears it.

const (
	trailRetention   = 90 * 24 * time.Hour
	trailMaxEvents   = 10000 // per account and region
	lookupMaxResults = 50
	kmsEventSource   = "kms.amazonaws.com"
	kmsKeyResource   = "AWS::KMS::Key"
)

// TrailEvent is one management event in an account's event history in a region.
type TrailEvent struct {
	Seq         uint64          `json:"seq"`
	ID          string          `json:"id"`
	Time        time.Time       `json:"time"`
	Source      string          `json:"source"`
	Name        string          `json:"name"`
	ReadOnly    bool            `json:"read_only"`
	Username    string          `json:"username,omitempty"`
	AccessKeyID string          `json:"access_key_id,omitempty"`
	ErrorCode   string          `json:"error_code,omitempty"`
	Resources   []TrailResource `json:"resources,omitempty"`
	// Record is the event as CloudTrail writes it (LookupEvents' CloudTrailEvent).
	Record string `json:"record"`
}

// TrailResource is a resource an event names (LookupEvents' Resources).
type TrailResource struct {
	Type string `json:"type"`
	Name string `json:"name"`
}

// Trail is every account's event history; Cloud keeps it beside the state.
type Trail struct {
	Seq uint64 `json:"seq"`
	// Events by "account/region", oldest first.
	Events map[string][]*TrailEvent `json:"events,omitempty"`
}

func newTrail() *Trail { return &Trail{Events: map[string][]*TrailEvent{}} }

func trailKey(account, region string) string { return account + "/" + region }

// trailID returns a new identifier in the UUID shape CloudTrail uses.
func (c *Cloud) trailID(salt string) string {
	c.trail.Seq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("trail/%s/%d", salt, c.trail.Seq)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// TrailEvents returns an account's recorded events in a region, oldest
// first (tests read it; LookupEvents serves the same).
func (s *Server) TrailEvents(account, region string) []TrailEvent {
	s.cloud.mu.Lock()
	defer s.cloud.mu.Unlock()
	var out []TrailEvent
	for _, ev := range s.cloud.trail.Events[trailKey(account, region)] {
		out = append(out, *ev)
	}
	return out
}

// appendEvent adds an event to an account's history in a region, dropping
// what is past the retention period or the cap.
func (c *Cloud) appendEvent(account, region string, ev *TrailEvent) {
	k := trailKey(account, region)
	list := append(c.trail.Events[k], ev)
	cut := 0
	for cut < len(list) && list[cut].Time.Before(ev.Time.Add(-trailRetention)) {
		cut++
	}
	if over := len(list) - cut - trailMaxEvents; over > 0 {
		cut += over
	}
	if cut > 0 {
		list = append([]*TrailEvent(nil), list[cut:]...)
	}
	c.trail.Events[k] = list
	c.markDirty()
}

// ---------------------------------------------------------------------------
// Who made a request

// trailActor is who made a request, as CloudTrail records it.
type trailActor struct {
	identity    map[string]any // userIdentity
	username    string         // LookupEvents' Username
	accessKeyID string
	account     string
	sourceIP    string
	userAgent   string
}

// callerActor describes a request's caller: Root, IAMUser or AssumedRole.
func callerActor(cl *Caller, sourceIP, userAgent string) trailActor {
	a := trailActor{account: cl.Account, accessKeyID: cl.AccessKeyID, sourceIP: sourceIP, userAgent: userAgent}
	id := map[string]any{"arn": cl.ARN, "accountId": cl.Account}
	if cl.AccessKeyID != "" {
		id["accessKeyId"] = cl.AccessKeyID
	}
	switch {
	case cl.IsRoot:
		id["type"], id["principalId"] = "Root", cl.Account
		a.username = "root"
	case cl.RoleARN != "":
		id["type"], id["principalId"] = "AssumedRole", cl.UserID
		id["sessionContext"] = sessionContext(cl.Account, cl.RoleName, cl.RoleID, cl.RoleARN, cl.SessionIssued)
		if cl.SourceIdentity != "" {
			id["sessionContext"].(map[string]any)["sourceIdentity"] = cl.SourceIdentity
		}
		a.username = cl.SessionName
	default:
		id["type"], id["principalId"], id["userName"] = "IAMUser", cl.UserID, cl.UserName
		a.username = cl.UserName
	}
	a.identity = id
	return a
}

func sessionContext(account, roleName, roleID, roleARN string, issued time.Time) map[string]any {
	return map[string]any{
		"sessionIssuer": map[string]any{"type": "Role", "principalId": roleID, "arn": roleARN, "accountId": account, "userName": roleName},
		"attributes":    map[string]any{"creationDate": issued.UTC().Format(time.RFC3339), "mfaAuthenticated": "false"},
	}
}

// invokedBy is the actor as an AWS service acting for it records it: the
// same identity with invokedBy, and the service as source and user agent.
func (a trailActor) invokedBy(service string) trailActor {
	id := make(map[string]any, len(a.identity)+1)
	for k, v := range a.identity {
		id[k] = v
	}
	id["invokedBy"] = service
	a.identity, a.sourceIP, a.userAgent = id, service, service
	return a
}

// serviceRoleActor is a service-linked role's session as the service uses
// it (an Auto Scaling group's launches: session AutoScaling).
func serviceRoleActor(account string, r *Role, session, service string, at time.Time) trailActor {
	id := map[string]any{
		"type": "AssumedRole", "principalId": r.RoleID + ":" + session,
		"arn":       fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", account, r.Name, session),
		"accountId": account, "sessionContext": sessionContext(account, r.Name, r.RoleID, r.ARN, at),
		"invokedBy": service,
	}
	return trailActor{identity: id, username: session, account: account, sourceIP: service, userAgent: service}
}

// ---------------------------------------------------------------------------
// KMS events

// kmsReadOnly is CloudTrail's readOnly for a KMS operation: the
// cryptographic operations and the Describe/Get/List ones read (the KMS
// Developer Guide's log examples: Decrypt, Encrypt and
// GenerateDataKeyWithoutPlaintext have readOnly true, CreateGrant false).
func kmsReadOnly(op string) bool {
	if ReadOnlyAction(op) {
		return true
	}
	switch op {
	case "Decrypt", "Encrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
		"GenerateDataKeyPairWithoutPlaintext", "GenerateMac", "VerifyMac", "Sign", "Verify", "DeriveSharedSecret", "GenerateRandom":
		return true
	}
	return false
}

// kmsTrackedOps are the operations GetKeyLastUsage reports (its
// KeyLastUsageTrackingOperation values).
var kmsTrackedOps = map[string]bool{
	"Decrypt": true, "DeriveSharedSecret": true, "Encrypt": true, "GenerateDataKey": true, "GenerateDataKeyPair": true,
	"GenerateDataKeyPairWithoutPlaintext": true, "GenerateDataKeyWithoutPlaintext": true, "GenerateMac": true,
	"ReEncrypt": true, "Sign": true, "Verify": true, "VerifyMac": true,
}

// kmsEvent is one KMS request to record.
type kmsEvent struct {
	actor     trailActor
	at        time.Time
	region    string
	name      string
	requestID string
	params    map[string]any
	keys      []*Key
	errCode   string
	errMsg    string
}

// recordKMS writes a KMS request's events and, for a successful
// cryptographic operation, the keys' last usage.
func (c *Cloud) recordKMS(ev kmsEvent) {
	accounts := []string{}
	add := func(a string) {
		if !slices.Contains(accounts, a) {
			accounts = append(accounts, a)
		}
	}
	if ev.errCode != "AccessDeniedException" {
		for _, k := range ev.keys {
			add(k.Account)
		}
	}
	add(ev.actor.account)
	shared := ""
	if len(accounts) > 1 {
		shared = c.trailID("shared")
	}
	if ev.requestID == "" {
		ev.requestID = c.trailID("request")
	}
	var resources []TrailResource
	var recResources []any
	for _, k := range ev.keys {
		resources = append(resources, TrailResource{Type: kmsKeyResource, Name: k.ARN})
		recResources = append(recResources, map[string]any{"accountId": k.Account, "type": kmsKeyResource, "ARN": k.ARN})
	}
	at := ev.at.UTC().Truncate(time.Second)
	ownerEvent := map[string]string{}
	for _, acct := range accounts {
		id := c.trailID("event")
		rec := map[string]any{
			"eventVersion":       "1.11",
			"userIdentity":       ev.actor.identity,
			"eventTime":          at.Format(time.RFC3339),
			"eventSource":        kmsEventSource,
			"eventName":          ev.name,
			"awsRegion":          ev.region,
			"sourceIPAddress":    ev.actor.sourceIP,
			"userAgent":          ev.actor.userAgent,
			"requestParameters":  ev.params,
			"responseElements":   nil,
			"requestID":          ev.requestID,
			"eventID":            id,
			"readOnly":           kmsReadOnly(ev.name),
			"eventType":          "AwsApiCall",
			"managementEvent":    true,
			"recipientAccountId": acct,
			"eventCategory":      "Management",
		}
		if ev.errCode != "" {
			rec["errorCode"], rec["errorMessage"] = ev.errCode, ev.errMsg
		}
		if len(recResources) > 0 {
			rec["resources"] = recResources
		}
		if shared != "" {
			rec["sharedEventID"] = shared
		}
		b, _ := json.Marshal(rec)
		c.appendEvent(acct, ev.region, &TrailEvent{
			Seq: c.trail.Seq, ID: id, Time: at, Source: kmsEventSource, Name: ev.name, ReadOnly: kmsReadOnly(ev.name),
			Username: ev.actor.username, AccessKeyID: ev.actor.accessKeyID, ErrorCode: ev.errCode, Resources: resources, Record: string(b),
		})
		ownerEvent[acct] = id
	}
	if ev.errCode == "" && kmsTrackedOps[ev.name] {
		for _, k := range ev.keys {
			k.LastUsage = &KeyUsage{Operation: ev.name, Time: at, EventID: ownerEvent[k.Account], RequestID: ev.requestID}
		}
	}
}

// kmsRequestParameters is the requestParameters of a direct KMS request: its
// members with CloudTrail's lower-camel names, without the ciphertexts and
// grant tokens KMS leaves out of its log entries, and with the key ARN as
// keyId when the request named no key (Decrypt of a symmetric ciphertext).
func kmsRequestParameters(op string, in map[string]any, keys []*Key) map[string]any {
	out := map[string]any{}
	for k, v := range in {
		switch v.(type) {
		case []byte:
			continue
		}
		if k == "GrantTokens" || k == "GrantToken" {
			continue
		}
		out[lowerFirst(k)] = v
	}
	if _, ok := out["keyId"]; !ok && len(keys) == 1 && op != "CreateKey" {
		out["keyId"] = keys[0].ARN
	}
	if op == "Decrypt" {
		if _, ok := out["encryptionAlgorithm"]; !ok {
			out["encryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
		}
	}
	return out
}

// recordKMSCall records a KMS request the sandbox served (server.serve).
func (c *Cloud) recordKMSCall(cl *call, err error) {
	ev := kmsEvent{
		actor: callerActor(cl.caller, cl.sourceIP, cl.userAgent), at: cl.now, region: cl.region, name: cl.action,
		requestID: cl.requestID, keys: cl.kmsKeys, params: kmsRequestParameters(cl.action, cl.in, cl.kmsKeys),
	}
	if err != nil {
		ae := asAPIError(err)
		ev.errCode, ev.errMsg = ae.Code, ae.Message
	}
	c.recordKMS(ev)
}

// noteKMSKey remembers a key a KMS request acts on, for its event.
func (cl *call) noteKMSKey(k *Key) {
	if k != nil && !slices.Contains(cl.kmsKeys, k) {
		cl.kmsKeys = append(cl.kmsKeys, k)
	}
}

// ---------------------------------------------------------------------------
// LookupEvents

var lookupAttributeKeys = []string{"EventId", "EventName", "ReadOnly", "Username", "ResourceType", "ResourceName", "EventSource", "AccessKeyId"}

func (s *Server) registerCloudTrail() {
	s.handle("cloudtrail", "LookupEvents", ctLookupEvents)
}

// lookupToken is LookupEvents' NextToken: the request's parameters (a token
// "must be passed in with the same parameters that were specified in the
// original call") and the last event returned.
func lookupToken(params string, last *TrailEvent) string {
	return base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("v1|%s|%d|%d", params, last.Time.UnixNano(), last.Seq)))
}

// ctLookupEvents looks up the caller's account's management events in the
// request's region, newest first. Insights events are not modelled:
// EventCategory insight finds none.
func ctLookupEvents(c *call) (map[string]any, error) {
	attrs := wire.Structs(c.in, "LookupAttributes")
	if len(attrs) > 1 {
		return nil, apiErr("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute.")
	}
	var key, value string
	if len(attrs) == 1 {
		key, value = wire.Str(attrs[0], "AttributeKey"), wire.Str(attrs[0], "AttributeValue")
		if !slices.Contains(lookupAttributeKeys, key) {
			return nil, apiErr("InvalidLookupAttributesException", "The attribute key %s is not valid. Valid keys: %s", key, strings.Join(lookupAttributeKeys, ", "))
		}
		if value == "" || len(value) > 2000 {
			return nil, apiErr("InvalidLookupAttributesException", "The attribute value must be 1 to 2000 characters long.")
		}
	}
	category := wire.Str(c.in, "EventCategory")
	if category != "" && category != "insight" {
		return nil, apiErr("InvalidEventCategoryException", "The event category %s is not valid. Valid value: insight", category)
	}
	limit := int64(lookupMaxResults)
	if n, ok := wire.IntOK(c.in, "MaxResults"); ok {
		if n < 1 || n > lookupMaxResults {
			return nil, apiErr("InvalidMaxResultsException", "MaxResults must be between 1 and %d (got %d).", lookupMaxResults, n)
		}
		limit = n
	}
	start, hasStart := c.in["StartTime"].(time.Time)
	end, hasEnd := c.in["EndTime"].(time.Time)
	if hasStart && hasEnd && start.After(end) {
		return nil, apiErr("InvalidTimeRangeException", "The start time %s is after the end time %s.", start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	params := fmt.Sprintf("%s=%s;%v;%v;%s", key, value, start.UnixNano(), end.UnixNano(), category)
	paramSum := sha256.Sum256([]byte(params))
	paramTag := hex.EncodeToString(paramSum[:8])
	var afterTime time.Time
	var afterSeq uint64
	paging := false
	if tok := wire.Str(c.in, "NextToken"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		parts := strings.Split(string(raw), "|")
		if err != nil || len(parts) != 4 || parts[0] != "v1" || parts[1] != paramTag {
			return nil, apiErr("InvalidNextTokenException", "The NextToken is not valid, or was used with other parameters.")
		}
		nanos, err1 := strconv.ParseInt(parts[2], 10, 64)
		seq, err2 := strconv.ParseUint(parts[3], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, apiErr("InvalidNextTokenException", "The NextToken is not valid.")
		}
		afterTime, afterSeq, paging = time.Unix(0, nanos), seq, true
	}

	events := []any{}
	if category == "insight" {
		return map[string]any{"Events": events}, nil
	}
	all := append([]*TrailEvent(nil), c.c.trail.Events[trailKey(c.caller.Account, c.region)]...)
	sort.SliceStable(all, func(i, j int) bool {
		if !all[i].Time.Equal(all[j].Time) {
			return all[i].Time.After(all[j].Time)
		}
		return all[i].Seq > all[j].Seq
	})
	oldest := c.now.Add(-trailRetention)
	var last *TrailEvent
	more := false
	for _, ev := range all {
		if ev.Time.Before(oldest) || hasStart && ev.Time.Before(start) || hasEnd && ev.Time.After(end) {
			continue
		}
		if paging && (ev.Time.After(afterTime) || ev.Time.Equal(afterTime) && ev.Seq >= afterSeq) {
			continue
		}
		if key != "" && !lookupMatches(ev, key, value) {
			continue
		}
		if int64(len(events)) == limit {
			more = true
			break
		}
		events = append(events, lookupEventOut(ev))
		last = ev
	}
	out := map[string]any{"Events": events}
	if more {
		out["NextToken"] = lookupToken(paramTag, last)
	}
	return out, nil
}

func lookupMatches(ev *TrailEvent, key, value string) bool {
	switch key {
	case "EventId":
		return ev.ID == value
	case "EventName":
		return ev.Name == value
	case "ReadOnly":
		return strconv.FormatBool(ev.ReadOnly) == value
	case "Username":
		return ev.Username == value
	case "EventSource":
		return ev.Source == value
	case "AccessKeyId":
		return ev.AccessKeyID == value
	case "ResourceType", "ResourceName":
		for _, r := range ev.Resources {
			if key == "ResourceType" && r.Type == value || key == "ResourceName" && r.Name == value {
				return true
			}
		}
	}
	return false
}

func lookupEventOut(ev *TrailEvent) map[string]any {
	res := []any{}
	for _, r := range ev.Resources {
		res = append(res, map[string]any{"ResourceType": r.Type, "ResourceName": r.Name})
	}
	out := map[string]any{
		"EventId": ev.ID, "EventName": ev.Name, "ReadOnly": strconv.FormatBool(ev.ReadOnly), "EventTime": ev.Time,
		"EventSource": ev.Source, "Resources": res, "CloudTrailEvent": ev.Record,
	}
	if ev.Username != "" {
		out["Username"] = ev.Username
	}
	if ev.AccessKeyID != "" {
		out["AccessKeyId"] = ev.AccessKeyID
	}
	return out
}
