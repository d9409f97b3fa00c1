output "role_arn" {
  description = "The role amicrypt assumes in this account."
  value       = aws_iam_role.this.arn
}

output "service_linked_role_arn" {
  description = "The Auto Scaling service-linked role this module created, if any."
  value       = one(aws_iam_service_linked_role.autoscaling[*].arn)
}
