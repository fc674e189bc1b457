{{/* Names, labels and the pieces every pod template shares. */}}

{{- define "eiaas.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "eiaas.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "eiaas.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "eiaas.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "eiaas.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Common labels; callers add app.kubernetes.io/component. */}}
{{- define "eiaas.labels" -}}
helm.sh/chart: {{ include "eiaas.chart" . }}
{{ include "eiaas.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: eiaas
{{- end -}}

{{- define "eiaas.selectorLabels" -}}
app.kubernetes.io/name: {{ include "eiaas.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "eiaas.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "eiaas.apiServer.name" -}}
{{- printf "%s-api-server" (include "eiaas.fullname" .) -}}
{{- end -}}

{{/* In-cluster URL of the API, as the agents use it (a name in the serving certificate). */}}
{{- define "eiaas.apiServer.url" -}}
{{- printf "https://%s.%s.svc:%v" (include "eiaas.apiServer.name" .) .Release.Namespace .Values.apiServer.service.port -}}
{{- end -}}

{{- define "eiaas.secretName" -}}
{{- include "eiaas.fullname" . -}}
{{- end -}}

{{- define "eiaas.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "eiaas.fullname" .)) .Values.apiServer.tls.existingSecret -}}
{{- end -}}

{{- define "eiaas.agent.serviceAccountName" -}}
{{- default (printf "%s-agent" (include "eiaas.fullname" .)) .Values.agent.serviceAccount.name -}}
{{- end -}}

{{- define "eiaas.workloadNamespace" -}}
{{- default .Release.Namespace .Values.agent.workloadNamespace -}}
{{- end -}}

{{/* True (non-empty) when the processes get a REDIS_URL. */}}
{{- define "eiaas.redis.configured" -}}
{{- if or .Values.redis.enabled .Values.externalRedis.url .Values.externalRedis.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Refuse combinations that cannot work, with a message saying what to set. */}}
{{- define "eiaas.validate" -}}
{{- if and (not .Values.postgresql.enabled) (not .Values.externalDatabase.url) (not .Values.externalDatabase.existingSecret) -}}
{{- fail "postgresql.enabled is false: set externalDatabase.url or externalDatabase.existingSecret" -}}
{{- end -}}
{{- if and .Values.agent.enabled (not (include "eiaas.redis.configured" .)) -}}
{{- fail "agents need Redis: set redis.enabled=true, externalRedis.url or externalRedis.existingSecret (or agent.enabled=false)" -}}
{{- end -}}
{{- end -}}

{{/*
A value kept across upgrades: the given one, else the one already in the release's Secret (read
with lookup), else a new random one. Arguments: (list GIVEN OLD_SECRET_DATA KEY LENGTH).
`helm template` and `--dry-run` cannot look up, so they show a fresh random value every time.
*/}}
{{- define "eiaas.keep" -}}
{{- $given := index . 0 -}}
{{- $old := index . 1 -}}
{{- $key := index . 2 -}}
{{- if $given -}}
{{- $given -}}
{{- else if hasKey $old $key -}}
{{- index $old $key | b64dec -}}
{{- else -}}
{{- randAlphaNum (index . 3) -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by the eiaas processes: database, Redis, logs, traces, metrics. */}}
{{- define "eiaas.commonEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.existingSecret }}
      name: {{ .Values.externalDatabase.existingSecret }}
      key: {{ .Values.externalDatabase.existingSecretKey }}
      {{- else }}
      name: {{ include "eiaas.secretName" . }}
      key: database-url
      {{- end }}
{{- if include "eiaas.redis.configured" . }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      {{- if and (not .Values.redis.enabled) .Values.externalRedis.existingSecret }}
      name: {{ .Values.externalRedis.existingSecret }}
      key: {{ .Values.externalRedis.existingSecretKey }}
      {{- else }}
      name: {{ include "eiaas.secretName" . }}
      key: redis-url
      {{- end }}
{{- end }}
{{ include "eiaas.observabilityEnv" . }}
{{- end -}}

{{/* Logs, traces and metrics settings (also used by the agents, which have no database). */}}
{{- define "eiaas.observabilityEnv" -}}
- name: EIAAS_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: EIAAS_METRICS_AUTH
  value: {{ .Values.metrics.auth | quote }}
{{- if .Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .Values.otel.endpoint | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
Migrations run as an init container of the API server (and of the scheduler, so it never starts
on an empty schema). Why not a Helm hook: a pre-install hook runs before the bundled Postgres
exists, and a post-install hook would race the pods it is meant to precede. An init container
works the same with the bundled and an external database: `eiaas migrate` retries until the
database answers, and concurrent runs from several replicas are serialised by a Postgres advisory
lock inside the migrator, so exactly one applies each migration and the others find it done.
*/}}
{{- define "eiaas.migrateInitContainer" -}}
- name: migrate
  image: {{ include "eiaas.image" . }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["migrate"]
  env:
    {{- include "eiaas.commonEnv" . | nindent 4 }}
  securityContext:
    {{- toYaml .Values.containerSecurityContext | nindent 4 }}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end -}}
