package sandbox

import (
	"strings"
	"sync"
	"time"

	"github.com/amicrypt/amicrypt/internal/sandbox/world"
)

// AWS's request-rate limits are token buckets per account, region and action
// class. The EC2, STS and the three KMS classes AWS documents separately come
// from world.DefaultBuckets (EC2's API throttling documentation: bucket size /
// refill per second); the other KMS operations share KMS's per-account request
// quotas, modelled here as a bucket holding one second of requests.
var kmsExtraBuckets = map[string]world.Bucket{
	"kms:CreateKey":           {Burst: 5, Rate: 5},
	"kms:CreateAlias":         {Burst: 5, Rate: 5},
	"kms:UpdateAlias":         {Burst: 5, Rate: 5},
	"kms:DeleteAlias":         {Burst: 5, Rate: 5},
	"kms:ScheduleKeyDeletion": {Burst: 5, Rate: 5},
	"kms:control":             {Burst: 100, Rate: 100},
	"kms:crypto":              {Burst: 5500, Rate: 5500},
}

var ec2OwnBuckets = map[string]bool{
	world.BucketCopyImage: true, world.BucketCreateTags: true, world.BucketModifyImageAttribute: true,
	world.BucketModifySnapshotAttribute: true, world.BucketRunInstances: true,
}

var kmsCrypto = map[string]bool{"Decrypt": true, "Encrypt": true, "GenerateDataKey": true, "GenerateDataKeyWithoutPlaintext": true, "ReEncrypt": true}

// bucketClass names the bucket an action draws from ("" = unthrottled).
func bucketClass(service, action string) string {
	switch service {
	case "ec2":
		if ec2OwnBuckets[action] {
			return action
		}
		if strings.HasPrefix(action, "Describe") || strings.HasPrefix(action, "Get") {
			return world.BucketDescribe
		}
		return world.BucketMutating
	case "kms":
		class := "kms:" + action
		if _, ok := world.DefaultBuckets()[class]; ok {
			return class
		}
		if _, ok := kmsExtraBuckets[class]; ok {
			return class
		}
		if kmsCrypto[action] {
			return "kms:crypto"
		}
		return "kms:control"
	case "sts":
		return world.BucketSTS
	case "cloudtrail":
		if action == "LookupEvents" {
			return "cloudtrail:LookupEvents"
		}
	}
	return ""
}

// cloudtrailBuckets: "The rate of lookup requests is limited to two per
// second, per account, per Region" (LookupEvents).
var cloudtrailBuckets = map[string]world.Bucket{
	"cloudtrail:LookupEvents": {Burst: 2, Rate: 2},
}

var defaultBuckets = func() map[string]BucketSetting {
	m := map[string]BucketSetting{}
	for k, b := range world.DefaultBuckets() {
		m[k] = BucketSetting{Burst: float64(b.Burst), Rate: b.Rate}
	}
	for k, b := range kmsExtraBuckets {
		m[k] = BucketSetting{Burst: float64(b.Burst), Rate: b.Rate}
	}
	for k, b := range cloudtrailBuckets {
		m[k] = BucketSetting{Burst: float64(b.Burst), Rate: b.Rate}
	}
	return m
}()

// bucketSetting is the world's override for a class, else AWS's value.
func bucketSetting(cfg Behaviour, class string) BucketSetting {
	if o, ok := cfg.Buckets[class]; ok {
		return o
	}
	return defaultBuckets[class]
}

type bucket struct {
	tokens float64
	last   time.Time
}

// limiter holds the token buckets; it has its own lock so throttled calls never
// wait on the state lock.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

func newLimiter() *limiter { return &limiter{buckets: map[string]*bucket{}} }

// allow takes one token from the account/region/class bucket.
func (l *limiter) allow(account, region, class string, setting BucketSetting, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := account + "/" + region + "/" + class
	b := l.buckets[k]
	if b == nil {
		b = &bucket{tokens: setting.Burst, last: now}
		l.buckets[k] = b
	}
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens += el * setting.Rate
		if b.tokens > setting.Burst {
			b.tokens = setting.Burst
		}
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *limiter) reset() {
	l.mu.Lock()
	l.buckets = map[string]*bucket{}
	l.mu.Unlock()
}
