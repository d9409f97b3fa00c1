package sandbox

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/amicrypt/amicrypt/internal/sandbox/wire"
)

// The network the sandbox models is the one every AWS account starts with: a
// default VPC (172.31.0.0/16) per region, one default subnet (a /20) per
// availability zone, and the VPC's "default" security group. It exists so that
// RunInstances, Auto Scaling groups and Packer's amazon-ebs builder find the
// network they expect; the sandbox routes no traffic. Creating VPCs and subnets
// is not modelled.
//
// A world can say an account has no default VPC in a region (default_vpc:
// {<region>: false}), as an account that deleted it: then that region has no
// VPC, subnet or security group at all, DescribeAccountAttributes' default-vpc
// is "none", and what would fall back on the default VPC is refused with
// VPCIdNotSpecified, EC2's code "You have no default VPC in which to carry out
// the request" (error codes of the EC2 API Reference). Its messages are those
// EC2 answers: "No default VPC for this user" (CreateSecurityGroup without
// VpcId) and "No default VPC for this user. GroupName is only supported for
// EC2-Classic and default VPC." (RunInstances without a subnet, and a
// security group named by GroupName).

func (s *Server) registerEC2Network() {
	s.handle("ec2", "DescribeRegions", s.ec2DescribeRegions)
	s.handle("ec2", "DescribeAvailabilityZones", s.ec2DescribeAvailabilityZones)
	s.handle("ec2", "DescribeVpcs", s.ec2DescribeVpcs)
	s.handle("ec2", "DescribeSubnets", s.ec2DescribeSubnets)
	s.handle("ec2", "DescribeSecurityGroups", s.ec2DescribeSecurityGroups)
	s.handle("ec2", "CreateSecurityGroup", s.ec2CreateSecurityGroup)
	s.handle("ec2", "DeleteSecurityGroup", s.ec2DeleteSecurityGroup)
	s.handle("ec2", "AuthorizeSecurityGroupIngress", s.ec2AuthorizeSecurityGroupIngress)
	s.handle("ec2", "CreateKeyPair", s.ec2CreateKeyPair)
	s.handle("ec2", "DeleteKeyPair", s.ec2DeleteKeyPair)
	s.handle("ec2", "DescribeKeyPairs", s.ec2DescribeKeyPairs)
	s.handle("ec2", "DescribeAccountAttributes", s.ec2DescribeAccountAttributes)
}

// stableID derives a resource id from its owner and place rather than from the
// global counter, so the default network of an account and region has the same
// ids whatever order requests come in.
func stableID(prefix string, parts ...string) string {
	sum := sha256.Sum256([]byte(prefix + "/" + strings.Join(parts, "/")))
	return prefix + "-0" + hex.EncodeToString(sum[:])[:16]
}

// zoneNames are the availability zones the sandbox gives every region.
func zoneNames(region string) []string {
	return []string{region + "a", region + "b", region + "c"}
}

// zoneID is the zone id AWS would show for the i-th zone (us-east-1 -> use1-az1).
func zoneID(region string, i int) string {
	parts := strings.Split(region, "-")
	short := region
	if len(parts) == 3 {
		dir := parts[1]
		abbrev := map[string]string{"north": "n", "south": "s", "east": "e", "west": "w", "central": "c",
			"northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw"}
		if a, ok := abbrev[dir]; ok {
			dir = a
		}
		short = parts[0] + dir + parts[2]
	}
	return fmt.Sprintf("%s-az%d", short, i+1)
}

