variable "role_name" {
  description = "Name of the role: the config's defaults.role_name (or a target's role_name)."
  type        = string
  default     = "amicrypt-target"
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
  description = "The external id the pipeline gives when assuming the role: the config's defaults.external_id (or a target's external_id)."
  type        = string
  validation {
    condition     = can(regex("^[\\w+=,.@:/-]+$", var.external_id)) && length(var.external_id) >= 2 && length(var.external_id) <= 1224
    error_message = "external_id must be 2 to 1224 characters of A-Z a-z 0-9 + = , . @ : / _ -."
  }
}

variable "organization_id" {
  description = "Optional: also require the pipeline role to belong to this organization (aws:PrincipalOrgID)."
  type        = string
  default     = ""
}

variable "external_key_arns" {
  description = "Optional: KMS keys of OTHER accounts the targets name with key_arn."
  type        = list(string)
  default     = []
}

variable "manage_adopted_key_policies" {
  description = "true for accounts whose targets set manage_key_policy: the role may rewrite any key policy of the account; false: only keys tagged amicrypt:managed=true."
  type        = bool
  default     = false
}

variable "create_service_linked_role" {
  description = "Create the Auto Scaling service-linked role here (only where it does not exist yet; amicrypt creates it itself when missing)."
  type        = bool
  default     = false
}

variable "service_linked_role_suffix" {
  description = "With create_service_linked_role: the custom suffix (the config's service_linked_role_suffix); empty for AWSServiceRoleForAutoScaling."
  type        = string
  default     = ""
}

variable "publish_parameter_path" {
  description = "The SSM path the role may publish under: every target's publish.ssm_parameter must start with it; \"/\" allows every parameter of the account."
  type        = string
  default     = "/amicrypt/"
  validation {
    condition     = can(regex("^/([\\w.-]+/)*$", var.publish_parameter_path))
    error_message = "publish_parameter_path is a path: / or /a/b/."
  }
}
