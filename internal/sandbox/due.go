package sandbox

import (
	"container/heap"
	"sort"
	"time"
)

// The sandbox's schedule of time-driven work: copies and image creations
// finishing, instances changing state and being forgotten, keys deleted at
// the end of their waiting period or rotated, Auto Scaling groups acting.
//
// Every request first lets time act (advance). Doing so by visiting the
// whole world on every request costs in proportion to the world: with
// 10,000 accounts' regions, keys and images it was a quarter of a large
// benchmark's CPU, all of it under the one lock. Instead each piece of
// pending work is scheduled at its time, and a request does only what has
// come due:
//
//   - after every request, the region it was made in (the only one EC2, Auto
//     Scaling and KMS let a caller change) is looked over again: its pending
//     images, instances in transition or terminated, keys with a deletion or
//     rotation ahead are scheduled at their times, and its Auto Scaling
//     groups are stepped at the next request, as they would be by AWS
//     reacting to the change;
//   - a key changed through another account (a key ARN) schedules itself;
//   - a group is stepped again when one of its activities, its launch
//     backoff or its deletion comes due, or when an instance of its region
//     changes state on its own;
//   - a reload of the state (start, reset) schedules everything anew.
//
// What a caller sees is what the full visit showed: the same work at the
// same moments, groups stepped in the same order.
type schedule struct {
	queue dueQueue
	seq   uint64
	// at is the time each item is scheduled for (one entry in the queue per
	// item is current; an entry whose time is no longer the item's is stale
	// and skipped).
	at map[dueRef]time.Time
	// groups are the regions whose groups step at the next advance.
	groups map[*Region]bool
	built  bool
}

type dueKind uint8

const (
	dueKey dueKind = iota
	dueImage
	dueInstance
	dueGroups // every group of a region
)

type dueRef struct {
	kind            dueKind
	account, region string
	id              string
}

type dueEntry struct {
	at  time.Time
	seq uint64
	ref dueRef
}

type dueQueue []dueEntry

