// Credentials and certificates as Helm renders them: what the release Secret holds, the checksum
// annotations that roll the pods when it changes, Secrets of your own for every credential,
// configurations that would silently ignore one database, and the generated certificate's names.
import { X509Certificate } from "node:crypto";
import { createHash } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { helmTemplateRun, RELEASE, renderChart, withImage, type Manifest } from "../testkit/helm.js";
import { containersOf, envOf, find, get, secretData, workloads, type SecretManifest, type Workload } from "../testkit/manifests.js";

// Each test runs helm (a process) a few times: slow on a busy machine, never a hang.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const ns = RELEASE.namespace;
const sha256 = (s: string) => createHash("sha256").update(s).digest("hex");
/** Helm's toJson of a map: keys sorted, no spaces (Go's encoding/json). */
const goJson = (o: Record<string, string>) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1))));
const annotations = (r: Manifest[]) => new Map(workloads(r).map((w) => [w.metadata.name, w.spec.template.metadata.annotations ?? {}]));

describe("helm/eiaas: Secrets", () => {
  it("generated tokens and passwords; the bundled databases' URLs are not stored (composed from the passwords)", () => {
    const r = renderChart();
    const data = secretData(r, "eiaas");
    expect(Object.keys(data).sort()).toEqual(["admin-token", "bootstrap-token", "postgres-password", "redis-password"]);
    expect(data["admin-token"]).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(data["bootstrap-token"]).toMatch(/^[A-Za-z0-9]{48}$/);
    expect(data["admin-token"]).not.toBe(data["bootstrap-token"]);
    expect(get(r, "Secret", "eiaas").metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    const tls = get<SecretManifest>(r, "Secret", "eiaas-tls");
    expect(tls.type).toBe("kubernetes.io/tls");
    expect(Object.keys(tls.data ?? {}).sort()).toEqual(["ca.crt", "tls.crt", "tls.key"]);
  });

  it("every pod carries checksums of exactly the credentials and certificate the Secrets hold, and they change with them", () => {
    const given = {
      adminToken: { value: "admin-token-0123456789abcdef0123456789" },
      bootstrapToken: { value: "bootstrap-token-0123456789" },
      postgresql: { auth: { password: "pg-pass" } },
      redis: { auth: { password: "redis-pass" } },
    };
    const r = renderChart(given);
    const credentials = sha256(goJson(secretData(r, "eiaas")));
    const tls = sha256(goJson(get<SecretManifest>(r, "Secret", "eiaas-tls").data!));
    const expected: Record<string, string[]> = {
      "eiaas-api-server": ["checksum/credentials", "checksum/tls"],
      "eiaas-scheduler": ["checksum/credentials"],
      "eiaas-agent-default": ["checksum/credentials", "checksum/tls"],
      "eiaas-postgresql": ["checksum/credentials"],
      "eiaas-redis": ["checksum/credentials"],
    };
    const got = annotations(r);
    for (const [name, keys] of Object.entries(expected)) {
      expect(Object.keys(got.get(name)!).sort(), name).toEqual(keys);
      // The one render computes the credentials once: the annotation is the Secret's own digest.
      expect(got.get(name)!["checksum/credentials"], name).toBe(credentials);
      if (keys.includes("checksum/tls")) expect(got.get(name)!["checksum/tls"]).toBe(tls);
    }
    // Same values, same credentials: the pods stay (the certificate is new in each `helm template`,
    // as on a fresh install; on upgrade it is looked up).
    expect(annotations(renderChart(given)).get("eiaas-scheduler")).toEqual(got.get("eiaas-scheduler"));
    // A changed password rolls the pods that read it.
    const rotated = annotations(renderChart({ ...given, postgresql: { auth: { password: "pg-pass-2" } } }));
    for (const name of Object.keys(expected)) expect(rotated.get(name)!["checksum/credentials"], name).not.toBe(credentials);
  });

  it("an admin token given as a value is stored as given; helm refuses one under 32 characters (the API server would not start with it)", () => {
    const token = "given-admin-token-0123456789abcdef";
    expect(token.length).toBeGreaterThanOrEqual(32);
    expect(secretData(renderChart({ adminToken: { value: token } }), "eiaas")["admin-token"]).toBe(token);
    const short = helmTemplateRun(withImage({ adminToken: { value: "a".repeat(31) } }));
    expect(short.code).not.toBe(0);
    expect(short.stderr).toMatch(/adminToken/);
  });

  it("takes every credential from a Secret of yours when asked (for renders without a cluster: helm template, Argo CD)", () => {
    const r = renderChart({
      adminToken: { existingSecret: "tokens", existingSecretKey: "admin" },
      bootstrapToken: { existingSecret: "tokens", existingSecretKey: "bootstrap" },
      postgresql: { auth: { existingSecret: "pg", existingSecretKey: "password" } },
      redis: { auth: { existingSecret: "redis", existingSecretKey: "password" } },
      apiServer: { tls: { existingSecret: "api-tls" } },
    });
    // Nothing generated is left, so nothing changes from one render to the next.
    expect(r.filter((m) => m.kind === "Secret")).toEqual([]);
    const refs = new Map<string, { name: string; key: string }>();
    for (const w of workloads(r)) {
      for (const c of containersOf(w)) {
        for (const e of c.env ?? []) if (e.valueFrom?.secretKeyRef) refs.set(`${w.metadata.name}/${c.name}/${e.name}`, e.valueFrom.secretKeyRef);
      }
    }
    expect(refs.get("eiaas-api-server/api-server/EIAAS_ADMIN_TOKEN")).toEqual({ name: "tokens", key: "admin" });
    expect(refs.get("eiaas-api-server/api-server/EIAAS_BOOTSTRAP_TOKEN")).toEqual({ name: "tokens", key: "bootstrap" });
    expect(refs.get("eiaas-agent-default/agent/EIAAS_BOOTSTRAP_TOKEN")).toEqual({ name: "tokens", key: "bootstrap" });
    expect(refs.get("eiaas-api-server/migrate/EIAAS_POSTGRES_PASSWORD")).toEqual({ name: "pg", key: "password" });
    expect(refs.get("eiaas-postgresql/postgresql/POSTGRES_PASSWORD")).toEqual({ name: "pg", key: "password" });
    expect(refs.get("eiaas-scheduler/scheduler/EIAAS_REDIS_PASSWORD")).toEqual({ name: "redis", key: "password" });
    expect(refs.get("eiaas-redis/redis/REDIS_PASSWORD")).toEqual({ name: "redis", key: "password" });
    expect(get<Workload>(r, "Deployment", "eiaas-api-server").spec.template.spec.volumes?.find((v) => v.name === "tls")?.secret?.secretName).toBe("api-tls");
    expect(get<Workload>(r, "DaemonSet", "eiaas-agent-default").spec.template.spec.volumes?.find((v) => v.name === "ca")?.secret?.secretName).toBe("api-tls");
  });

  it("external Postgres and Redis: by URL in the release Secret, or referenced from yours, never copied", () => {
    const url = "postgresql://eiaas:s3cret@db.example.org:5432/eiaas?sslmode=require";
    const byUrl = renderChart({ postgresql: { enabled: false }, externalDatabase: { url }, redis: { enabled: false }, externalRedis: { url: "redis://:x@r:6379" } });
    expect(find(byUrl, "StatefulSet", "eiaas-postgresql")).toBeUndefined();
    expect(find(byUrl, "Deployment", "eiaas-redis")).toBeUndefined();
    expect(secretData(byUrl, "eiaas")).toMatchObject({ "database-url": url, "redis-url": "redis://:x@r:6379" });
    expect(secretData(byUrl, "eiaas")["postgres-password"]).toBeUndefined();
    const init = get<Workload>(byUrl, "Deployment", "eiaas-api-server").spec.template.spec.initContainers![0]!;
    expect(envOf(init).get("DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "eiaas", key: "database-url" });

    const bySecret = renderChart({
      postgresql: { enabled: false },
      externalDatabase: { existingSecret: "db", existingSecretKey: "url" },
      redis: { enabled: false },
      externalRedis: { existingSecret: "rd", existingSecretKey: "url" },
    });
    expect(secretData(bySecret, "eiaas")["database-url"]).toBeUndefined();
    for (const name of ["eiaas-api-server", "eiaas-scheduler"]) {
      for (const c of containersOf(get<Workload>(bySecret, "Deployment", name))) expect(envOf(c).get("DATABASE_URL")?.valueFrom?.secretKeyRef, `${name}/${c.name}`).toEqual({ name: "db", key: "url" });
      expect(envOf(get<Workload>(bySecret, "Deployment", name).spec.template.spec.containers[0]!).get("REDIS_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "rd", key: "url" });
    }
  });

  it("refuses configurations that cannot work or would silently ignore a setting", () => {
    const refused: [Record<string, unknown>, string][] = [
      [{ postgresql: { enabled: false } }, "postgresql.enabled is false: set externalDatabase.url or externalDatabase.existingSecret"],
      [{ externalDatabase: { url: "postgresql://u:p@db/eiaas" } }, "postgresql.enabled and externalDatabase are both set"],
      [{ externalRedis: { existingSecret: "r" } }, "redis.enabled and externalRedis are both set"],
      [{ postgresql: { enabled: false }, externalDatabase: { url: "postgresql://u:p@db/eiaas", existingSecret: "db" } }, "externalDatabase: set url or existingSecret, not both"],
      [{ redis: { enabled: false } }, "agents need Redis"],
    ];
    for (const [values, message] of refused) {
      const r = helmTemplateRun(withImage(values));
      expect(r.code, JSON.stringify(values)).not.toBe(0);
      expect(r.stderr).toContain(message);
    }
    // Without agents, no Redis is fine (queues on Postgres) and no REDIS_URL is set.
    const r = renderChart({ redis: { enabled: false }, agent: { enabled: false } });
    expect(r.some((m) => m.kind === "DaemonSet" || m.kind === "Role")).toBe(false);
    expect(envOf(get<Workload>(r, "Deployment", "eiaas-api-server").spec.template.spec.containers[0]!).has("REDIS_URL")).toBe(false);
  });

  it("requires image.repository instead of defaulting to Docker Hub's library namespace", () => {
    const r = helmTemplateRun({});
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/image\.repository|image: repository/);
  });
});

describe("helm/eiaas: the generated serving certificate", () => {
  const san = (r: Manifest[]) => new X509Certificate(secretData(r, "eiaas-tls")["tls.crt"]!).subjectAltName!.split(", ");

  it("is valid for every name the agents and port-forwards use, and for the ingress host", () => {
    const r = renderChart({ apiServer: { ingress: { enabled: true, host: "eiaas.example.org" } } });
    const names = san(r);
    for (const n of ["eiaas-api-server", `eiaas-api-server.${ns}`, `eiaas-api-server.${ns}.svc`, `eiaas-api-server.${ns}.svc.cluster.local`, "localhost", "eiaas.example.org"])
      expect(names).toContain(`DNS:${n}`);
    expect(names).toContain("IP Address:127.0.0.1");
    const agentServer = new URL(get<Workload>(r, "DaemonSet", "eiaas-agent-default").spec.template.spec.containers[0]!.args!.find((a) => a.startsWith("https://"))!);
    expect(names).toContain(`DNS:${agentServer.hostname}`);
    const ca = new X509Certificate(secretData(r, "eiaas-tls")["ca.crt"]!);
    expect(new X509Certificate(secretData(r, "eiaas-tls")["tls.crt"]!).verify(ca.publicKey)).toBe(true);
  });

  it("puts IP addresses among apiServer.tls.extraSANs into the IP SANs, names into the DNS SANs", () => {
    const names = san(renderChart({ apiServer: { tls: { extraSANs: ["eiaas.internal.example.org", "10.20.30.40", "fd00::7"] } } }));
    expect(names).toContain("DNS:eiaas.internal.example.org");
    expect(names).toContain("IP Address:10.20.30.40");
    expect(names).toContain("IP Address:FD00:0:0:0:0:0:0:7");
    expect(names).not.toContain("DNS:10.20.30.40");
    expect(names).not.toContain("DNS:fd00::7");
  });
});