// errNoDefaultVPC is EC2's refusal of a request that needs the default VPC
// (a launch without a subnet, a security group named by GroupName) in a region
// where the account has none.
func errNoDefaultVPC() error {
	return apiErr("VPCIdNotSpecified", "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
}

// defaultNetwork returns the default VPC of an account and region, creating it
// with its subnets and default security group on first use; nil when the
// account has no default VPC there.
func (c *Cloud) defaultNetwork(account, region string) *VPC {
	r := c.region(account, region)
	if r == nil || r.NoDefaultVPC {
		return nil
	}
	for _, id := range sortedKeys(r.VPCs) {
		if r.VPCs[id].IsDefault {
			return r.VPCs[id]
		}
	}
	vpc := &VPC{ID: stableID("vpc", account, region), CIDR: "172.31.0.0/16", IsDefault: true}
	r.VPCs[vpc.ID] = vpc
	for i, z := range zoneNames(region) {
		sn := &Subnet{ID: stableID("subnet", account, region, z), VPCID: vpc.ID, Zone: z,
			CIDR: fmt.Sprintf("172.31.%d.0/20", 16*i), IsDefault: true}
		r.Subnets[sn.ID] = sn
	}
	sgID := stableID("sg", account, region, vpc.ID, "default")
	r.SecurityGroups[sgID] = &SecurityGroup{
		ID: sgID, Name: "default", Description: "default VPC security group", VPCID: vpc.ID,
		// The default group lets its members talk to each other.
		Ingress: []map[string]any{{"IpProtocol": "-1", "UserIdGroupPairs": []any{map[string]any{"GroupId": sgID, "UserId": account}}}},
	}
	c.markDirty()
	return vpc
}

// defaultSubnet returns the default subnet of a zone ("" = the first zone).
func (c *Cloud) defaultSubnet(account, region, zone string) *Subnet {
	vpc := c.defaultNetwork(account, region)
	if vpc == nil {
		return nil
	}
	if zone == "" {
		zone = zoneNames(region)[0]
	}
	r := c.region(account, region)
	for _, id := range sortedKeys(r.Subnets) {
		if sn := r.Subnets[id]; sn.VPCID == vpc.ID && sn.Zone == zone && sn.IsDefault {
			return sn
		}
	}
	return nil
}

// securityGroupByName finds a security group by name in a VPC.
func (c *Cloud) securityGroupByName(account, region, vpcID, name string) *SecurityGroup {
	r := c.region(account, region)
	for _, id := range sortedKeys(r.SecurityGroups) {
		if g := r.SecurityGroups[id]; g.VPCID == vpcID && g.Name == name {
			return g
		}
	}
	return nil
}

func zoneIndex(region, zone string) int {
	for i, z := range zoneNames(region) {
		if z == zone {
			return i
		}
	}
	return -1
}

func (s *Server) ec2DescribeRegions(c *call) (map[string]any, error) {
	f := wire.Filters(c.in)
	if err := ec2CheckFilters(f, "region-name", "endpoint", "opt-in-status"); err != nil {
		return nil, err
	}
	names := wire.Strs(c.in, "RegionNames")
	for _, n := range names {
		if !c.c.knownRegion(n) {
			// The sandbox serves only its world's regions; AllRegions lists the same ones.
			return nil, apiErr("InvalidParameterValue", "Invalid region: %s", n)
		}
	}
	var out []any
	for _, r := range c.c.state.Regions {
		if len(names) > 0 && !inList(names, r) {
			continue
		}
		endpoint := "ec2." + r + ".amazonaws.com"
		if !ec2Match(f, nil, func(name string) []string {
			switch name {
			case "region-name":
				return []string{r}
			case "endpoint":
				return []string{endpoint}
			}
			return []string{"opt-in-not-required"}
		}) {
			continue
		}
		out = append(out, map[string]any{"RegionName": r, "Endpoint": endpoint, "OptInStatus": "opt-in-not-required"})
	}
	return map[string]any{"Regions": out}, nil
}

func (s *Server) ec2DescribeAvailabilityZones(c *call) (map[string]any, error) {
	f := wire.Filters(c.in)
	if err := ec2CheckFilters(f, "zone-name", "zone-id", "region-name", "state", "zone-type", "group-name", "opt-in-status"); err != nil {
		return nil, err
	}
	names, ids := wire.Strs(c.in, "ZoneNames"), wire.Strs(c.in, "ZoneIds")
	zones := zoneNames(c.region)
	for _, n := range names {
		if !inList(zones, n) {
			return nil, apiErr("InvalidParameterValue", "The zone '%s' does not exist.", n)
		}
	}
	var out []any
	for i, z := range zones {
		id := zoneID(c.region, i)
		if len(names) > 0 && !inList(names, z) || len(ids) > 0 && !inList(ids, id) {
			continue
		}
		fields := map[string]string{"zone-name": z, "zone-id": id, "region-name": c.region, "state": "available",
			"zone-type": "availability-zone", "group-name": c.region, "opt-in-status": "opt-in-not-required"}
		if !ec2Match(f, nil, func(name string) []string { return []string{fields[name]} }) {
			continue
		}
		out = append(out, map[string]any{
			"ZoneName": z, "ZoneId": id, "RegionName": c.region, "State": "available", "ZoneType": "availability-zone",
			"GroupName": c.region, "NetworkBorderGroup": c.region, "OptInStatus": "opt-in-not-required", "Messages": []any{},
		})
	}
	return map[string]any{"AvailabilityZones": out}, nil
}

func (s *Server) ec2DescribeVpcs(c *call) (map[string]any, error) {
	f := wire.Filters(c.in)
	if err := ec2CheckFilters(f, "vpc-id", "is-default", "isDefault", "cidr", "cidr-block-association.cidr-block", "state", "owner-id"); err != nil {
		return nil, err
	}
	c.c.defaultNetwork(c.caller.Account, c.region)
	r := c.c.region(c.caller.Account, c.region)
	ids := wire.Strs(c.in, "VpcIds")
	for _, id := range ids {
		if r.VPCs[id] == nil {
			return nil, apiErr("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", id)
		}
	}
	var out []any
	for _, id := range sortedKeys(r.VPCs) {
		v := r.VPCs[id]
		if len(ids) > 0 && !inList(ids, id) {
			continue
		}
		if !ec2Match(f, v.Tags, func(name string) []string {
			switch name {
			case "vpc-id":
				return []string{v.ID}
			case "is-default", "isDefault":
				return []string{fmt.Sprint(v.IsDefault)}
			case "cidr", "cidr-block-association.cidr-block":
				return []string{v.CIDR}
			case "owner-id":
				return []string{c.caller.Account}
			}
			return []string{"available"}
		}) {
			continue
		}
		out = append(out, map[string]any{
			"VpcId": v.ID, "CidrBlock": v.CIDR, "IsDefault": v.IsDefault, "State": "available", "OwnerId": c.caller.Account,
			"InstanceTenancy": "default", "DhcpOptionsId": stableID("dopt", c.caller.Account, c.region),
			"CidrBlockAssociationSet": []any{map[string]any{"AssociationId": stableID("vpc-cidr-assoc", v.ID), "CidrBlock": v.CIDR, "CidrBlockState": map[string]any{"State": "associated"}}},
			"Tags":                    tagList(v.Tags),
		})
	}
	page, next, err := pageEC2(c, out, 1000)
	if err != nil {
		return nil, err
	}
	res := map[string]any{"Vpcs": page}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

func (s *Server) ec2DescribeSubnets(c *call) (map[string]any, error) {
	f := wire.Filters(c.in)
	if err := ec2CheckFilters(f, "vpc-id", "availability-zone", "availabilityZone", "availability-zone-id", "default-for-az", "defaultForAz",
		"subnet-id", "state", "cidr-block", "cidr", "cidrBlock", "owner-id", "map-public-ip-on-launch"); err != nil {
		return nil, err
	}
	c.c.defaultNetwork(c.caller.Account, c.region)
	r := c.c.region(c.caller.Account, c.region)
	ids := wire.Strs(c.in, "SubnetIds")
	for _, id := range ids {
		if r.Subnets[id] == nil {
			return nil, apiErr("InvalidSubnetID.NotFound", "The subnet ID '%s' does not exist", id)
		}
	}
	var out []any
	for _, id := range sortedKeys(r.Subnets) {
		sn := r.Subnets[id]
		if len(ids) > 0 && !inList(ids, id) {
			continue
		}
		zi := zoneIndex(c.region, sn.Zone)
		if !ec2Match(f, sn.Tags, func(name string) []string {
			switch name {
			case "vpc-id":
				return []string{sn.VPCID}
			case "availability-zone", "availabilityZone":
				return []string{sn.Zone}
			case "availability-zone-id":
				return []string{zoneID(c.region, zi)}
			case "default-for-az", "defaultForAz":
				return []string{fmt.Sprint(sn.IsDefault)}
			case "subnet-id":
				return []string{sn.ID}
			case "cidr-block", "cidr", "cidrBlock":
				return []string{sn.CIDR}
			case "owner-id":
				return []string{c.caller.Account}
			case "map-public-ip-on-launch":
				return []string{fmt.Sprint(sn.IsDefault)}
			}
			return []string{"available"}
		}) {
			continue
		}
		out = append(out, map[string]any{
			"SubnetId": sn.ID, "VpcId": sn.VPCID, "AvailabilityZone": sn.Zone, "AvailabilityZoneId": zoneID(c.region, zi),
			"CidrBlock": sn.CIDR, "DefaultForAz": sn.IsDefault, "MapPublicIpOnLaunch": sn.IsDefault, "State": "available",
			"AvailableIpAddressCount": int64(4091), "OwnerId": c.caller.Account, "AssignIpv6AddressOnCreation": false,
			"SubnetArn": fmt.Sprintf("arn:aws:ec2:%s:%s:subnet/%s", c.region, c.caller.Account, sn.ID),
			"Tags":      tagList(sn.Tags),
		})
	}
	page, next, err := pageEC2(c, out, 1000)
	if err != nil {
		return nil, err
	}
	res := map[string]any{"Subnets": page}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

func (c *Cloud) securityGroupOut(account, region string, g *SecurityGroup) map[string]any {
	ingress := make([]any, 0, len(g.Ingress))
	for _, p := range g.Ingress {
		ingress = append(ingress, p)
	}
	return map[string]any{
		"GroupId": g.ID, "GroupName": g.Name, "Description": g.Description, "VpcId": g.VPCID, "OwnerId": account,
		"SecurityGroupArn": fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", region, account, g.ID),
		"IpPermissions":    ingress,
		// Egress rules are not modelled: every group keeps the default allow-all rule.
		"IpPermissionsEgress": []any{map[string]any{"IpProtocol": "-1", "IpRanges": []any{map[string]any{"CidrIp": "0.0.0.0/0"}}}},
		"Tags":                tagList(g.Tags),
	}
}

func (s *Server) ec2DescribeSecurityGroups(c *call) (map[string]any, error) {
	f := wire.Filters(c.in)
	if err := ec2CheckFilters(f, "group-name", "group-id", "vpc-id", "description", "owner-id"); err != nil {
		return nil, err
	}
	vpc := c.c.defaultNetwork(c.caller.Account, c.region)
	r := c.c.region(c.caller.Account, c.region)
	ids, names := wire.Strs(c.in, "GroupIds"), wire.Strs(c.in, "GroupNames")
	for _, id := range ids {
		if r.SecurityGroups[id] == nil {
			return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
	}
	if len(names) > 0 && vpc == nil {
		return nil, errNoDefaultVPC()
	}
	for _, n := range names {
		// GroupNames look in the default VPC only, as in AWS.
		if c.c.securityGroupByName(c.caller.Account, c.region, vpc.ID, n) == nil {
			return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", n, vpc.ID)
		}
	}
	var out []any
	for _, id := range sortedKeys(r.SecurityGroups) {
		g := r.SecurityGroups[id]
		if len(ids) > 0 && !inList(ids, id) {
			continue
		}
		if len(names) > 0 && (!inList(names, g.Name) || g.VPCID != vpc.ID) {
			continue
		}
		if !ec2Match(f, g.Tags, func(name string) []string {
			switch name {
			case "group-name":
				return []string{g.Name}
			case "group-id":
				return []string{g.ID}
			case "vpc-id":
				return []string{g.VPCID}
			case "description":
				return []string{g.Description}
			}
			return []string{c.caller.Account}
		}) {
			continue
		}
		out = append(out, c.c.securityGroupOut(c.caller.Account, c.region, g))
	}
	page, next, err := pageEC2(c, out, 1000)
	if err != nil {
		return nil, err
	}
	res := map[string]any{"SecurityGroups": page}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

func (s *Server) ec2CreateSecurityGroup(c *call) (map[string]any, error) {
	name, desc := wire.Str(c.in, "GroupName"), wire.Str(c.in, "Description")
	if name == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter groupName")
	}
	if desc == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter groupDescription")
	}
	if strings.HasPrefix(strings.ToLower(name), "sg-") {
		return nil, apiErr("InvalidParameterValue", "Group names may not be in the format sg-*")
	}
	if len(name) > 255 || len(desc) > 255 {
		return nil, apiErr("InvalidParameterValue", "Invalid value for parameter: names and descriptions are at most 255 characters")
	}
	vpc := c.c.defaultNetwork(c.caller.Account, c.region)
	r := c.c.region(c.caller.Account, c.region)
	vpcID := wire.Str(c.in, "VpcId")
	if vpcID == "" {
		if vpc == nil {
			return nil, apiErr("VPCIdNotSpecified", "No default VPC for this user")
		}
		vpcID = vpc.ID
	}
	if r.VPCs[vpcID] == nil {
		return nil, apiErr("InvalidVpcID.NotFound", "The vpc ID '%s' does not exist", vpcID)
	}
	if c.c.securityGroupByName(c.caller.Account, c.region, vpcID, name) != nil {
		return nil, apiErr("InvalidGroup.Duplicate", "The security group '%s' already exists for VPC '%s'", name, vpcID)
	}
	g := &SecurityGroup{ID: c.c.nextID("sg"), Name: name, Description: desc, VPCID: vpcID,
		Tags: tagSpecs(c.in, "security-group")}
	r.SecurityGroups[g.ID] = g
	c.c.markDirty()
	return map[string]any{"GroupId": g.ID, "Tags": createdTags(g.Tags),
		"SecurityGroupArn": fmt.Sprintf("arn:aws:ec2:%s:%s:security-group/%s", c.region, c.caller.Account, g.ID)}, nil
}

// findSecurityGroup resolves GroupId or GroupName (default VPC) of a request.
func (c *Cloud) findSecurityGroup(account, region string, in map[string]any) (*SecurityGroup, error) {
	r := c.region(account, region)
	if id := wire.Str(in, "GroupId"); id != "" {
		g := r.SecurityGroups[id]
		if g == nil {
			return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist", id)
		}
		return g, nil
	}
	name := wire.Str(in, "GroupName")
	if name == "" {
		return nil, apiErr("MissingParameter", "The request must contain the parameter groupName or groupId")
	}
	vpc := c.defaultNetwork(account, region)
	if vpc == nil {
		return nil, errNoDefaultVPC()
	}
	g := c.securityGroupByName(account, region, vpc.ID, name)
	if g == nil {
		return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", name, vpc.ID)
	}
	return g, nil
}

func (s *Server) ec2DeleteSecurityGroup(c *call) (map[string]any, error) {
	g, err := c.c.findSecurityGroup(c.caller.Account, c.region, c.in)
	if err != nil {
		return nil, err
	}
	if g.Name == "default" {
		return nil, apiErr("CannotDelete", "the specified group: \"%s\" name: \"default\" cannot be deleted by a user", g.ID)
	}
	r := c.c.region(c.caller.Account, c.region)
	for _, id := range sortedKeys(r.Instances) {
		in := r.Instances[id]
		if in.State != "terminated" && inList(in.SecurityGroupIDs, g.ID) {
			return nil, apiErr("DependencyViolation", "resource %s has a dependent object", g.ID)
		}
	}
	for _, other := range r.SecurityGroups {
		for _, p := range other.Ingress {
			for _, pair := range wire.Structs(p, "UserIdGroupPairs") {
				if other.ID != g.ID && wire.Str(pair, "GroupId") == g.ID {
					return nil, apiErr("DependencyViolation", "resource %s has a dependent object", g.ID)
				}
			}
		}
	}
	delete(r.SecurityGroups, g.ID)
	c.c.markDirty()
	return map[string]any{"Return": true, "GroupId": g.ID}, nil
}

func (s *Server) ec2AuthorizeSecurityGroupIngress(c *call) (map[string]any, error) {
	g, err := c.c.findSecurityGroup(c.caller.Account, c.region, c.in)
	if err != nil {
		return nil, err
	}
	perms := wire.Structs(c.in, "IpPermissions")
	if len(perms) == 0 {
		// The older flat form: IpProtocol, FromPort, ToPort, CidrIp.
		p := map[string]any{"IpProtocol": wire.Str(c.in, "IpProtocol")}
		if v, ok := wire.IntOK(c.in, "FromPort"); ok {
			p["FromPort"] = v
		}
		if v, ok := wire.IntOK(c.in, "ToPort"); ok {
			p["ToPort"] = v
		}
		if cidr := wire.Str(c.in, "CidrIp"); cidr != "" {
			p["IpRanges"] = []any{map[string]any{"CidrIp": cidr}}
		}
		if src := wire.Str(c.in, "SourceSecurityGroupName"); src != "" {
			vpc := c.c.defaultNetwork(c.caller.Account, c.region)
			if vpc == nil {
				return nil, errNoDefaultVPC()
			}
			sg := c.c.securityGroupByName(c.caller.Account, c.region, vpc.ID, src)
			if sg == nil {
				return nil, apiErr("InvalidGroup.NotFound", "The security group '%s' does not exist in default VPC '%s'", src, vpc.ID)
			}
			p["UserIdGroupPairs"] = []any{map[string]any{"GroupId": sg.ID, "UserId": c.caller.Account}}
		}
		if wire.Str(p, "IpProtocol") == "" {
			return nil, apiErr("MissingParameter", "The request must contain the parameter ipPermissions")
		}
		perms = []map[string]any{p}
	}
	var rules []any
	for _, p := range perms {
		proto := strings.ToLower(wire.Str(p, "IpProtocol"))
		if proto == "" {
			return nil, apiErr("MissingParameter", "The request must contain the parameter ipProtocol")
		}
		p = deepCopyMap(p)
		p["IpProtocol"] = proto
		key := ingressKey(p)
		for _, old := range g.Ingress {
			if ingressKey(old) == key {
				return nil, apiErr("InvalidPermission.Duplicate", "the specified rule \"peer: %s, %s, from port: %d, to port: %d, ALLOW\" already exists",
					ingressPeer(p), strings.ToUpper(proto), wire.Int(p, "FromPort"), wire.Int(p, "ToPort"))
			}
		}
		g.Ingress = append(g.Ingress, p)
		rule := map[string]any{
			"SecurityGroupRuleId": c.c.nextID("sgr"), "GroupId": g.ID, "GroupOwnerId": c.caller.Account,
			"IsEgress": false, "IpProtocol": proto,
		}
		if v, ok := wire.IntOK(p, "FromPort"); ok {
			rule["FromPort"] = v
		}
		if v, ok := wire.IntOK(p, "ToPort"); ok {
			rule["ToPort"] = v
		}
		if r := wire.Structs(p, "IpRanges"); len(r) > 0 {
			rule["CidrIpv4"] = wire.Str(r[0], "CidrIp")
		}
		rules = append(rules, rule)
	}
	c.c.markDirty()
	return map[string]any{"Return": true, "SecurityGroupRules": rules}, nil
}

func ingressPeer(p map[string]any) string {
	var peers []string
	for _, r := range wire.Structs(p, "IpRanges") {
		peers = append(peers, wire.Str(r, "CidrIp"))
	}
	for _, r := range wire.Structs(p, "Ipv6Ranges") {
		peers = append(peers, wire.Str(r, "CidrIpv6"))
	}
	for _, r := range wire.Structs(p, "UserIdGroupPairs") {
		peers = append(peers, wire.Str(r, "GroupId"))
	}
	return strings.Join(peers, ", ")
}

// ingressKey identifies a rule for duplicate detection (descriptions aside).
func ingressKey(p map[string]any) string {
	from, _ := numOK(p, "FromPort")
	to, _ := numOK(p, "ToPort")
	return fmt.Sprintf("%s|%d|%d|%s", strings.ToLower(wire.Str(p, "IpProtocol")), from, to, ingressPeer(p))
}

// ec2CreateKeyPair returns key material shaped like what EC2 returns (a PEM
// block for rsa, an OpenSSH block for ed25519). The material is NOT a usable
// private key: the sandbox runs no instances one could log in to, and Packer's
// builder only stores and later deletes it.
func (s *Server) ec2CreateKeyPair(c *call) (map[string]any, error) {
	name := wire.Str(c.in, "KeyName")
	if name == "" || len(name) > 255 {
		return nil, apiErr("InvalidParameterValue", "Invalid value '%s' for keyName", name)
	}
	keyType := wire.Str(c.in, "KeyType")
	if keyType == "" {
		keyType = "rsa"
	}
	if keyType != "rsa" && keyType != "ed25519" {
		return nil, apiErr("InvalidParameterValue", "Invalid value '%s' for keyType", keyType)
	}
	r := c.c.region(c.caller.Account, c.region)
	for _, kp := range r.KeyPairs {
		if kp.Name == name {
			return nil, apiErr("InvalidKeyPair.Duplicate", "The keypair '%s' already exists.", name)
		}
	}
	body := base64.StdEncoding.EncodeToString([]byte("sandbox-key-material-not-usable/" + c.c.nextToken("keypair", 600)))
	var lines []string
	for len(body) > 64 {
		lines = append(lines, body[:64])
		body = body[64:]
	}
	lines = append(lines, body)
	header := "RSA PRIVATE KEY"
	if keyType == "ed25519" {
		header = "OPENSSH PRIVATE KEY"
	}
	material := "-----BEGIN " + header + "-----\n" + strings.Join(lines, "\n") + "\n-----END " + header + "-----"
	var fp string
	if keyType == "ed25519" {
		sum := sha256.Sum256([]byte(material))
		fp = base64.RawStdEncoding.EncodeToString(sum[:]) + "="
	} else {
		sum := sha1.Sum([]byte(material))
		h := hex.EncodeToString(sum[:])
		var parts []string
		for i := 0; i < len(h); i += 2 {
			parts = append(parts, h[i:i+2])
		}
		fp = strings.Join(parts, ":")
	}
	kp := &KeyPair{ID: c.c.nextID("key"), Name: name, Fingerprint: fp,
		Tags: tagSpecs(c.in, "key-pair")}
	r.KeyPairs[kp.ID] = kp
	c.c.markDirty()
	return map[string]any{"KeyName": name, "KeyPairId": kp.ID, "KeyFingerprint": fp, "KeyMaterial": material, "Tags": createdTags(kp.Tags)}, nil
}

func (c *Cloud) keyPairByName(account, region, name string) *KeyPair {
	r := c.region(account, region)
	for _, id := range sortedKeys(r.KeyPairs) {
		if r.KeyPairs[id].Name == name {
			return r.KeyPairs[id]
		}
	}
	return nil
}

func (s *Server) ec2DeleteKeyPair(c *call) (map[string]any, error) {
	r := c.c.region(c.caller.Account, c.region)
	var kp *KeyPair
	if id := wire.Str(c.in, "KeyPairId"); id != "" {
		kp = r.KeyPairs[id]
		if kp == nil {
			return nil, apiErr("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", id)
		}
	} else if name := wire.Str(c.in, "KeyName"); name != "" {
		// AWS answers success for a key name that does not exist.
		kp = c.c.keyPairByName(c.caller.Account, c.region, name)
	} else {
		return nil, apiErr("MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
	}
	out := map[string]any{"Return": true}
	if kp != nil {
		delete(r.KeyPairs, kp.ID)
		out["KeyPairId"] = kp.ID
		c.c.markDirty()
	}
	return out, nil
}

func (s *Server) ec2DescribeKeyPairs(c *call) (map[string]any, error) {
	f := wire.Filters(c.in)
	if err := ec2CheckFilters(f, "key-name", "key-pair-id", "fingerprint", "key-type"); err != nil {
		return nil, err
	}
	r := c.c.region(c.caller.Account, c.region)
	names, ids := wire.Strs(c.in, "KeyNames"), wire.Strs(c.in, "KeyPairIds")
	for _, n := range names {
		if c.c.keyPairByName(c.caller.Account, c.region, n) == nil {
			return nil, apiErr("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", n)
		}
	}
	for _, id := range ids {
		if r.KeyPairs[id] == nil {
			return nil, apiErr("InvalidKeyPair.NotFound", "The key pair '%s' does not exist", id)
		}
	}
	var out []any
	for _, id := range sortedKeys(r.KeyPairs) {
		kp := r.KeyPairs[id]
		if len(names) > 0 && !inList(names, kp.Name) || len(ids) > 0 && !inList(ids, kp.ID) {
			continue
		}
		kt := "rsa"
		if !strings.Contains(kp.Fingerprint, ":") {
			kt = "ed25519"
		}
		if !ec2Match(f, kp.Tags, func(name string) []string {
			switch name {
			case "key-name":
				return []string{kp.Name}
			case "key-pair-id":
				return []string{kp.ID}
			case "fingerprint":
				return []string{kp.Fingerprint}
			}
			return []string{kt}
		}) {
			continue
		}
		out = append(out, map[string]any{"KeyName": kp.Name, "KeyPairId": kp.ID, "KeyFingerprint": kp.Fingerprint, "KeyType": kt, "Tags": tagList(kp.Tags)})
	}
	return map[string]any{"KeyPairs": out}, nil
}

func (s *Server) ec2DescribeAccountAttributes(c *call) (map[string]any, error) {
	// "default-vpc: The ID of the default VPC for your account, or none"
	// (DescribeAccountAttributes).
	defaultVPC := "none"
	if vpc := c.c.defaultNetwork(c.caller.Account, c.region); vpc != nil {
		defaultVPC = vpc.ID
	}
	attrs := map[string][]string{
		"supported-platforms":                   {"VPC"},
		"default-vpc":                           {defaultVPC},
		"max-instances":                         {"20"},
		"vpc-max-security-groups-per-interface": {"5"},
		"max-elastic-ips":                       {"5"},
		"vpc-max-elastic-ips":                   {"5"},
	}
	names := wire.Strs(c.in, "AttributeNames")
	if len(names) == 0 {
		names = sortedKeys(attrs)
	}
	var out []any
	for _, n := range names {
		vals, ok := attrs[n]
		if !ok {
			return nil, apiErr("InvalidParameterValue", "Value (%s) for parameter attributeName is invalid.", n)
		}
		var vs []any
		for _, v := range vals {
			vs = append(vs, map[string]any{"AttributeValue": v})
		}
		out = append(out, map[string]any{"AttributeName": n, "AttributeValues": vs})
	}
	return map[string]any{"AccountAttributes": out}, nil
}

// --- helpers shared by the instance, launch template and network handlers ---

func inList(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func orEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

// cloneMap deep-copies a decoded value tree (maps and lists).
func deepCopyMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = deepCopyValue(v)
	}
	return out
}

func deepCopyValue(v any) any {
	switch t := v.(type) {
	case map[string]any:
		return deepCopyMap(t)
	case []any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopyValue(e)
		}
		return l
	case []map[string]any:
		l := make([]any, len(t))
		for i, e := range t {
			l[i] = deepCopyMap(e)
		}
		return l
	}
	return v
}

// ec2CheckFilters refuses filter names a Describe call does not support, as EC2
// does even when there is nothing to filter. tag:<key>, tag-key and tag-value
// are always allowed.
func ec2CheckFilters(f map[string][]string, known ...string) error {
	for _, name := range sortedKeys(f) {
		if _, ok := tagAttr(nil, name); ok || inList(known, name) {
			continue
		}
		return apiErr("InvalidParameterValue", "The filter '%s' is invalid", name)
	}
	return nil
}

// ec2Match applies EC2's filter rules (see matchFilters) to one resource: field
// gives its values for a non-tag filter name.
func ec2Match(f map[string][]string, tags Tags, field func(name string) []string) bool {
	for name, patterns := range f {
		have, ok := tagAttr(tags, name)
		if !ok {
			have = field(name)
		}
		if !anyMatch(patterns, have) {
			return false
		}
	}
	return true
}
