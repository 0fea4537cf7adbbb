{{/*
The labels manifests/ gives every operator object (the operator's NetworkPolicy rule for the
brokers' internal port selects its pods by them): the only labels in selectors and pod templates.
*/}}
{{- define "bulwark.selectorLabels" -}}
app.kubernetes.io/name: bulwark
app.kubernetes.io/component: operator
{{- end }}

{{/*
Object labels: the selector labels plus Helm's standard ones (on metadata.labels only: a selector
is immutable, and an upgrade must not change it).
*/}}
{{- define "bulwark.labels" -}}
{{ include "bulwark.selectorLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The operator's ServiceAccount, as a RoleBinding subject: in the release namespace. */}}
{{- define "bulwark.subject" -}}
- kind: ServiceAccount
  name: bulwark-operator
  namespace: {{ .Release.Namespace }}
{{- end }}
