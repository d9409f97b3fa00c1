variable "role_name" {
  description = "Name of the role; its ARN is the config's builder.role_arn and the target-role module's pipeline_role_arn."
  type        = string
  default     = "amicrypt-pipeline"
}

variable "eks_oidc_provider" {
  description = "IRSA: the EKS cluster's OIDC issuer without https:// (oidc.eks.<region>.amazonaws.com/id/<id>); its IAM OIDC provider must exist in this account. Empty: use trusted_principal_arns."
  type        = string
  default     = ""
  validation {
    condition     = !startswith(var.eks_oidc_provider, "https://")
    error_message = "eks_oidc_provider is the issuer without https://."
  }
}

variable "worker_namespace" {
  description = "IRSA: the worker's Kubernetes namespace."
  type        = string
  default     = "amicrypt"
}

variable "worker_service_account" {
  description = "IRSA: the worker's Kubernetes service account."
  type        = string
  default     = "amicrypt-worker"
}

variable "trusted_principal_arns" {
  description = "Without IRSA: the principals that may assume the role (their own policies must allow sts:AssumeRole on it)."
  type        = list(string)
  default     = []
}

variable "trust_external_id" {
  description = "Optional, with trusted_principal_arns: the external id they must give."
  type        = string
  default     = ""
}

variable "target_role_name" {
  description = "The target accounts' role name (the config's defaults.role_name)."
  type        = string
  default     = "amicrypt-target"
}

variable "target_role_path" {
  description = "The target role's IAM path."
  type        = string
  default     = "/"
}

variable "target_account_ids" {
  description = "Optional: only these accounts' target roles may be assumed (aws:ResourceAccount)."
  type        = list(string)
  default     = []
}

variable "target_organization_id" {
  description = "Optional: only target roles in this organization may be assumed (aws:ResourceOrgID)."
  type        = string
  default     = ""
}

variable "organization_reader_role_arn" {
  description = "Optional: the organization reader role (the organization-reader module's role_arn, in the management account or a delegated administrator; the config's organization.role_arn), which the role may then assume. Empty: it may not."
  type        = string
  default     = ""
  validation {
    condition     = var.organization_reader_role_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.organization_reader_role_arn))
    error_message = "organization_reader_role_arn must be an IAM role ARN, or empty."
  }
}

variable "share_only_tagged_images" {
  description = "Share only images and snapshots tagged amicrypt:shareable=true (Packer: tags and snapshot_tags); false: any image of this account."
  type        = bool
  default     = true
}
