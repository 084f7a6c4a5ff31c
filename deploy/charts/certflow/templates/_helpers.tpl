{{/* certflow.fullname: the prefix of every object's name; "certflow" for a release named certflow. */}}
{{- define "certflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* certflow.labels: the labels of every object; pass (dict "root" $ "component" "worker"). */}}
{{- define "certflow.labels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{/* certflow.selector: the labels that pick one component's pods. */}}
{{- define "certflow.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/*
certflow.serviceAccount: the ServiceAccount a part (controller, worker,
solver) runs as. In mode run one process is all three, so one account holds
every part's roles.
*/}}
{{- define "certflow.serviceAccount" -}}
{{- if eq .root.Values.mode "run" -}}
{{ include "certflow.fullname" .root }}
{{- else -}}
{{ include "certflow.fullname" .root }}-{{ .part }}
{{- end -}}
{{- end -}}

{{/* certflow.solverService: the HTTP-01 responder's Service, which the worker names in challenge routes. */}}
{{- define "certflow.solverService" -}}
{{ include "certflow.fullname" . }}-solver
{{- end -}}

{{/*
certflow.rules: the rules of the role of that kind and name in a file of
files/rbac (a copy of deploy/rbac), so the chart grants exactly what the
shipped roles grant. Pass (dict "root" $ "file" "role-worker.yaml" "kind" "ClusterRole" "name" "certflow-worker").
*/}}
{{- define "certflow.rules" -}}
{{- $found := false -}}
{{- range $doc := regexSplit "(?m)^---\\s*$" (.root.Files.Get (printf "files/rbac/%s" .file)) -1 -}}
{{- $o := fromYaml $doc -}}
{{- if and (eq ($o.kind | default "") $.kind) (eq (dig "metadata" "name" "" $o) $.name) -}}
{{- $found = true -}}
{{- toYaml $o.rules -}}
{{- end -}}
{{- end -}}
{{- if not $found -}}
{{- fail (printf "files/rbac/%s has no %s %s: run make generate" .file .kind .name) -}}
{{- end -}}
{{- end -}}

{{/* certflow.clusterResourceNamespace: where ClusterIssuers' Secrets are. */}}
{{- define "certflow.clusterResourceNamespace" -}}
{{ .Values.clusterResourceNamespace | default .Release.Namespace }}
{{- end -}}
