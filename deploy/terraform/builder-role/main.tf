# amicrypt builder account: the amicrypt-pipeline role the worker runs as, the
# same as deploy/cloudformation/builder-role.yaml (whose comments explain every
# statement); deploy/deploy_test.go checks both give the same decisions.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  use_irsa  = var.eks_oidc_provider != ""

  trust_statements = concat(
    [for s in [{
      Sid       = "WorkerServiceAccount"
      Effect    = "Allow"
      Principal = { Federated = "arn:${local.partition}:iam::${local.account}:oidc-provider/${var.eks_oidc_provider}" }
      Action    = "sts:AssumeRoleWithWebIdentity"
      Condition = { StringEquals = {
        "${var.eks_oidc_provider}:sub" = "system:serviceaccount:${var.worker_namespace}:${var.worker_service_account}"
        "${var.eks_oidc_provider}:aud" = "sts.amazonaws.com"
      } }
    }] : s if local.use_irsa],
    [for s in [merge(
      {
        Sid       = "WorkerPrincipals"
        Effect    = "Allow"
        Principal = { AWS = var.trusted_principal_arns }
        # The worker's sessions carry the run's operator as SourceIdentity.
        Action = ["sts:AssumeRole", "sts:SetSourceIdentity"]
      },
      var.trust_external_id != "" ? { Condition = { StringEquals = { "sts:ExternalId" = var.trust_external_id } } } : {},
    )] : s if !local.use_irsa],
    [{
      # The role itself, again for each run's shares (per-run session, operator, session policy).
      Sid       = "ItselfPerRun"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
      Action    = ["sts:AssumeRole", "sts:SetSourceIdentity"]
      Condition = { ArnEquals = { "aws:PrincipalArn" = "arn:${local.partition}:iam::${local.account}:role/${var.role_name}" } }
    }],
  )

  assume_conditions = merge(
    length(var.target_account_ids) > 0 ? { "aws:ResourceAccount" = var.target_account_ids } : {},
    var.target_organization_id != "" ? { "aws:ResourceOrgID" = var.target_organization_id } : {},
  )

  identity_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat([
      {
        Sid      = "DescribeSource"
        Effect   = "Allow"
        Action   = ["ec2:DescribeImages", "ec2:DescribeSnapshots", "ec2:DescribeImageAttribute", "ec2:DescribeSnapshotAttribute"]
        Resource = "*"
      },
      merge(
        {
          Sid      = "ShareSource"
          Effect   = "Allow"
          Action   = ["ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"]
          Resource = ["arn:${local.partition}:ec2:*::image/*", "arn:${local.partition}:ec2:*::snapshot/*"]
        },
        # Only the target accounts may be added; removing is always allowed.
        length(var.target_account_ids) > 0 ? { Condition = { "ForAllValues:StringEquals" = { "ec2:Add/userId" = var.target_account_ids } } } : {},
      ),
      {
        Sid       = "NeverSharePublicly"
        Effect    = "Deny"
        Action    = ["ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"]
        Resource  = "*"
        Condition = { Null = { "ec2:Add/group" = "false" } }
      },
      ], var.share_only_tagged_images ? [
      {
        # Only images and snapshots tagged amicrypt:shareable=true (Packer: tags and snapshot_tags).
        Sid      = "ShareOnlyShareableImages"
        Effect   = "Deny"
        Action   = ["ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"]
        Resource = "*"
        Condition = {
          Null            = { "ec2:Add/userId" = "false" }
          StringNotEquals = { "aws:ResourceTag/amicrypt:shareable" = "true" }
        }
      },
      ] : [], [
      {
        Sid      = "DescribeSourceKeys"
        Effect   = "Allow"
        Action   = ["kms:DescribeKey", "kms:GetKeyPolicy"]
        Resource = "arn:${local.partition}:kms:*:${local.account}:key/*"
      },
      {
        Sid      = "AssumeItselfPerRun"
        Effect   = "Allow"
        Action   = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        Resource = "arn:${local.partition}:iam::${local.account}:role/${var.role_name}"
      },
      merge(
        {
          Sid      = "AssumeTargetRoles"
          Effect   = "Allow"
          Action   = ["sts:AssumeRole", "sts:SetSourceIdentity"] # the run's operator as SourceIdentity
          Resource = "arn:${local.partition}:iam::*:role${var.target_role_path}${var.target_role_name}"
        },
        length(local.assume_conditions) > 0 ? { Condition = { StringEquals = local.assume_conditions } } : {},
      ),
      ], var.organization_reader_role_arn != "" ? [
      {
        # The organization reader (organization-reader module), for organization targets.
        Sid      = "AssumeOrganizationReader"
        Effect   = "Allow"
        Action   = ["sts:AssumeRole", "sts:SetSourceIdentity"]
        Resource = var.organization_reader_role_arn
      },
    ] : [])
  })
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "amicrypt worker (shares source AMIs, assumes the target roles)"
  max_session_duration = 3600
  assume_role_policy   = jsonencode({ Version = "2012-10-17", Statement = local.trust_statements })

  lifecycle {
    precondition {
      condition     = local.use_irsa != (length(var.trusted_principal_arns) > 0)
      error_message = "Give either eks_oidc_provider (the worker runs on EKS with IRSA) or trusted_principal_arns, not both."
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "amicrypt-pipeline"
  role   = aws_iam_role.this.id
  policy = local.identity_policy
}
