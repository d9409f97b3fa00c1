# amicrypt target account: the amicrypt-target role, the same as
# deploy/cloudformation/target-role.yaml (whose comments explain every
# statement). Apply it once per target account, with a provider for that
# account; deploy/deploy_test.go checks both give the same decisions.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition

  own_keys    = "arn:${local.partition}:kms:*:${local.account}:key/*"
  own_aliases = "arn:${local.partition}:kms:*:${local.account}:alias/*"
  slr_pattern = "arn:${local.partition}:iam::${local.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling*"
  # The grant amicrypt gives the service-linked role (activities/diagnose.go, keyGrantOperations).
  grant_operations = ["Encrypt", "Decrypt", "ReEncryptFrom", "ReEncryptTo", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "DescribeKey", "CreateGrant"]
  key_use_via_ec2  = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:CreateGrant", "kms:DescribeKey"]

  trust_conditions = merge(
    { "sts:ExternalId" = var.external_id },
    var.organization_id != "" ? { "aws:PrincipalOrgID" = var.organization_id } : {},
  )

  trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "AmicryptPipeline"
      Effect    = "Allow"
      Principal = { AWS = var.pipeline_role_arn }
      # sts:SetSourceIdentity: amicrypt's sessions carry the run's operator.
      Action    = ["sts:AssumeRole", "sts:SetSourceIdentity"]
      Condition = { StringEquals = local.trust_conditions }
    }]
  })

  statements = [
    {
      Sid    = "Describe"
      Effect = "Allow"
      Action = [
        "ec2:DescribeImages", "ec2:DescribeSnapshots", "ec2:DescribeLaunchTemplateVersions",
        "ec2:DescribeLaunchTemplates", "ec2:DescribeInstances", "ec2:DescribeVolumes",
        "ec2:DescribeImageReferences", "ec2:GetEbsDefaultKmsKeyId",
        "autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeScalingActivities",
        "autoscaling:DescribeLaunchConfigurations", "ssm:DescribeParameters", "kms:ListKeys",
        "cloudtrail:LookupEvents", "ec2:DescribeInstanceTypes", "ec2:DescribeSubnets",
        "ec2:DescribeAccountAttributes", "autoscaling:DescribeAccountLimits",
        # assume.go: the account's own organization, for a worker run with --allow-organization
        "organizations:DescribeOrganization",
      ]
      Resource = "*"
    },
    {
      # What EC2's reference check (DescribeImageReferences) reads as the caller.
      Sid    = "ImageReferenceCheck"
      Effect = "Allow"
      Action = [
        "ssm:GetParameters", "imagebuilder:ListImageRecipes",
        "imagebuilder:ListContainerRecipes", "imagebuilder:GetContainerRecipe",
      ]
      Resource  = "*"
      Condition = { "ForAnyValue:StringEquals" = { "aws:CalledVia" = "ec2-images.amazonaws.com" } }
    },
    {
      # Only the builder's images and this account's own (the source AMI's ec2:Owner).
      Sid       = "CopyBuilderAndOwnImages"
      Effect    = "Allow"
      Action    = "ec2:CopyImage"
      Resource  = ["arn:${local.partition}:ec2:*::image/*", "arn:${local.partition}:ec2:*::snapshot/*"]
      Condition = { StringEqualsIfExists = { "ec2:Owner" = [split(":", var.pipeline_role_arn)[4], local.account] } }
    },
    {
      # Tags in the creating request only.
      Sid    = "TagWhatItCreates"
      Effect = "Allow"
      Action = "ec2:CreateTags"
      Resource = [
        "arn:${local.partition}:ec2:*::image/*",
        "arn:${local.partition}:ec2:*::snapshot/*",
        "arn:${local.partition}:ec2:*:${local.account}:launch-template/*",
      ]
      Condition = { StringEquals = { "ec2:CreateAction" = ["CopyImage", "CreateLaunchTemplate"] } }
    },
    {
      # After creation: the boot proof's verdict and the retirement's record, on amicrypt's images.
      Sid      = "MarkAmicryptImages"
      Effect   = "Allow"
      Action   = "ec2:CreateTags"
      Resource = "arn:${local.partition}:ec2:*::image/*"
      Condition = {
        "ForAllValues:StringEquals" = { "aws:TagKeys" = ["amicrypt:proven", "amicrypt:proven-reason", "amicrypt:disabled-at", "amicrypt:disabled-reason"] }
        Null                        = { "aws:ResourceTag/amicrypt:source-image" = "false" }
      }
    },
    {
      Sid       = "UntagAmicryptTags"
      Effect    = "Allow"
      Action    = "ec2:DeleteTags"
      Resource  = "arn:${local.partition}:ec2:*::image/*"
      Condition = { "ForAllValues:StringLike" = { "aws:TagKeys" = "amicrypt:*" } }
    },
    {
      Sid       = "RetireAmicryptImages"
      Effect    = "Allow"
      Action    = ["ec2:DisableImage", "ec2:EnableImage", "ec2:DeregisterImage", "ec2:DeleteSnapshot"]
      Resource  = ["arn:${local.partition}:ec2:*::image/*", "arn:${local.partition}:ec2:*::snapshot/*"]
      Condition = { Null = { "aws:ResourceTag/amicrypt:source-image" = "false" } }
    },
    {
      # Only with the boot proof's or the publish template's tag in the request.
      Sid       = "CreateAmicryptTemplates"
      Effect    = "Allow"
      Action    = "ec2:CreateLaunchTemplate"
      Resource  = "arn:${local.partition}:ec2:*:${local.account}:launch-template/*"
      Condition = { "ForAnyValue:StringEquals" = { "aws:TagKeys" = ["amicrypt:run", "amicrypt:managed"] } }
    },
    {
      Sid       = "VersionPublishTemplates"
      Effect    = "Allow"
      Action    = ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"]
      Resource  = "arn:${local.partition}:ec2:*:${local.account}:launch-template/*"
      Condition = { StringEquals = { "aws:ResourceTag/amicrypt:managed" = "true" } }
    },
    {
      Sid       = "DeleteBootProofTemplates"
      Effect    = "Allow"
      Action    = "ec2:DeleteLaunchTemplate"
      Resource  = "arn:${local.partition}:ec2:*:${local.account}:launch-template/*"
      Condition = { Null = { "aws:ResourceTag/amicrypt:run" = "false" } }
    },
    {
      Sid      = "BootProofGroups"
      Effect   = "Allow"
      Action   = ["autoscaling:CreateAutoScalingGroup", "autoscaling:DeleteAutoScalingGroup"]
      Resource = "arn:${local.partition}:autoscaling:*:${local.account}:autoScalingGroup:*:autoScalingGroupName/amicrypt-proof-*"
    },
    {
      # Only the boot proof's templates, and the rest only as part of a launch from a template.
      Sid       = "RunInstancesForBootProof"
      Effect    = "Allow"
      Action    = "ec2:RunInstances"
      Resource  = "arn:${local.partition}:ec2:*:${local.account}:launch-template/*"
      Condition = { Null = { "aws:ResourceTag/amicrypt:run" = "false" } }
    },
    {
      Sid         = "RunInstancesFromTemplates"
      Effect      = "Allow"
      Action      = "ec2:RunInstances"
      NotResource = "arn:${local.partition}:ec2:*:${local.account}:launch-template/*"
      Condition   = { ArnLike = { "ec2:LaunchTemplate" = "arn:${local.partition}:ec2:*:${local.account}:launch-template/*" } }
    },
    { Sid = "PassServiceLinkedRole", Effect = "Allow", Action = "iam:PassRole", Resource = local.slr_pattern },
    { Sid = "ReadServiceLinkedRole", Effect = "Allow", Action = "iam:GetRole", Resource = local.slr_pattern },
    {
      Sid       = "CreateServiceLinkedRole"
      Effect    = "Allow"
      Action    = "iam:CreateServiceLinkedRole"
      Resource  = local.slr_pattern
      Condition = { StringEquals = { "iam:AWSServiceName" = "autoscaling.amazonaws.com" } }
    },
    {
      # The launch principals' own policies (F4): read only, roles of this account.
      Sid      = "ReadLaunchPrincipals"
      Effect   = "Allow"
      Action   = ["iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"]
      Resource = "arn:${local.partition}:iam::${local.account}:role/*"
    },
    {
      Sid      = "CreateDedicatedKey"
      Effect   = "Allow"
      Action   = "kms:CreateKey"
      Resource = "*"
      Condition = { StringEquals = {
        "aws:RequestTag/amicrypt:managed" = "true"
        "kms:KeySpec"                     = "SYMMETRIC_DEFAULT"
        "kms:KeyUsage"                    = "ENCRYPT_DECRYPT"
      } }
    },
    {
      Sid      = "TagNewKeys"
      Effect   = "Allow"
      Action   = "kms:TagResource"
      Resource = local.own_keys
      Condition = {
        "ForAllValues:StringEquals" = { "aws:TagKeys" = ["amicrypt:managed", "amicrypt:alias", "amicrypt:predecessor", "amicrypt:rotation", "amicrypt:rotation-reason", "amicrypt:rotated-by"] }
        StringEquals                = { "aws:RequestTag/amicrypt:managed" = "true" }
      }
    },
    {
      Sid      = "TagRotatedKeys"
      Effect   = "Allow"
      Action   = "kms:TagResource"
      Resource = local.own_keys
      Condition = {
        "ForAllValues:StringEquals" = { "aws:TagKeys" = ["amicrypt:successor", "amicrypt:rotation-reason", "amicrypt:rotated-by"] }
        StringLike                  = { "aws:RequestTag/amicrypt:successor" = local.own_keys }
      }
    },
    {
      Sid      = "RecordKeyRetirement"
      Effect   = "Allow"
      Action   = ["kms:TagResource", "kms:UntagResource"]
      Resource = local.own_keys
      Condition = {
        "ForAllValues:StringEquals" = { "aws:TagKeys" = ["amicrypt:disabled-at", "amicrypt:disabled-reason", "amicrypt:reenabled-at", "amicrypt:reenabled-reason"] }
        StringLike                  = { "aws:ResourceTag/amicrypt:successor" = local.own_keys }
      }
    },
    { Sid = "KeyAliases", Effect = "Allow", Action = ["kms:CreateAlias", "kms:UpdateAlias"], Resource = local.own_aliases },
    {
      Sid    = "DedicatedKeys"
      Effect = "Allow"
      Action = [
        "kms:DescribeKey", "kms:GetKeyPolicy", "kms:ListResourceTags", "kms:ListGrants",
        "kms:GetKeyRotationStatus", "kms:EnableKeyRotation", "kms:CreateAlias", "kms:GetKeyLastUsage",
        "kms:RevokeGrant",
      ]
      Resource = local.own_keys
    },
    merge(
      {
        Sid      = "WriteKeyPolicies"
        Effect   = "Allow"
        Action   = "kms:PutKeyPolicy"
        Resource = local.own_keys
      },
      # Without manage_adopted_key_policies: only the keys amicrypt created.
      var.manage_adopted_key_policies ? {} : {
        Condition = { StringEquals = { "aws:ResourceTag/amicrypt:managed" = "true" } }
      },
    ),
    {
      Sid       = "RetireOrphanKeys"
      Effect    = "Allow"
      Action    = "kms:ScheduleKeyDeletion"
      Resource  = local.own_keys
      Condition = { StringEquals = { "aws:ResourceTag/amicrypt:managed" = "true" } }
    },
    {
      Sid       = "RetireRotatedKeys"
      Effect    = "Allow"
      Action    = ["kms:DisableKey", "kms:ScheduleKeyDeletion"]
      Resource  = local.own_keys
      Condition = { StringLike = { "aws:ResourceTag/amicrypt:successor" = local.own_keys } }
    },
    {
      Sid      = "ReenableTriedKeys"
      Effect   = "Allow"
      Action   = "kms:EnableKey"
      Resource = local.own_keys
      Condition = {
        StringLike = { "aws:ResourceTag/amicrypt:successor" = local.own_keys }
        Null       = { "aws:ResourceTag/amicrypt:disabled-at" = "false" }
      }
    },
    {
      Sid       = "MoveAliasFromRotatedKeys"
      Effect    = "Allow"
      Action    = "kms:UpdateAlias"
      Resource  = local.own_keys
      Condition = { StringLike = { "aws:ResourceTag/amicrypt:successor" = local.own_keys } }
    },
    {
      Sid       = "MoveAliasToManagedKeys"
      Effect    = "Allow"
      Action    = "kms:UpdateAlias"
      Resource  = local.own_keys
      Condition = { StringEquals = { "aws:ResourceTag/amicrypt:managed" = "true" } }
    },
    {
      Sid      = "GrantServiceLinkedRole"
      Effect   = "Allow"
      Action   = "kms:CreateGrant"
      Resource = local.own_keys
      Condition = {
        StringLike                  = { "kms:GranteePrincipal" = local.slr_pattern }
        "ForAllValues:StringEquals" = { "kms:GrantOperations" = local.grant_operations }
      }
    },
    {
      Sid       = "KeyUseViaEC2"
      Effect    = "Allow"
      Action    = local.key_use_via_ec2
      Resource  = local.own_keys
      Condition = { StringLike = { "kms:ViaService" = "ec2.*.amazonaws.com" } }
    },
    {
      Sid      = "PublishParameters"
      Effect   = "Allow"
      Action   = ["ssm:GetParameter", "ssm:PutParameter"]
      Resource = "arn:${local.partition}:ssm:*:${local.account}:parameter${var.publish_parameter_path}*"
    },
    {
      Sid      = "TagNewParameters"
      Effect   = "Allow"
      Action   = "ssm:AddTagsToResource"
      Resource = "arn:${local.partition}:ssm:*:${local.account}:parameter${var.publish_parameter_path}*"
      Condition = {
        "ForAllValues:StringEquals" = { "aws:TagKeys" = ["amicrypt:managed"] }
        StringEquals                = { "aws:RequestTag/amicrypt:managed" = "true" }
      }
    },
  ]

  # Only with external_key_arns (targets naming another account's key, key_arn).
  foreign_key_statements = [for s in [
    {
      Sid      = "ForeignKeyDescribe"
      Effect   = "Allow"
      Action   = ["kms:DescribeKey", "kms:ListGrants"]
      Resource = var.external_key_arns
    },
    {
      Sid      = "ForeignKeyGrantServiceLinkedRole"
      Effect   = "Allow"
      Action   = "kms:CreateGrant"
      Resource = var.external_key_arns
      Condition = {
        StringLike                  = { "kms:GranteePrincipal" = local.slr_pattern }
        "ForAllValues:StringEquals" = { "kms:GrantOperations" = local.grant_operations }
      }
    },
    { Sid = "ForeignKeyRevokeGrants", Effect = "Allow", Action = "kms:RevokeGrant", Resource = var.external_key_arns },
    {
      Sid       = "ForeignKeyUseViaEC2"
      Effect    = "Allow"
      Action    = local.key_use_via_ec2
      Resource  = var.external_key_arns
      Condition = { StringLike = { "kms:ViaService" = "ec2.*.amazonaws.com" } }
    },
  ] : s if length(var.external_key_arns) > 0]

  identity_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = concat(local.statements, local.foreign_key_statements)
  })
}

resource "aws_iam_role" "this" {
  name                 = var.role_name
  description          = "amicrypt pipeline in this account (encrypted AMI copies, boot proofs)"
  max_session_duration = 3600
  assume_role_policy   = local.trust_policy
}

resource "aws_iam_role_policy" "this" {
  name   = "amicrypt-target"
  role   = aws_iam_role.this.id
  policy = local.identity_policy
}

# Optional: the Auto Scaling service-linked role. Terraform deletes it with the
# module: keep create_service_linked_role false where groups rely on it.
resource "aws_iam_service_linked_role" "autoscaling" {
  count            = var.create_service_linked_role ? 1 : 0
  aws_service_name = "autoscaling.amazonaws.com"
  custom_suffix    = var.service_linked_role_suffix != "" ? var.service_linked_role_suffix : null
  description      = "Auto Scaling service-linked role (amicrypt boot proofs launch as it)"
}
