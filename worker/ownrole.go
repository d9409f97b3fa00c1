package worker

import (
	"context"
	"strings"

	"github.com/amicrypt/amicrypt/activities"
)

// WithOwnRole returns clients that use the worker's own credentials for any
// access naming the role the worker already runs as (callerARN, from
// sts:GetCallerIdentity: arn:aws:sts::A:assumed-role/R/session).
//
// A worker usually runs as the builder account's pipeline role (EKS IRSA, an
// instance role), and the config may name that same role as the builder's
// role_arn. Assuming a role from itself is refused by AWS unless its trust
// policy names itself, so without this every builder call would fail with
// AccessDenied (F7) for a setup that is right. Any other callerARN (a user,
// the root user) returns clients unchanged.
func WithOwnRole(clients activities.Clients, callerARN string) activities.Clients {
	partition, account, role, ok := assumedRole(callerARN)
	if !ok {
		return clients
	}
	return ownRoleClients{Clients: clients, partition: partition, account: account, role: role}
}

// assumedRole splits arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION.
func assumedRole(arn string) (partition, account, role string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "sts" {
		return "", "", "", false
	}
	res := strings.Split(parts[5], "/")
	if len(res) != 3 || res[0] != "assumed-role" || res[1] == "" {
		return "", "", "", false
	}
	return parts[1], parts[4], res[1], true
}

type ownRoleClients struct {
	activities.Clients
	partition, account, role string
}

// own maps an access to the worker's own credentials when it names the
// worker's role: arn:P:iam::A:role[/path]/R (IAM role names are unique in an
// account whatever their path).
func (c ownRoleClients) own(a activities.Access) activities.Access {
	prefix := "arn:" + c.partition + ":iam::" + c.account + ":role/"
	if strings.HasPrefix(a.RoleARN, prefix) {
		name := a.RoleARN[strings.LastIndex(a.RoleARN, "/")+1:]
		if name == c.role {
			a.RoleARN, a.ExternalID = "", ""
		}
	}
	return a
}

func (c ownRoleClients) EC2(a activities.Access) activities.EC2API {
	return c.Clients.EC2(c.own(a))
}

func (c ownRoleClients) KMS(a activities.Access) activities.KMSAPI {
	return c.Clients.KMS(c.own(a))
}

func (c ownRoleClients) IAM(a activities.Access) activities.IAMAPI {
	return c.Clients.IAM(c.own(a))
}

func (c ownRoleClients) AutoScaling(a activities.Access) activities.AutoScalingAPI {
	return c.Clients.AutoScaling(c.own(a))
}

func (c ownRoleClients) SSM(a activities.Access) activities.SSMAPI {
	return c.Clients.SSM(c.own(a))
}

func (c ownRoleClients) STS(a activities.Access) activities.STSAPI {
	return c.Clients.STS(c.own(a))
}

func (c ownRoleClients) Organizations(a activities.Access) activities.OrganizationsAPI {
	return c.Clients.Organizations(c.own(a))
}

// SelfAssumer assumes a role with a session name and a source identity,
// as the worker's own credentials (sts:AssumeRole).
type SelfAssumer func(ctx context.Context, roleARN, sessionName, sourceIdentity string) error

// OwnRoleClients returns clients for a worker running as callerARN. When its
// role may assume itself with a source identity — its trust policy names it
// and allows sts:SetSourceIdentity, as deploy/'s builder stack does — the
// clients are left as they are: every call the config makes as that role
// (the builder's shares) assumes it anew, as amicrypt-<run>-<step> with the
// run's operator as SourceIdentity and the step's session policy, like every
// target call. Otherwise they use the worker's own credentials for it
// (WithOwnRole), and whyNot says why: such calls are then made in
// the worker's own session, without the run's name or operator.
func OwnRoleClients(ctx context.Context, clients activities.Clients, callerARN string, assume SelfAssumer) (_ activities.Clients, whyNot string) {
	partition, account, role, ok := assumedRole(callerARN)
	if !ok {
		return clients, ""
	}
	arn := "arn:" + partition + ":iam::" + account + ":role/" + role
	if assume == nil {
		return WithOwnRole(clients, callerARN), "no STS client to try"
	}
	err := assume(ctx, arn, "amicrypt-worker-selfcheck", "amicrypt-worker")
	if err == nil {
		return clients, ""
	}
	return WithOwnRole(clients, callerARN), err.Error()
}
