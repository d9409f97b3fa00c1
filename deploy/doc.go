// Package deploy holds what an operator applies to run amicrypt: the IAM roles
// of the builder and target accounts (cloudformation/), the worker's
// Kubernetes manifests (kubernetes/), its container image (Dockerfile) and the
// Temporal connection settings (temporal.env.example). See README.md.
//
// The package has no Go code of its own: its tests read the CloudFormation
// templates, derive from activities/*.go every AWS call amicrypt makes, and
// check with amicrypt's IAM evaluator (internal/policy) that the roles allow
// exactly what those calls need and refuse what they must not do.
package deploy
