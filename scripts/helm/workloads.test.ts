// The control plane's workloads as Helm renders them: the API server and the scheduler (probes,
// migrations, environment, high availability), the bundled Postgres and Redis, and the security
// settings every pod runs with.
import { beforeAll, describe, expect, it, vi } from "vitest";
import { IMAGE_REPOSITORY, RELEASE, renderChart, type Manifest } from "../testkit/helm.js";
import { eiaasContainers, envOf, get, names, workloads, type Workload } from "../testkit/manifests.js";

// Each test runs helm (a process) a few times: slow on a busy machine, never a hang.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

describe("helm/eiaas: rendered with default values", () => {
  let r: Manifest[];
  beforeAll(() => {
    r = renderChart();
  });

  it("renders the expected objects", () => {
    expect(names(r)).toEqual(
      [
        "DaemonSet/eiaas-agent-default",
        "Deployment/eiaas-api-server",
        "Deployment/eiaas-redis",
        "Deployment/eiaas-scheduler",
        "Namespace/edge-system-tasks",
        "NetworkPolicy/eiaas-postgresql",
        "NetworkPolicy/eiaas-redis",
        "PodDisruptionBudget/eiaas-api-server",
        "PodDisruptionBudget/eiaas-scheduler",
        "Role/eiaas-agent",
        "RoleBinding/eiaas-agent",
        "Secret/eiaas",
        "Secret/eiaas-tls",
        "Service/eiaas-api-server",
        "Service/eiaas-postgresql",
        "Service/eiaas-redis",
        "ServiceAccount/eiaas-agent",
        "StatefulSet/eiaas-postgresql",
      ].sort(),
    );
    for (const m of r) {
      expect(m.metadata.labels?.["app.kubernetes.io/instance"], `${m.kind}/${m.metadata.name}`).toBe(RELEASE.name);
      expect(m.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("Helm");
    }
  });

  it("api-server: HTTPS probes on /livez and /readyz, TLS from the chart's Secret, migrations in an init container", () => {
    const d = get<Workload>(r, "Deployment", "eiaas-api-server");
    const c = d.spec.template.spec.containers[0]!;
    expect(c.image).toBe(`${IMAGE_REPOSITORY}:0.1.0`);
    expect(c.args).toEqual(["api-server"]);
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: "/livez", scheme: "HTTPS", port: "https" });
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: "/readyz", scheme: "HTTPS", port: "https" });
    expect(c.startupProbe?.httpGet).toMatchObject({ path: "/livez", scheme: "HTTPS", port: "https" });
    expect(c.ports).toEqual([{ name: "https", containerPort: 8443, protocol: "TCP" }]);
    const env = envOf(c);
    expect(env.get("EIAAS_PORT")?.value).toBe("8443");
    expect(env.get("EIAAS_TLS_CERT")?.value).toBe("/etc/eiaas/tls/tls.crt");
    expect(env.get("EIAAS_TLS_KEY")?.value).toBe("/etc/eiaas/tls/tls.key");
    expect(env.get("EIAAS_ADMIN_TOKEN")?.valueFrom?.secretKeyRef).toEqual({ name: "eiaas", key: "admin-token" });
    const tlsMount = c.volumeMounts?.find((m) => m.mountPath === "/etc/eiaas/tls");
    expect(d.spec.template.spec.volumes?.find((v) => v.name === tlsMount?.name)?.secret?.secretName).toBe("eiaas-tls");
    const init = d.spec.template.spec.initContainers ?? [];
    expect(init.map((i) => [i.name, i.args])).toEqual([["migrate", ["migrate"]]]);
    expect(d.spec.replicas).toBe(2);
  });

  it("the bundled database's URL is composed from the password Secret (so that it can be a Secret of yours)", () => {
    for (const name of ["eiaas-api-server", "eiaas-scheduler"]) {
      const d = get<Workload>(r, "Deployment", name);
      for (const c of [...d.spec.template.spec.containers, ...d.spec.template.spec.initContainers!]) {
        const env = envOf(c);
        expect(env.get("EIAAS_POSTGRES_PASSWORD")?.valueFrom?.secretKeyRef, `${name}/${c.name}`).toEqual({ name: "eiaas", key: "postgres-password" });
        expect(env.get("DATABASE_URL")?.value).toBe("postgresql://eiaas:$(EIAAS_POSTGRES_PASSWORD)@eiaas-postgresql:5432/eiaas");
        expect(env.get("REDIS_URL")?.value).toBe("redis://:$(EIAAS_REDIS_PASSWORD)@eiaas-redis:6379");
        // Kubernetes expands $(VAR) only from variables defined earlier in the list.
        const order = (c.env ?? []).map((e) => e.name);
        expect(order.indexOf("EIAAS_POSTGRES_PASSWORD")).toBeLessThan(order.indexOf("DATABASE_URL"));
        expect(order.indexOf("EIAAS_REDIS_PASSWORD")).toBeLessThan(order.indexOf("REDIS_URL"));
      }
    }
  });

  it("scheduler: 2 replicas, probes and lifecycle settings on its metrics port, waits for migrations", () => {
    const d = get<Workload>(r, "Deployment", "eiaas-scheduler");
    expect(d.spec.replicas).toBe(2);
    const c = d.spec.template.spec.containers[0]!;
    expect(c.args).toEqual(["scheduler"]);
    expect(c.ports?.[0]).toMatchObject({ name: "metrics", containerPort: 9090 });
    expect(c.livenessProbe?.httpGet).toMatchObject({ path: "/livez", port: "metrics" });
    expect(c.readinessProbe?.httpGet).toMatchObject({ path: "/readyz", port: "metrics" });
    const env = envOf(c);
    expect(env.get("EIAAS_METRICS_PORT")?.value).toBe("9090");
    expect(env.get("EIAAS_NODE_GRACE_SECONDS")?.value).toBe("40");
    expect(env.get("EIAAS_NODE_EVICTION_SECONDS")?.value).toBe("60");
    expect(d.spec.template.spec.initContainers?.map((i) => i.args)).toEqual([["migrate"]]);
  });

  it("HA: the API server's and scheduler's replicas spread over nodes and zones when they can", () => {
    for (const component of ["api-server", "scheduler"]) {
      const pod = get<Workload>(r, "Deployment", `eiaas-${component}`).spec.template.spec;
      const spread = pod.topologySpreadConstraints ?? [];
      expect(
        spread.map((s) => s.topologyKey),
        component,
      ).toEqual(["kubernetes.io/hostname", "topology.kubernetes.io/zone"]);
      for (const s of spread) {
        // Soft: a one-node cluster still runs both replicas.
        expect(s.whenUnsatisfiable).toBe("ScheduleAnyway");
        expect(s.labelSelector.matchLabels).toEqual({ "app.kubernetes.io/name": "eiaas", "app.kubernetes.io/instance": RELEASE.name, "app.kubernetes.io/component": component });
      }
    }
  });

  it("PodDisruptionBudgets: one pod at a time, and an unhealthy pod never blocks a drain", () => {
    for (const component of ["api-server", "scheduler"]) {
      const pdb = get<Manifest & { spec: Record<string, unknown> & { selector: { matchLabels: Record<string, string> } } }>(r, "PodDisruptionBudget", `eiaas-${component}`);
      expect(pdb.spec.maxUnavailable).toBe(1);
      // With maxUnavailable 1 and one pod unhealthy, the default policy would let no pod go.
      expect(pdb.spec.unhealthyPodEvictionPolicy).toBe("AlwaysAllow");
      expect(get<Workload>(r, "Deployment", `eiaas-${component}`).spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    }
  });

  it("bundled Postgres: a StatefulSet with a volume claim, its password from the Secret, an in-memory /dev/shm", () => {
    const sts = get<Workload>(r, "StatefulSet", "eiaas-postgresql");
    expect(sts.spec.serviceName).toBe("eiaas-postgresql");
    expect(sts.spec.volumeClaimTemplates?.[0]!.spec.resources.requests.storage).toBe("8Gi");
    const pod = sts.spec.template.spec;
    const pg = pod.containers[0]!;
    expect(pg.image).toBe("docker.io/library/postgres:17-bookworm");
    expect(envOf(pg).get("POSTGRES_PASSWORD")?.valueFrom?.secretKeyRef).toEqual({ name: "eiaas", key: "postgres-password" });
    expect(pg.readinessProbe?.exec?.command.join(" ")).toMatch(/pg_isready/);
    const shm = pg.volumeMounts?.find((m) => m.mountPath === "/dev/shm");
    expect(pod.volumes?.find((v) => v.name === shm?.name)?.emptyDir).toEqual({ medium: "Memory", sizeLimit: "256Mi" });
  });

  it("bundled Redis: password from a config file written at start, not on its command line; maxmemory under its limit, noeviction", () => {
    const pod = get<Workload>(r, "Deployment", "eiaas-redis").spec.template.spec;
    const redis = pod.containers[0]!;
    expect(redis.image).toBe("docker.io/library/redis:7-bookworm");
    const script = [...(redis.command ?? []), ...(redis.args ?? [])].join(" ");
    expect(script).not.toMatch(/--requirepass/);
    expect(script).toMatch(/printf 'requirepass "%s"\\n' "\$REDIS_PASSWORD" > \/run\/redis\/redis\.conf/);
    expect(script).toMatch(/exec redis-server \/run\/redis\/redis\.conf /);
    expect(script).toContain(`--maxmemory "$((REDIS_MEMORY_LIMIT_MIB * 75 / 100))mb" --maxmemory-policy noeviction`);
    const env = envOf(redis);
    expect(env.get("REDIS_PASSWORD")?.valueFrom?.secretKeyRef).toEqual({ name: "eiaas", key: "redis-password" });
    expect(env.get("REDIS_MEMORY_LIMIT_MIB")?.valueFrom?.resourceFieldRef).toEqual({ containerName: "redis", resource: "limits.memory", divisor: "1Mi" });
    expect(redis.resources?.limits?.memory).toBe("512Mi");
    expect(redis.securityContext?.readOnlyRootFilesystem).toBe(true);
    const conf = redis.volumeMounts?.find((m) => m.mountPath === "/run/redis");
    expect(pod.volumes?.find((v) => v.name === conf?.name)?.emptyDir).toMatchObject({ medium: "Memory" });
  });

  it("eiaas containers run as non-root with a read-only root filesystem, resources set and /tmp writable", () => {
    for (const { w, c } of eiaasContainers(r, IMAGE_REPOSITORY)) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
      expect(pod.securityContext?.runAsUser).toBe(10001);
      expect(c.securityContext?.readOnlyRootFilesystem, `${w.metadata.name}/${c.name}`).toBe(true);
      expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
      expect(c.resources?.requests, `${w.metadata.name}/${c.name} requests`).toBeDefined();
      const tmp = c.volumeMounts?.find((m) => m.mountPath === "/tmp");
      expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir, `${w.metadata.name}/${c.name} /tmp`).toBeDefined();
    }
    for (const w of workloads(r)) {
      if (w.kind !== "DaemonSet") expect(w.spec.template.spec.automountServiceAccountToken, w.metadata.name).toBe(false);
    }
  });
});

