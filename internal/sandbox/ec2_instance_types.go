package sandbox

import (
	"fmt"
	"sort"
	"strings"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// Instance types: the table DescribeInstanceTypes answers from, and what a
// launch checks against it (the instance type exists, and supports the
// architecture of the image).
//
// The table holds common types with AWS's values (the EC2 instance types
// specifications and DescribeInstanceTypes: default vCPUs, cores and threads
// per core, memory in MiB, supported architectures, hypervisor). It is not
// every type AWS offers: a type missing from it does not exist for the
// sandbox (DescribeInstanceTypes: InvalidInstanceType; RunInstances:
// InvalidParameterValue), and every type in it is offered in every region of
// the world.

// instanceType is one row of the table.
type instanceType struct {
	name          string
	vcpus, cores  int64
	threads       int64
	memoryMiB     int64
	archs         []string
	manufacturer  string // ProcessorInfo.Manufacturer
	hypervisor    string // "" for bare metal
	current       bool   // CurrentGeneration
	burstable     bool   // BurstablePerformanceSupported
	bareMetal     bool
	rootDevices   []string // SupportedRootDeviceTypes
	virtTypes     []string // SupportedVirtualizationTypes
	usageClasses  []string // SupportedUsageClasses
	instanceStore bool     // InstanceStorageSupported
}

// itype builds a current-generation, Nitro, EBS-only, HVM row of vcpus vCPUs
// (threads per core as given) and mem MiB; burstable for the T types.
func itype(name string, vcpus, threads, mem int64, manufacturer string, archs ...string) instanceType {
	return instanceType{
		name: name, vcpus: vcpus, cores: vcpus / threads, threads: threads, memoryMiB: mem, archs: archs,
		manufacturer: manufacturer, hypervisor: "nitro", current: true, burstable: strings.HasPrefix(name, "t"),
		rootDevices: []string{"ebs"}, virtTypes: []string{"hvm"}, usageClasses: []string{"on-demand", "spot"},
	}
}

const (
	intel    = "Intel"
	amd      = "AMD"
	graviton = "AWS"
	x86      = "x86_64"
	arm      = "arm64"
)

var instanceTypeTable = func() []instanceType {
	t := []instanceType{
		// m1.small is RunInstances' documented default instance type: previous
		// generation, Xen, 32- and 64-bit, instance store or EBS root.
		{name: "m1.small", vcpus: 1, cores: 1, threads: 1, memoryMiB: 1740, archs: []string{"i386", x86}, manufacturer: intel,
			hypervisor: "xen", rootDevices: []string{"ebs", "instance-store"}, virtTypes: []string{"hvm", "paravirtual"},
			usageClasses: []string{"on-demand", "spot"}, instanceStore: true},
		// mac1.metal: bare metal (no hypervisor) on a Dedicated Host, an Intel
		// Mac mini; On-Demand only.
		{name: "mac1.metal", vcpus: 12, cores: 6, threads: 2, memoryMiB: 32768, archs: []string{"x86_64_mac"}, manufacturer: intel,
			current: true, bareMetal: true, rootDevices: []string{"ebs"}, virtTypes: []string{"hvm"},
			usageClasses: []string{"on-demand"}},
	}
	// T2: Xen; the small sizes also run 32-bit AMIs.
	for _, s := range []struct {
		size       string
		vcpus, mem int64
	}{{"nano", 1, 512}, {"micro", 1, 1024}, {"small", 1, 2048}, {"medium", 2, 4096}} {
		r := itype("t2."+s.size, s.vcpus, 1, s.mem, intel, "i386", x86)
		r.hypervisor = "xen"
		t = append(t, r)
	}
	burst := []struct {
		size       string
		vcpus, mem int64
	}{{"nano", 2, 512}, {"micro", 2, 1024}, {"small", 2, 2048}, {"medium", 2, 4096}, {"large", 2, 8192}, {"xlarge", 4, 16384}, {"2xlarge", 8, 32768}}
	for _, s := range burst {
		t = append(t, itype("t3."+s.size, s.vcpus, 2, s.mem, intel, x86))
		t = append(t, itype("t3a."+s.size, s.vcpus, 2, s.mem, amd, x86))
		t = append(t, itype("t4g."+s.size, s.vcpus, 1, s.mem, graviton, arm))
	}
	t = append(t,
		itype("m5.large", 2, 2, 8192, intel, x86), itype("m5.xlarge", 4, 2, 16384, intel, x86), itype("m5.2xlarge", 8, 2, 32768, intel, x86),
		itype("m5a.large", 2, 2, 8192, amd, x86),
		itype("m6i.large", 2, 2, 8192, intel, x86), itype("m6a.large", 2, 2, 8192, amd, x86), itype("m7i.large", 2, 2, 8192, intel, x86),
		itype("c5.large", 2, 2, 4096, intel, x86), itype("c5.xlarge", 4, 2, 8192, intel, x86), itype("c5.2xlarge", 8, 2, 16384, intel, x86),
		itype("c6i.large", 2, 2, 4096, intel, x86), itype("c7i.large", 2, 2, 4096, intel, x86),
		itype("r5.large", 2, 2, 16384, intel, x86),
		itype("a1.medium", 1, 1, 2048, graviton, arm), itype("a1.large", 2, 1, 4096, graviton, arm), itype("a1.xlarge", 4, 1, 8192, graviton, arm),
		itype("m6g.medium", 1, 1, 4096, graviton, arm), itype("m6g.large", 2, 1, 8192, graviton, arm), itype("m6g.xlarge", 4, 1, 16384, graviton, arm),
		itype("c6g.medium", 1, 1, 2048, graviton, arm), itype("c6g.large", 2, 1, 4096, graviton, arm), itype("c6g.xlarge", 4, 1, 8192, graviton, arm),
		itype("r6g.large", 2, 1, 16384, graviton, arm),
		itype("c7g.medium", 1, 1, 2048, graviton, arm), itype("c7g.large", 2, 1, 4096, graviton, arm),
		itype("m7g.medium", 1, 1, 4096, graviton, arm), itype("m7g.large", 2, 1, 8192, graviton, arm),
		itype("r7g.large", 2, 1, 16384, graviton, arm),
	)
	// By name: the order DescribeInstanceTypes pages through (AWS documents
	// no order).
	sort.Slice(t, func(i, j int) bool { return t[i].name < t[j].name })
	return t
}()

// lookupInstanceType finds a type of the table (nil when the sandbox does not
// know it).
func lookupInstanceType(name string) *instanceType {
	for i := range instanceTypeTable {
		if instanceTypeTable[i].name == name {
			return &instanceTypeTable[i]
		}
	}
	return nil
}

// supports reports whether the type runs images of an architecture.
func (t *instanceType) supports(arch string) bool { return inList(t.archs, arch) }

// checkLaunchType is RunInstances' check of an instance type against the
// image: the type must exist (InvalidParameterValue, "Invalid value '...' for
// InstanceType.", as EC2 answers), support the image's architecture
// (InvalidParameterValue with EC2's message naming both architectures) and,
// for an instance store-backed image, an instance store root device
// (UnsupportedOperation, as EC2 answers). Which check EC2 makes first is not
// documented; the sandbox checks in this order.
func checkLaunchType(name string, im *Image) error {
	t := lookupInstanceType(name)
	if t == nil {
		return apiErr("InvalidParameterValue", "Invalid value '%s' for InstanceType.", name)
	}
	arch := im.Architecture
	if arch == "" {
		arch = x86
	}
	if !t.supports(arch) {
		return apiErr("InvalidParameterValue", "The architecture '%s' of the specified instance type does not match the architecture '%s' of the specified AMI. "+
			"Specify an instance type and an AMI that have matching architectures, and try again. "+
			"You can use 'describe-instance-types' or 'describe-images' to discover the architecture of the instance type or AMI.", t.archForMessage(), arch)
	}
	if im.isInstanceStore() && !inList(t.rootDevices, "instance-store") {
		return apiErr("UnsupportedOperation", "AMI '%s' with an instance-store root device is not supported for the instance type '%s'.", im.ID, t.name)
	}
	return nil
}

// archForMessage is the architecture EC2's mismatch message names for the
// type: its 64-bit one when it has several (AWS's messages show x86_64 for
// t2 and m1 types; which one it names is not documented).
func (t *instanceType) archForMessage() string {
	if len(t.archs) > 1 && inList(t.archs, x86) {
		return x86
	}
	return t.archs[0]
}

func (t *instanceType) out() map[string]any {
	archs := make([]any, len(t.archs))
	for i, a := range t.archs {
		archs[i] = a
	}
	out := map[string]any{
		"InstanceType":                  t.name,
		"CurrentGeneration":             t.current,
		"SupportedUsageClasses":         t.usageClasses,
		"SupportedRootDeviceTypes":      t.rootDevices,
		"SupportedVirtualizationTypes":  t.virtTypes,
		"BareMetal":                     t.bareMetal,
		"ProcessorInfo":                 map[string]any{"SupportedArchitectures": archs, "Manufacturer": t.manufacturer},
		"VCpuInfo":                      map[string]any{"DefaultVCpus": t.vcpus, "DefaultCores": t.cores, "DefaultThreadsPerCore": t.threads},
		"MemoryInfo":                    map[string]any{"SizeInMiB": t.memoryMiB},
		"InstanceStorageSupported":      t.instanceStore,
		"BurstablePerformanceSupported": t.burstable,
		"SupportedInRegion":             true,
	}
	if t.hypervisor != "" {
		out["Hypervisor"] = t.hypervisor
	}
	return out
}

// instanceTypeAttr answers the DescribeInstanceTypes filters the sandbox
// models; ok is false for the others.
func (t *instanceType) attr(name string) ([]string, bool) {
	switch name {
	case "instance-type":
		return []string{t.name}, true
	case "processor-info.supported-architecture":
		return t.archs, true
	case "processor-info.manufacturer":
		return []string{t.manufacturer}, true
	case "vcpu-info.default-vcpus":
		return []string{fmt.Sprint(t.vcpus)}, true
	case "vcpu-info.default-cores":
		return []string{fmt.Sprint(t.cores)}, true
	case "vcpu-info.default-threads-per-core":
		return []string{fmt.Sprint(t.threads)}, true
	case "memory-info.size-in-mib":
		return []string{fmt.Sprint(t.memoryMiB)}, true
	case "current-generation":
		return []string{boolStr(t.current)}, true
	case "bare-metal":
		return []string{boolStr(t.bareMetal)}, true
	case "burstable-performance-supported":
		return []string{boolStr(t.burstable)}, true
	case "hypervisor":
		return []string{t.hypervisor}, true
	case "supported-root-device-type":
		return t.rootDevices, true
	case "supported-virtualization-type":
		return t.virtTypes, true
	case "supported-usage-class":
		return t.usageClasses, true
	case "instance-storage-supported":
		return []string{boolStr(t.instanceStore)}, true
	}
	return nil, false
}

func (s *Server) registerEC2InstanceTypes() {
	s.handle("ec2", "DescribeInstanceTypes", s.ec2DescribeInstanceTypes)
}

// ec2DescribeInstanceTypes describes the instance types of the table.
// InstanceTypes names at most 100 types; one the sandbox does not know is
// InvalidInstanceType, "The following supplied instance types do not exist:
// [...]" (the wording EC2 answers; how it joins several names is not
// documented, the sandbox separates them with ", "). MaxResults is 5 to 100
// (the model's range); without it a page holds 100 types (the maximum; AWS
// does not document its default page size). The filters are those of the
// EC2 API Reference the table has values for; any other filter name is
// InvalidParameterValue, as for the other Describe calls (a deviation for the
// filter names AWS has and the sandbox does not model).
func (s *Server) ec2DescribeInstanceTypes(c *call) (map[string]any, error) {
	names := wire.Strs(c.in, "InstanceTypes")
	if len(names) > 100 {
		return nil, apiErr("InvalidParameterValue", "The request names %d instance types; at most 100 are allowed.", len(names))
	}
	if n, ok := wire.IntOK(c.in, "MaxResults"); ok && (n < 5 || n > 100) {
		return nil, apiErr("InvalidParameterValue", "Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 100.", n)
	}
	var missing []string
	for _, n := range names {
		if lookupInstanceType(n) == nil && !inList(missing, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, apiErr("InvalidInstanceType", "The following supplied instance types do not exist: [%s]", strings.Join(missing, ", "))
	}
	filters := parseFilters(c.in)
	var items []any
	for i := range instanceTypeTable {
		t := &instanceTypeTable[i]
		if len(names) > 0 && !inList(names, t.name) {
			continue
		}
		ok, err := matchFilters(filters, t.attr)
		if err != nil {
			return nil, err
		}
		if ok {
			items = append(items, t.out())
		}
	}
	page, next, err := pageEC2(c, items, 100)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"InstanceTypes": page}
	if next != "" {
		out["NextToken"] = next
	}
	return out, nil
}
