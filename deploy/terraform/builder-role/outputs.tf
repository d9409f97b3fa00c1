output "role_arn" {
  description = "The pipeline role: the config's builder.role_arn, the target-role module's pipeline_role_arn and the worker's IRSA role."
  value       = aws_iam_role.this.arn
}
