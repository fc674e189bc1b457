// Typed accessors over rendered manifests, and the cross-object checks no schema can make:
// selectors against pod labels, probes and Service targets against container ports, mounts against
// volumes, Secret and ConfigMap references against what the chart renders or the values name.
import type { Manifest } from "./helm.js";

export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
    resourceFieldRef?: { containerName?: string; resource: string; divisor?: string };
  };
}
export interface Probe {
  httpGet?: { path: string; port: string | number; scheme?: string };
  tcpSocket?: { port: string | number };
  exec?: { command: string[] };
}
export interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
export interface Volume {
  name: string;
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  configMap?: { name: string; items?: { key: string; path: string }[] };
  emptyDir?: { medium?: string; sizeLimit?: string };
  hostPath?: { path: string; type?: string };
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  nodeSelector?: Record<string, string>;
  tolerations?: Record<string, unknown>[];
  securityContext?: Record<string, unknown>;
  affinity?: Record<string, unknown>;
  topologySpreadConstraints?: { topologyKey: string; whenUnsatisfiable: string; labelSelector: { matchLabels: Record<string, string> } }[];
}
export interface Workload extends Manifest {
  spec: {
    replicas?: number;
    serviceName?: string;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }[];
  };
}
export type SecretManifest = Manifest & { type?: string; data?: Record<string, string>; stringData?: Record<string, string> };

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet"]);

export const names = (ms: Manifest[]) => ms.map((m) => `${m.kind}/${m.metadata.name}`).sort();
export const find = <T extends Manifest = Manifest>(ms: Manifest[], kind: string, name: string) => ms.find((m) => m.kind === kind && m.metadata.name === name) as T | undefined;
export function get<T extends Manifest = Manifest>(ms: Manifest[], kind: string, name: string): T {
  const m = find<T>(ms, kind, name);
  if (!m) throw new Error(`no ${kind}/${name} among ${names(ms).join(", ")}`);
  return m;
}
export const workloads = (ms: Manifest[]) => ms.filter((m) => WORKLOAD_KINDS.has(m.kind)) as Workload[];
export const containersOf = (w: Workload) => [...w.spec.template.spec.containers, ...(w.spec.template.spec.initContainers ?? [])];
export const envOf = (c: Container) => new Map((c.env ?? []).map((e) => [e.name, e]));
export const flagOf = (c: Container, flag: string) => {
  const args = c.args ?? [];
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};
/** A Secret's data, decoded. */
export function secretData(ms: Manifest[], name: string): Record<string, string> {
  const s = get<SecretManifest>(ms, "Secret", name);
  const out: Record<string, string> = { ...(s.stringData ?? {}) };
  for (const [k, v] of Object.entries(s.data ?? {})) out[k] = Buffer.from(v, "base64").toString("utf8");
  return out;
}
/** The eiaas image's containers (not Postgres or Redis). */
export const eiaasContainers = (ms: Manifest[], repository: string) =>
  workloads(ms).flatMap((w) =>
    containersOf(w)
      .filter((c) => c.image.startsWith(`${repository}:`))
      .map((c) => ({ w, c })),
  );

const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) => Object.entries(selector).every(([k, v]) => labels?.[k] === v);

type Refs = {
  secrets: Map<string, Set<string>>;
  configMaps: Map<string, Set<string>>;
  /** Secrets and ConfigMaps the values name (existingSecret, a node pool's specConfigMap). */
  external: string[];
};

/**
 * What no schema checks. `external` names Secrets and ConfigMaps the values point at
 * (existingSecret, specConfigMap): references to them are fine, with whatever key. Returns one
 * message per problem.
 */
