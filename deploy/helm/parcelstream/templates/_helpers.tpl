{{- define "parcelstream.name" -}}{{ .Release.Name }}-parcelstream{{- end }}

{{- define "parcelstream.labels" -}}
app.kubernetes.io/name: parcelstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "parcelstream.selector" -}}
app.kubernetes.io/name: parcelstream
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "parcelstream.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* What every parcelstream container shares: image, settings, security, a writable /tmp. */}}
{{- define "parcelstream.container" -}}
image: {{ include "parcelstream.image" . }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
envFrom:
  - configMapRef: {name: {{ include "parcelstream.name" . }}}
  - secretRef: {name: {{ .Values.secret.name }}}
securityContext: {{- toYaml .Values.securityContext | nindent 2 }}
{{- end }}

{{- define "parcelstream.probes" -}}
{{- $http := dict "httpGet" (dict "path" .path "port" .port) -}}
readinessProbe: {{- toYaml (merge (dict "periodSeconds" 10 "failureThreshold" 3) $http) | nindent 2 }}
livenessProbe: {{- toYaml (merge (dict "periodSeconds" 20 "failureThreshold" 6) $http) | nindent 2 }}
startupProbe: {{- toYaml (merge (dict "periodSeconds" 10 "failureThreshold" 60) $http) | nindent 2 }}
{{- end }}
