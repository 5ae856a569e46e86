{{/*
Labels of every namespaced object. The selector keeps `app.kubernetes.io/name: jitpe`, as in
manifests/, plus the release, so a Service never selects another release's pod.
*/}}
{{- define "jitpe.selectorLabels" -}}
app.kubernetes.io/name: jitpe
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "jitpe.labels" -}}
{{ include "jitpe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "jitpe.configMapName" -}}
{{- .Values.existingConfigMap | default "jitpe-config" }}
{{- end }}

{{- define "jitpe.secretName" -}}
{{- .Values.existingSecret | default "jitpe-secrets" }}
{{- end }}

{{/*
The documents of a file under files/ (links to manifests/, the one source of truth), parsed.
kubectl and kustomize read the same files; comments are dropped on the way.
*/}}
{{- define "jitpe.documents" -}}
{{- $docs := list }}
{{- range regexSplit "(?m)^---[ \t]*$" (.root.Files.Get .file) -1 }}
{{- $doc := fromYaml . }}
{{- if hasKey $doc "Error" }}{{ fail (printf "%s: %s" $.file $doc.Error) }}{{ end }}
{{- if $doc }}{{ $docs = append $docs $doc }}{{ end }}
{{- end }}
{{- toJson $docs }}
{{- end }}
