variable "role_name" {
  description = "Name of the role; its ARN is the config's organization.role_arn and the builder-role module's organization_reader_role_arn."
  type        = string
  default     = "amicrypt-organization-reader"
}

variable "pipeline_role_arn" {
  description = "ARN of the builder account's amicrypt-pipeline role (the builder-role module's role_arn). It must exist first."
  type        = string
  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.pipeline_role_arn))
    error_message = "pipeline_role_arn must be an IAM role ARN."
  }
}

variable "external_id" {
  description = "Optional: the external id the pipeline gives when assuming the role (the config's organization.external_id). Empty: none asked."
  type        = string
  default     = ""
  validation {
    condition     = var.external_id == "" || (can(regex("^[\\w+=,.@:/-]+$", var.external_id)) && length(var.external_id) >= 2 && length(var.external_id) <= 1224)
    error_message = "external_id must be empty, or 2 to 1224 characters of A-Z a-z 0-9 + = , . @ : / _ -."
  }
}

variable "organization_id" {
  description = "The organization the role reads (aws organizations describe-organization --query Organization.Id): its root, units and accounts are the only resources it may read."
  type        = string
  validation {
    condition     = can(regex("^o-[a-z0-9]{10,32}$", var.organization_id))
    error_message = "organization_id must be an organization id, o- and 10 to 32 lowercase letters or digits."
  }
}
