{{/* Names, labels and small shared snippets of the Basalt chart. */}}

{{- define "basalt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "basalt.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels every object carries; Basalt-created objects are managed-by basalt, chart objects by Helm. */}}
{{- define "basalt.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "basalt.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: basalt
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "basalt.selectorLabels" -}}
app.kubernetes.io/name: {{ include "basalt.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Component labels: call with (dict "root" $ "component" "controller"). */}}
{{- define "basalt.componentLabels" -}}
{{ include "basalt.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "basalt.componentSelector" -}}
{{ include "basalt.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "basalt.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "basalt.controller.serviceAccountName" -}}
{{- if .Values.controller.serviceAccount.create -}}
{{- default (printf "%s-controller" (include "basalt.fullname" .)) .Values.controller.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.controller.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "basalt.webhook.serviceAccountName" -}}
{{- if .Values.webhook.serviceAccount.create -}}
{{- default (printf "%s-webhook" (include "basalt.fullname" .)) .Values.webhook.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.webhook.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "basalt.webhook.serviceName" -}}
{{- printf "%s-webhook" (include "basalt.fullname" .) -}}
{{- end -}}

{{- define "basalt.webhook.tlsSecretName" -}}
{{- printf "%s-webhook-tls" (include "basalt.fullname" .) -}}
{{- end -}}

{{- define "basalt.webhook.certificateName" -}}
{{- printf "%s-webhook" (include "basalt.fullname" .) -}}
{{- end -}}

{{/* Environment shared by every component. */}}
{{- define "basalt.commonEnv" -}}
- name: RUST_LOG
  value: {{ .Values.logLevel | quote }}
- name: BASALT_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}

{{/*
The admission endpoints `basalt webhook` serves (webhooks::Route::ALL), by path: kind of webhook,
API group, version, resource and operations. The schema's enum for webhook.enabledAdmissions is
this list's keys.
*/}}
{{- define "basalt.admissions" -}}
/jobs/mutate: {type: mutating, group: batch.volcano.sh, version: v1alpha1, resource: jobs, operations: [CREATE]}
/jobs/validate: {type: validating, group: batch.volcano.sh, version: v1alpha1, resource: jobs, operations: [CREATE, UPDATE]}
/podgroups/mutate: {type: mutating, group: scheduling.volcano.sh, version: v1beta1, resource: podgroups, operations: [CREATE]}
/podgroups/validate: {type: validating, group: scheduling.volcano.sh, version: v1beta1, resource: podgroups, operations: [CREATE]}
/queues/mutate: {type: mutating, group: scheduling.volcano.sh, version: v1beta1, resource: queues, operations: [CREATE]}
/queues/validate: {type: validating, group: scheduling.volcano.sh, version: v1beta1, resource: queues, operations: [CREATE, UPDATE, DELETE]}
/jobflows/validate: {type: validating, group: flow.volcano.sh, version: v1alpha1, resource: jobflows, operations: [CREATE, UPDATE]}
/jobtemplates/validate: {type: validating, group: flow.volcano.sh, version: v1alpha1, resource: jobtemplates, operations: [CREATE, UPDATE]}
{{- end -}}

{{/* The scheduler configuration: the values override when set, else the shipped default. */}}
{{- define "basalt.schedulerConfig" -}}
{{- if .Values.scheduler.configOverride -}}
{{- .Values.scheduler.configOverride | trim -}}
{{- else -}}
{{- .Files.Get "files/scheduler.yaml" | trim -}}
{{- end -}}
{{- end -}}

{{/* Pod-level scheduling knobs shared by the two Deployments: call with a component's values. */}}
{{- define "basalt.podPlacement" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end -}}
