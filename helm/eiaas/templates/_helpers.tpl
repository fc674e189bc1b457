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

{{/*
<fullname>-<suffix> within MAX characters (a DNS label is 63; a StatefulSet's pods carry
"<name>-<hash>" in a 63-character label, so 52 for it): the fullname is cut so that the suffix,
which tells the objects apart, always survives. Arguments: (list . SUFFIX MAX).
*/}}
{{- define "eiaas.componentName" -}}
{{- $top := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $max := index . 2 -}}
{{- $room := int (sub $max (add1 (len $suffix))) -}}
{{- printf "%s-%s" (include "eiaas.fullname" $top | trunc $room | trimSuffix "-") $suffix -}}
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

{{/* The eiaas image. image.repository has no default: an unqualified "eiaas" would be pulled from Docker Hub's library namespace. */}}
{{- define "eiaas.image" -}}
{{- $repo := required "image.repository is required: the registry path you pushed deploy/Dockerfile's image to (e.g. registry.example.org/eiaas)" .Values.image.repository -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "eiaas.apiServer.name" -}}
{{- include "eiaas.componentName" (list . "api-server" 63) -}}
{{- end -}}

{{- define "eiaas.scheduler.name" -}}
{{- include "eiaas.componentName" (list . "scheduler" 63) -}}
{{- end -}}

{{- define "eiaas.postgresql.name" -}}
{{- include "eiaas.componentName" (list . "postgresql" 52) -}}
{{- end -}}

{{- define "eiaas.redis.name" -}}
{{- include "eiaas.componentName" (list . "redis" 63) -}}
{{- end -}}

{{/* The DaemonSet (and spec ConfigMap) of one agent node pool. Arguments: (list . POOL). */}}
{{- define "eiaas.agent.poolName" -}}
{{- include "eiaas.componentName" (list (index . 0) (printf "agent-%s" (index . 1).name) 63) -}}
{{- end -}}

{{/* In-cluster URL of the API, as the agents use it (a name in the serving certificate). */}}
{{- define "eiaas.apiServer.url" -}}
{{- printf "https://%s.%s.svc:%v" (include "eiaas.apiServer.name" .) .Release.Namespace .Values.apiServer.service.port -}}
{{- end -}}

{{- define "eiaas.secretName" -}}
{{- include "eiaas.fullname" . -}}
{{- end -}}

{{- define "eiaas.tlsSecretName" -}}
{{- default (include "eiaas.componentName" (list . "tls" 63)) .Values.apiServer.tls.existingSecret -}}
{{- end -}}

{{- define "eiaas.agent.serviceAccountName" -}}
{{- default (include "eiaas.componentName" (list . "agent" 63)) .Values.agent.serviceAccount.name -}}
{{- end -}}

{{/* Where task Pods run: a namespace of their own, never the release's (which holds the Secrets). */}}
{{- define "eiaas.workloadNamespace" -}}
{{- $default := printf "%s-tasks" (.Release.Namespace | trunc 57 | trimSuffix "-") -}}
{{- default $default .Values.agent.workloadNamespace.name -}}
{{- end -}}

{{/* True (non-empty) when the processes get a REDIS_URL. */}}
{{- define "eiaas.redis.configured" -}}
{{- if or .Values.redis.enabled .Values.externalRedis.url .Values.externalRedis.existingSecret -}}true{{- end -}}
{{- end -}}

{{/* Secret and key holding one credential: the user's existingSecret, else the release Secret. Arguments: (list . VALUES DEFAULT_KEY). */}}
{{- define "eiaas.secretKeyRef" -}}
{{- $top := index . 0 -}}
{{- $v := index . 1 -}}
{{- if $v.existingSecret -}}
name: {{ $v.existingSecret }}
key: {{ $v.existingSecretKey }}
{{- else -}}
name: {{ include "eiaas.secretName" $top }}
key: {{ index . 2 }}
{{- end -}}
{{- end -}}

