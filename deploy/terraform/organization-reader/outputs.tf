output "role_arn" {
  description = "The organization reader: the config's organization.role_arn and the builder-role module's organization_reader_role_arn."
  value       = aws_iam_role.this.arn
}
