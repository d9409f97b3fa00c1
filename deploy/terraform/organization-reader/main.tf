# amicrypt organization reader: the amicrypt-organization-reader role, the same
# as deploy/cloudformation/organization-reader.yaml (whose comments explain every
# statement). Apply it once, with a provider for the organization's management
# account or a delegated administrator account; deploy/deploy_test.go checks both
# give the same decisions.

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition
  # Organizations ARNs name the management account: "*" there.
  organization_arn = "arn:${local.partition}:organizations::*"

  trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [merge(
      {
        Sid       = "AmicryptPipeline"
        Effect    = "Allow"
        Principal = { AWS = var.pipeline_role_arn }
        # sts:SetSourceIdentity: amicrypt's sessions carry the run's operator.
        Action = ["sts:AssumeRole", "sts:SetSourceIdentity"]
      },
      var.external_id != "" ? { Condition = { StringEquals = { "sts:ExternalId" = var.external_id } } } : {},
    )]
  })

  identity_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadOrganization"
        Effect   = "Allow"
        Action   = ["organizations:ListRoots", "organizations:DescribeOrganization"]
        Resource = "*"
      },
      {
        Sid    = "WalkTree"
        Effect = "Allow"
        Action = ["organizations:ListChildren", "organizations:ListAccountsForParent"]
        Resource = [
          "${local.organization_arn}:root/${var.organization_id}/r-*",
          "${local.organization_arn}:ou/${var.organization_id}/ou-*",
        ]
      },
      {
        Sid      = "ReadUnits"
        Effect   = "Allow"
        Action   = ["organizations:DescribeOrganizationalUnit", "organizations:ListParents"]
        Resource = "${local.organization_arn}:ou/${var.organization_id}/ou-*"
      },
      {
        Sid      = "ReadAccounts"
        Effect   = "Allow"
        Action   = "organizations:DescribeAccount"
        Resource = "${local.organization_arn}:account/${var.organization_id}/*"
      },
    ]
  })
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "amicrypt reads the organization's units and accounts (organization targets)"
  max_session_duration = 3600
  assume_role_policy   = local.trust_policy
}

resource "aws_iam_role_policy" "this" {
  name   = "amicrypt-organization-reader"
  role   = aws_iam_role.this.id
  policy = local.identity_policy
}