func (q dueQueue) Len() int { return len(q) }
func (q dueQueue) Less(i, j int) bool {
	if !q[i].at.Equal(q[j].at) {
		return q[i].at.Before(q[j].at)
	}
	return q[i].seq < q[j].seq
}
func (q dueQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(x any)   { *q = append(*q, x.(dueEntry)) }
func (q *dueQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// resetSchedule forgets what was scheduled; the next advance schedules
// everything in the state anew (reindex calls it).
func (c *Cloud) resetSchedule() {
	c.due = schedule{}
}

// scheduleAt makes at the time of ref's next work (zero: none).
func (c *Cloud) scheduleAt(ref dueRef, at time.Time) {
	if at.IsZero() {
		delete(c.due.at, ref)
		return
	}
	if cur, ok := c.due.at[ref]; ok && cur.Equal(at) {
		return
	}
	if c.due.at == nil {
		c.due.at = map[dueRef]time.Time{}
	}
	c.due.at[ref] = at
	c.due.seq++
	heap.Push(&c.due.queue, dueEntry{at: at, seq: c.due.seq, ref: ref})
}

// stepGroupsOf steps the region's groups at the next advance.
func (c *Cloud) stepGroupsOf(r *Region) {
	if r == nil || len(r.Groups) == 0 {
		return
	}
	if c.due.groups == nil {
		c.due.groups = map[*Region]bool{}
	}
	c.due.groups[r] = true
}

// lookRegion schedules the pending work of one account's region.
func (c *Cloud) lookRegion(account, region string) {
	a := c.state.Accounts[account]
	if a == nil {
		return
	}
	r := a.Regions[region]
	if r == nil {
		return
	}
	for _, im := range r.Images {
		if im.State == "pending" {
			c.scheduleAt(dueRef{dueImage, account, region, im.ID}, im.AvailableAt)
		}
	}
	for _, in := range r.Instances {
		c.scheduleAt(dueRef{dueInstance, account, region, in.ID}, instanceDue(in))
	}
	for _, k := range r.Keys {
		c.scheduleKey(k)
	}
	c.stepGroupsOf(r)
}

// scheduleKey schedules a key's deletion or next automatic rotation.
func (c *Cloud) scheduleKey(k *Key) {
	c.scheduleAt(dueRef{dueKey, k.Account, k.Region, k.ID}, keyDue(k))
}

func keyDue(k *Key) time.Time {
	switch {
	case k.State == "PendingDeletion":
		return k.DeletionDate
	case k.RotationEnabled && k.State == "Enabled":
		return rotationAnchor(k).Add(rotationPeriod(k))
	}
	return time.Time{}
}

func instanceDue(in *Instance) time.Time {
	switch {
	case in.Next != "" && !in.DueAt.IsZero():
		return in.DueAt
	case in.State == "terminated" && !in.EndedAt.IsZero():
		return in.EndedAt.Add(terminatedLifetime)
	}
	return time.Time{}
}

// groupDue is when a group has something to do by itself: its deletion
// completing, an activity ending, a launch retried after its backoff.
func (c *Cloud) groupDue(r *Region, g *Group) time.Time {
	if g.Status == asgDeleting {
		return g.DeletingAt
	}
	var due time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	for _, a := range g.Activities {
		if a.StatusCode == "InProgress" {
			earlier(a.DueAt)
		}
	}
	if int64(len(c.groupInstancesIn(r, g, "pending", "running"))) < g.DesiredCapacity {
		if until, ok := launchBackoff(g, c.cfg.BootDuration); ok {
			earlier(until)
		}
	}
	return due
}

// advance moves every piece of time-driven work whose moment has come. It
// runs at the start of every request, under the lock, so what a caller sees
// is consistent with the clock.
func (c *Cloud) advance(now time.Time) {
	if !c.due.built {
		c.due.built = true
		for _, ref := range c.regionList {
			c.lookRegion(ref.account, ref.name)
		}
	}
	for len(c.due.queue) > 0 && !c.due.queue[0].at.After(now) {
		e := heap.Pop(&c.due.queue).(dueEntry)
		if cur, ok := c.due.at[e.ref]; !ok || !cur.Equal(e.at) {
			continue // rescheduled since
		}
		delete(c.due.at, e.ref)
		r := c.lookupRegion(e.ref.account, e.ref.region)
		if r == nil {
			continue
		}
		switch e.ref.kind {
		case dueKey:
			if k := r.Keys[e.ref.id]; k != nil {
				c.advanceKey(k, now)
				if c.keyIndex[k.ID] != nil {
					c.scheduleKey(k)
				}
			}
		case dueImage:
			if im := r.Images[e.ref.id]; im != nil {
				c.advanceImage(r, im, now)
			}
		case dueInstance:
			if in := r.Instances[e.ref.id]; in != nil {
				c.advanceInstance(r, in, now)
				if r.Instances[in.ID] != nil {
					c.scheduleAt(e.ref, instanceDue(in))
				}
				c.stepGroupsOf(r)
			}
		case dueGroups:
			c.stepGroupsOf(r)
		}
	}
	c.advanceGroups(now)
}

// advanceGroups steps the groups of the regions that need it, in a fixed
// order (accounts and regions as loaded, then regions in the order they were
// first used; a region's groups by name), so that time-driven work happens
// in the same order on every run, and schedules what each has to do next.
func (c *Cloud) advanceGroups(now time.Time) {
	if len(c.due.groups) == 0 {
		return
	}
	regions := make([]*Region, 0, len(c.due.groups))
	for r := range c.due.groups {
		regions = append(regions, r)
	}
	clear(c.due.groups)
	sort.Slice(regions, func(i, j int) bool { return c.regionPos[regions[i]] < c.regionPos[regions[j]] })
	for _, r := range regions {
		var due time.Time
		var owner, region string
		for _, gn := range sortedKeys(r.Groups) {
			g := r.Groups[gn]
			owner, region = g.Owner, g.Region
			more := c.stepGroup(r, g, now)
			if r.Groups[gn] == nil {
				continue
			}
			t := c.groupDue(r, g)
			if more {
				t = now // it stopped after its most steps: the rest at the next request
			}
			if !t.IsZero() && (due.IsZero() || t.Before(due)) {
				due = t
			}
		}
		if owner != "" {
			c.scheduleAt(dueRef{kind: dueGroups, account: owner, region: region}, due)
		}
	}
}

// lookupRegion is an account's region state, nil when it has none (it
// creates nothing, unlike region).
func (c *Cloud) lookupRegion(account, region string) *Region {
	if a := c.state.Accounts[account]; a != nil {
		return a.Regions[region]
	}
	return nil
}
