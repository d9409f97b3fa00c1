{{/* The chart's name, or nameOverride. */}}
{{- define "amicrypt-worker.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The resources' name: fullnameOverride, else the release name when it already
contains the chart's name, else <release>-<chart>. */}}
{{- define "amicrypt-worker.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "amicrypt-worker.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "amicrypt-worker.labels" -}}
helm.sh/chart: {{ include "amicrypt-worker.chart" . }}
{{ include "amicrypt-worker.selectorLabels" . }}
app.kubernetes.io/version: {{ (.Values.image.tag | default .Chart.AppVersion) | toString | trunc 63 | quote }}
app.kubernetes.io/component: worker
app.kubernetes.io/part-of: amicrypt
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the worker's pods (Deployment, PDB, Service, spread). */}}
{{- define "amicrypt-worker.selectorLabels" -}}
app.kubernetes.io/name: {{ include "amicrypt-worker.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the pods run as: the one the builder role trusts. */}}
{{- define "amicrypt-worker.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "amicrypt-worker.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "amicrypt-worker.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion | toString) }}
{{- end }}

{{/* Where the Secrets are mounted in the container. */}}
{{- define "amicrypt-worker.apiKeyDir" -}}/etc/amicrypt/temporal-api-key{{- end }}
{{- define "amicrypt-worker.tlsDir" -}}/etc/amicrypt/temporal-tls{{- end }}
{{- define "amicrypt-worker.payloadKeyDir" -}}/etc/amicrypt/payload{{- end }}

{{/*
What the worker cannot start without, checked at install with a message that says
what to set (values.schema.json checks types and shapes; helm lint tolerates
missing required values by design, install and template do not).
*/}}
{{- define "amicrypt-worker.validate" -}}
{{- $t := .Values.temporal }}
{{- if not $t.address }}
{{- fail "temporal.address is required: the Temporal frontend's host:port, e.g. us-east-1.aws.api.temporal.io:7233 (Temporal Cloud with an API key) or temporal-frontend.temporal.svc:7233 (self-hosted); --set temporal.address=HOST:PORT" }}
{{- end }}
{{- if not $t.namespace }}
{{- fail "temporal.namespace is required: the Temporal namespace the runs live in, e.g. amicrypt.a1b2c on Temporal Cloud; --set temporal.namespace=NAMESPACE" }}
{{- end }}
{{- if and (not .Values.allowAccounts) (not .Values.allowOrganization) (not .Values.allowAllAccounts) }}
{{- fail "no allow-list: set allowOrganization (o-...) and/or allowAccounts (a list of quoted 12-digit ids), the only accounts this worker may act in or share images with; or allowAllAccounts=true to serve any account a workflow names" }}
{{- end }}
{{- if and .Values.allowAllAccounts (or .Values.allowAccounts .Values.allowOrganization) }}
{{- fail "allowAllAccounts=true contradicts allowAccounts / allowOrganization: keep the allow-list and set allowAllAccounts=false, or drop the list" }}
{{- end }}
{{- if and $t.tls.secretName (ne (empty $t.tls.certKey) (empty $t.tls.keyKey)) }}
{{- fail "temporal.tls.certKey and temporal.tls.keyKey go together: both for mTLS, or both empty when the Secret holds only a CA" }}
{{- end }}
{{- if and $t.tls.secretName (empty $t.tls.certKey) (empty $t.tls.caKey) }}
{{- fail (printf "temporal.tls.secretName %s is mounted but names no key: set certKey and keyKey (mTLS) and/or caKey" $t.tls.secretName) }}
{{- end }}
{{- if and .Values.podDisruptionBudget.enabled (gt (int .Values.replicaCount) 1) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- fail (printf "podDisruptionBudget.minAvailable %d must be below replicaCount %d, or no node could ever be drained" (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if and (eq .name "TEMPORAL_API_KEY") (hasKey . "value") }}
{{- fail "extraEnv sets TEMPORAL_API_KEY to a literal value, which lands in the Deployment for anyone who may read it: put the key in a Secret and name it in temporal.apiKey.secretName" }}
{{- end }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled: the ServiceMonitor scrapes the worker's metrics port" }}
{{- end }}
{{- end }}