{{/* Refuse combinations that cannot work, with a message saying what to set. */}}
{{- define "eiaas.validate" -}}
{{- $extDb := or .Values.externalDatabase.url .Values.externalDatabase.existingSecret -}}
{{- if and .Values.postgresql.enabled $extDb -}}
{{- fail "postgresql.enabled and externalDatabase are both set: set postgresql.enabled=false to use the external database, or clear externalDatabase.url/existingSecret" -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) (not $extDb) -}}
{{- fail "postgresql.enabled is false: set externalDatabase.url or externalDatabase.existingSecret" -}}
{{- end -}}
{{- if and .Values.externalDatabase.url .Values.externalDatabase.existingSecret -}}
{{- fail "externalDatabase: set url or existingSecret, not both" -}}
{{- end -}}
{{- $extRedis := or .Values.externalRedis.url .Values.externalRedis.existingSecret -}}
{{- if and .Values.redis.enabled $extRedis -}}
{{- fail "redis.enabled and externalRedis are both set: set redis.enabled=false to use the external Redis, or clear externalRedis.url/existingSecret" -}}
{{- end -}}
{{- if and .Values.externalRedis.url .Values.externalRedis.existingSecret -}}
{{- fail "externalRedis: set url or existingSecret, not both" -}}
{{- end -}}
{{- if and .Values.agent.enabled (not (include "eiaas.redis.configured" .)) -}}
{{- fail "agents need Redis: set redis.enabled=true, externalRedis.url or externalRedis.existingSecret (or agent.enabled=false)" -}}
{{- end -}}
{{- if and .Values.agent.enabled (eq (include "eiaas.workloadNamespace" .) .Release.Namespace) -}}
{{- fail "agent.workloadNamespace.name must differ from the release namespace: task Pods must not run beside the control plane's Secrets" -}}
{{- end -}}
{{- if .Values.agent.enabled -}}
{{- if not .Values.agent.nodePools -}}
{{- fail "agent.nodePools is empty: give at least one pool, or set agent.enabled=false" -}}
{{- end -}}
{{- $seen := dict -}}
{{- range .Values.agent.nodePools -}}
{{- if hasKey $seen .name -}}
{{- fail (printf "agent.nodePools: the pool name %q is used twice" .name) -}}
{{- end -}}
{{- $_ := set $seen .name true -}}
{{- if and .specConfigMap (or .taints .spec) -}}
{{- fail (printf "agent.nodePools[%s]: give taints and spec in the specConfigMap's file, or as values, not both" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The generated credentials of this release, computed once per render and shared by every template
that needs them (the Secrets, and the checksum annotations that roll the pods when they change):
the given value, else the one already in the release's Secret (lookup, on upgrade), else a new
random one. Returns JSON. `helm template`, `--dry-run` and GitOps tools that render without a
cluster cannot look up: they get new random values on every render (see helm/README.md, "Secrets").
*/}}
{{- define "eiaas.credentials" -}}
{{- if not (hasKey .Values "__eiaasCredentials") -}}
{{- $old := dict -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "eiaas.secretName" .) -}}
{{- if and $existing $existing.data -}}
{{- $old = $existing.data -}}
{{- end -}}
{{- $c := dict -}}
{{- /* (list GIVEN EXISTING_SECRET KEY LENGTH) per credential the chart may have to hold */ -}}
{{- $want := list (list .Values.adminToken.value .Values.adminToken.existingSecret "admin-token" 48) (list .Values.bootstrapToken.value .Values.bootstrapToken.existingSecret "bootstrap-token" 48) -}}
{{- if .Values.postgresql.enabled -}}
{{- $want = append $want (list .Values.postgresql.auth.password .Values.postgresql.auth.existingSecret "postgres-password" 32) -}}
{{- end -}}
{{- if .Values.redis.enabled -}}
{{- $want = append $want (list .Values.redis.auth.password .Values.redis.auth.existingSecret "redis-password" 32) -}}
{{- end -}}
{{- range $want -}}
{{- $key := index . 2 -}}
{{- if not (index . 1) -}}
{{- if index . 0 -}}
{{- $_ := set $c $key (index . 0) -}}
{{- else if hasKey $old $key -}}
{{- $_ := set $c $key (index $old $key | b64dec) -}}
{{- else -}}
{{- $_ := set $c $key (randAlphaNum (index . 3)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalDatabase.url -}}
{{- $_ := set $c "database-url" .Values.externalDatabase.url -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) .Values.externalRedis.url -}}
{{- $_ := set $c "redis-url" .Values.externalRedis.url -}}
{{- end -}}
{{- $_ := set .Values "__eiaasCredentials" $c -}}
{{- end -}}
{{- index .Values "__eiaasCredentials" | toJson -}}
{{- end -}}