describe("helm/eiaas: workloads with other values", () => {
  it("affinity or topologySpreadConstraints of your own replace the default spreading", () => {
    const affinity = { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "pool", operator: "In", values: ["control"] }] }] } } };
    const spread = [{ maxSkew: 2, topologyKey: "topology.kubernetes.io/zone", whenUnsatisfiable: "DoNotSchedule", labelSelector: { matchLabels: { a: "b" } } }];
    const r = renderChart({ apiServer: { affinity }, scheduler: { topologySpreadConstraints: spread } });
    const api = get<Workload>(r, "Deployment", "eiaas-api-server").spec.template.spec;
    expect(api.affinity).toEqual(affinity);
    expect(api.topologySpreadConstraints).toBeUndefined();
    expect(get<Workload>(r, "Deployment", "eiaas-scheduler").spec.template.spec.topologySpreadConstraints).toEqual(spread);
  });

  it("passes OpenTelemetry, log level and metrics auth to every eiaas container", () => {
    const r = renderChart({ otel: { endpoint: "http://otel:4318" }, logLevel: "debug", metrics: { auth: true } });
    for (const { w, c } of eiaasContainers(r, IMAGE_REPOSITORY)) {
      const env = envOf(c);
      expect(env.get("OTEL_EXPORTER_OTLP_ENDPOINT")?.value, `${w.metadata.name}/${c.name}`).toBe("http://otel:4318");
      expect(env.get("EIAAS_LOG_LEVEL")?.value).toBe("debug");
      expect(env.get("EIAAS_METRICS_AUTH")?.value).toBe("true");
    }
    for (const { c } of eiaasContainers(renderChart(), IMAGE_REPOSITORY)) expect(envOf(c).has("OTEL_EXPORTER_OTLP_ENDPOINT")).toBe(false);
  });
});