export function consistencyErrors(ms: Manifest[], external: string[] = []): string[] {
  const keysOf = (m: Manifest) => new Set(Object.keys({ ...((m as SecretManifest).data ?? {}), ...((m as SecretManifest).stringData ?? {}) }));
  const refs: Refs = {
    secrets: new Map(ms.filter((m) => m.kind === "Secret").map((m) => [m.metadata.name, keysOf(m)])),
    configMaps: new Map(ms.filter((m) => m.kind === "ConfigMap").map((m) => [m.metadata.name, keysOf(m)])),
    external,
  };
  return [...duplicateErrors(ms), ...workloads(ms).flatMap((w) => workloadErrors(ms, w, refs)), ...selectorErrors(ms), ...nameErrors(ms)];
}

function duplicateErrors(ms: Manifest[]): string[] {
  const seen = new Set<string>();
  const errors: string[] = [];
  for (const m of ms) {
    const key = `${m.kind}/${m.metadata.namespace ?? ""}/${m.metadata.name}`;
    if (seen.has(key)) errors.push(`${key} is rendered twice`);
    seen.add(key);
  }
  return errors;
}

function secretRefError(refs: Refs, where: string, name: string, key?: string): string[] {
  if (refs.external.includes(name)) return [];
  const keys = refs.secrets.get(name);
  if (!keys) return [`${where}: Secret ${name} is neither rendered nor given as an existingSecret`];
  if (key !== undefined && !keys.has(key)) return [`${where}: Secret ${name} has no key ${key}`];
  return [];
}

/** A pod template against itself and what it references: ports, volumes, env, Secrets, ConfigMaps. */
function workloadErrors(ms: Manifest[], w: Workload, refs: Refs): string[] {
  const errors: string[] = [];
  const pod = w.spec.template.spec;
  const where = `${w.kind}/${w.metadata.name}`;
  if (!matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels)) errors.push(`${where}: selector does not match its pod labels`);
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  for (const t of w.spec.volumeClaimTemplates ?? []) volumes.set(t.metadata.name, { name: t.metadata.name });
  const mounted = new Set<string>();
  for (const c of containersOf(w)) {
    const cw = `${where}/${c.name}`;
    const ports = c.ports ?? [];
    for (const [kind, probe] of Object.entries({ liveness: c.livenessProbe, readiness: c.readinessProbe, startup: c.startupProbe })) {
      const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
      if (port !== undefined && !ports.some((p) => p.name === port || p.containerPort === port)) errors.push(`${cw}: ${kind} probe on port ${port}, which the container does not declare`);
    }
    for (const m of c.volumeMounts ?? []) {
      mounted.add(m.name);
      if (!volumes.has(m.name)) errors.push(`${cw}: mounts ${m.name}, which the pod does not declare`);
    }
    errors.push(...envErrors(c, cw, refs));
  }
  for (const v of volumes.values()) {
    if (!mounted.has(v.name)) errors.push(`${where}: volume ${v.name} is mounted by no container`);
    if (v.secret) {
      errors.push(...secretRefError(refs, `${where} volume ${v.name}`, v.secret.secretName));
      for (const item of v.secret.items ?? []) errors.push(...secretRefError(refs, `${where} volume ${v.name}`, v.secret.secretName, item.key));
    }
    if (v.configMap && !refs.configMaps.has(v.configMap.name) && !refs.external.includes(v.configMap.name)) errors.push(`${where} volume ${v.name}: ConfigMap ${v.configMap.name} is not rendered`);
  }
  if (pod.serviceAccountName && !ms.some((m) => m.kind === "ServiceAccount" && m.metadata.name === pod.serviceAccountName)) {
    errors.push(`${where}: ServiceAccount ${pod.serviceAccountName} is not rendered`);
  }
  if (w.kind === "StatefulSet" && w.spec.serviceName && !ms.some((m) => m.kind === "Service" && m.metadata.name === w.spec.serviceName)) {
    errors.push(`${where}: its serviceName ${w.spec.serviceName} is not a rendered Service`);
  }
  return errors;
}

