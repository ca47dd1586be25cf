{{/* Names, labels and small shared snippets of the bpfmirror chart. */}}

{{/* The chart-wide base name: "bpfmirror" or nameOverride. */}}
{{- define "bpfmirror.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
The prefix of every namespaced object: the release name, or
<release>-<name> when the release name does not already contain the name.
*/}}
{{- define "bpfmirror.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 56 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "bpfmirror.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 56 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 56 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bpfmirror.agentName" -}}
{{- printf "%s-agent" (include "bpfmirror.fullname" .) -}}
{{- end -}}

{{- define "bpfmirror.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bpfmirror.agentName" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries. */}}
{{- define "bpfmirror.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: bpfmirror
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/*
The agent pods' identifying labels. The CLI finds the agent of a node by
exactly these two labels in the agent's namespace (docs/install.md): keep
them stable.
*/}}
{{- define "bpfmirror.agentLabels" -}}
app.kubernetes.io/name: bpfmirror-agent
app.kubernetes.io/component: agent
{{- end -}}

{{/* The agent pods' selector: the identifying labels within this release. */}}
{{- define "bpfmirror.agentSelector" -}}
{{ include "bpfmirror.agentLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "bpfmirror.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
A YAML sequence of double-quoted strings for the policy file, written as
" []" when empty. Call with (dict "items" LIST "indent" N).
*/}}
{{- define "bpfmirror.policyList" -}}
{{- if .items }}
{{- range .items }}
{{ repeat (int $.indent) " " }}- {{ . | toString | quote }}
{{- end }}
{{- else }} []
{{- end -}}
{{- end -}}