{{/*
The API server's CA and serving certificate, computed once per render like the credentials: the
existing <fullname>-tls Secret's (lookup), else new ones (10 years) valid for the Service's names,
localhost, 127.0.0.1, the ingress host and apiServer.tls.extraSANs (IP addresses among them go into
the IP SANs). Returns JSON with base64 ca.crt, tls.crt, tls.key.
*/}}
{{- define "eiaas.tls" -}}
{{- if not (hasKey .Values "__eiaasTls") -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "eiaas.tlsSecretName" .) -}}
{{- $out := dict -}}
{{- if and $existing $existing.data -}}
{{- $out = pick $existing.data "ca.crt" "tls.crt" "tls.key" -}}
{{- else -}}
{{- $svc := include "eiaas.apiServer.name" . -}}
{{- $ns := .Release.Namespace -}}
{{- $dns := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) "localhost" -}}
{{- $ips := list "127.0.0.1" "::1" -}}
{{- if .Values.apiServer.ingress.enabled -}}
{{- $dns = append $dns .Values.apiServer.ingress.host -}}
{{- end -}}
{{- range .Values.apiServer.tls.extraSANs -}}
{{- if or (regexMatch "^[0-9]{1,3}(\\.[0-9]{1,3}){3}$" .) (contains ":" .) -}}
{{- $ips = append $ips . -}}
{{- else -}}
{{- $dns = append $dns . -}}
{{- end -}}
{{- end -}}
{{- $ca := genCA (printf "%s-ca" (include "eiaas.fullname" .)) 3650 -}}
{{- $cert := genSignedCert $svc $ips $dns 3650 $ca -}}
{{- $out = dict "ca.crt" ($ca.Cert | b64enc) "tls.crt" ($cert.Cert | b64enc) "tls.key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- $_ := set .Values "__eiaasTls" $out -}}
{{- end -}}
{{- index .Values "__eiaasTls" | toJson -}}
{{- end -}}

{{/*
Pod annotations that change when what the pod reads from Secrets changes, so that `helm upgrade`
rolls the pods onto new passwords, tokens or certificates. Values held in Secrets of your own
(existingSecret) are not seen by the chart: restart the pods yourself when you change those
(kubectl rollout restart). Argument: a list of "credentials" and/or "tls" and the root context.
*/}}
{{- define "eiaas.checksums" -}}
{{- $top := index . 0 -}}
{{- range (rest .) }}
{{- if eq . "credentials" }}
checksum/credentials: {{ include "eiaas.credentials" $top | sha256sum }}
{{- else if and (eq . "tls") $top.Values.apiServer.tls.existingSecret }}
checksum/tls: {{ printf "existing:%s" $top.Values.apiServer.tls.existingSecret | sha256sum }}
{{- else if eq . "tls" }}
checksum/tls: {{ include "eiaas.tls" $top | sha256sum }}
{{- end }}
{{- end }}
{{- end -}}

{{/*
DATABASE_URL and REDIS_URL. For the bundled servers the URL is composed by Kubernetes from the
password (dependent environment variables: $(VAR) expands a variable defined before it), so that
the password can come from a Secret of yours (postgresql.auth.existingSecret) as well as from the
release's; such a password must be URL-safe.
*/}}
{{- define "eiaas.connectionEnv" -}}
{{- if .Values.postgresql.enabled }}
- name: EIAAS_POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      {{- include "eiaas.secretKeyRef" (list . .Values.postgresql.auth "postgres-password") | nindent 6 }}
- name: DATABASE_URL
  value: {{ printf "postgresql://%s:$(EIAAS_POSTGRES_PASSWORD)@%s:5432/%s" .Values.postgresql.username (include "eiaas.postgresql.name" .) .Values.postgresql.database | quote }}
{{- else }}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      {{- include "eiaas.secretKeyRef" (list . .Values.externalDatabase "database-url") | nindent 6 }}
{{- end }}
{{- if .Values.redis.enabled }}
- name: EIAAS_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      {{- include "eiaas.secretKeyRef" (list . .Values.redis.auth "redis-password") | nindent 6 }}
- name: REDIS_URL
  value: {{ printf "redis://:$(EIAAS_REDIS_PASSWORD)@%s:6379" (include "eiaas.redis.name" .) | quote }}
{{- else if include "eiaas.redis.configured" . }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef:
      {{- include "eiaas.secretKeyRef" (list . .Values.externalRedis "redis-url") | nindent 6 }}
{{- end }}
{{- end -}}

{{/* Environment shared by the control-plane processes: database, Redis, logs, traces, metrics. */}}
{{- define "eiaas.commonEnv" -}}
{{ include "eiaas.connectionEnv" . | trim }}
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
Spread the replicas of a control-plane Deployment over nodes and zones when the cluster allows it
(ScheduleAnyway: a one-node cluster still runs them all), unless the values give their own
constraints or affinity. Arguments: (list . COMPONENT VALUES).
*/}}
{{- define "eiaas.spread" -}}
{{- $top := index . 0 -}}
{{- $component := index . 1 -}}
{{- $v := index . 2 -}}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml $v.topologySpreadConstraints | nindent 2 }}
{{- else if not $v.affinity }}
topologySpreadConstraints:
{{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "eiaas.selectorLabels" $top | nindent 8 }}
        app.kubernetes.io/component: {{ $component }}
    matchLabelKeys: [pod-template-hash]
{{- end }}
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

{{/* A node pool's labels as the agent's --labels value: k=v,k2=v2 in key order. */}}
{{- define "eiaas.agent.labelsFlag" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}