/** A container's env and arguments: $(VAR) only after VAR, references to existing Secrets and ConfigMaps. */
function envErrors(c: Container, cw: string, refs: Refs): string[] {
  const errors: string[] = [];
  const defined = new Set<string>();
  for (const e of c.env ?? []) {
    if (defined.has(e.name)) errors.push(`${cw}: env ${e.name} twice`);
    // Kubernetes expands $(VAR) only from variables defined before it.
    for (const ref of (e.value ?? "").matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) {
      if (!defined.has(ref[1]!)) errors.push(`${cw}: env ${e.name} uses $(${ref[1]}) before it is defined`);
    }
    defined.add(e.name);
    const s = e.valueFrom?.secretKeyRef;
    if (s) errors.push(...secretRefError(refs, `${cw} env ${e.name}`, s.name, s.key));
    const cm = e.valueFrom?.configMapKeyRef;
    if (cm && !refs.configMaps.get(cm.name)?.has(cm.key)) errors.push(`${cw} env ${e.name}: ConfigMap ${cm.name} has no key ${cm.key}`);
  }
  for (const arg of c.args ?? []) {
    for (const ref of arg.matchAll(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g)) if (!defined.has(ref[1]!)) errors.push(`${cw}: argument uses $(${ref[1]}), which is not in its env`);
  }
  return errors;
}

/** Services, PodDisruptionBudgets, NetworkPolicies and RoleBindings point at something rendered. */
function selectorErrors(ms: Manifest[]): string[] {
  const errors: string[] = [];
  for (const svc of ms.filter((m) => m.kind === "Service") as (Manifest & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string | number }[] } })[]) {
    const targets = workloads(ms).filter((w) => matches(svc.spec.selector, w.spec.template.metadata.labels));
    if (targets.length !== 1) {
      errors.push(`Service/${svc.metadata.name} selects ${targets.length} workloads`);
      continue;
    }
    const ports = targets[0]!.spec.template.spec.containers.flatMap((c) => c.ports ?? []);
    for (const p of svc.spec.ports) {
      if (!ports.some((cp) => cp.name === p.targetPort || cp.containerPort === p.targetPort))
        errors.push(`Service/${svc.metadata.name}: targetPort ${p.targetPort} is no port of ${targets[0]!.metadata.name}`);
    }
  }
  for (const m of ms.filter((x) => x.kind === "PodDisruptionBudget" || x.kind === "NetworkPolicy") as (Manifest & {
    spec: { selector?: { matchLabels: Record<string, string> }; podSelector?: { matchLabels: Record<string, string> } };
  })[]) {
    const selector = (m.spec.selector ?? m.spec.podSelector)!.matchLabels;
    if (!workloads(ms).some((w) => matches(selector, w.spec.template.metadata.labels))) errors.push(`${m.kind}/${m.metadata.name} selects no pods`);
  }
  for (const rb of ms.filter((m) => m.kind === "RoleBinding") as (Manifest & { roleRef: { kind: string; name: string } })[]) {
    if (!ms.some((m) => m.kind === rb.roleRef.kind && m.metadata.name === rb.roleRef.name && m.metadata.namespace === rb.metadata.namespace)) {
      errors.push(`RoleBinding/${rb.metadata.name}: ${rb.roleRef.kind} ${rb.roleRef.name} is not rendered in its namespace`);
    }
  }
  return errors;
}

/** DNS-label names, the StatefulSet's 52 (its pods' controller-revision-hash label), label values. */
function nameErrors(ms: Manifest[]): string[] {
  const errors: string[] = [];
  for (const m of ms) {
    if (m.metadata.name.length > 63 && m.kind !== "Secret" && m.kind !== "ConfigMap") errors.push(`${m.kind}/${m.metadata.name}: name longer than 63 characters`);
    if (m.kind === "StatefulSet" && m.metadata.name.length > 52) errors.push(`StatefulSet/${m.metadata.name}: over 52 characters, its pods' controller-revision-hash label would exceed 63`);
    for (const [k, v] of Object.entries(m.metadata.labels ?? {})) if (v.length > 63) errors.push(`${m.kind}/${m.metadata.name}: label ${k} over 63 characters`);
  }
  return errors;
}
