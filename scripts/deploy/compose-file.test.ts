// deploy/docker-compose.yml read as data (compose.docker.test.ts brings the stack up for real):
// what no run shows by itself, such as what is published, mounted and required.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { edgeNodeSpec } from "@eiaas/api";
import { agentServices, compose, DEPLOY, eiaasServices, entrypointCommands, flag } from "../testkit/compose.js";
import { DOCUMENTED_ENV } from "../testkit/env-contract.js";
import { read } from "../testkit/dockerfile.js";
import { apiServerEnv } from "../../apps/api-server/src/config.js";
import { schedulerEnv } from "../../apps/scheduler/src/config.js";
import { parseAgentConfig } from "../../apps/agent/src/config.js";

/** The length of the shortest token an env schema accepts. */
function shortestAccepted(schema: { safeParse(v: unknown): { success: boolean } }): number {
  for (let n = 1; n <= 256; n++) if (schema.safeParse("x".repeat(n)).success) return n;
  throw new Error("accepts no token up to 256 characters");
}

describe("deploy/docker-compose.yml", () => {
  it("works with Compose v1 (no top-level name) and builds every eiaas service from deploy/Dockerfile", () => {
    const c = compose();
    expect(c.name, "Compose v1, the only one Debian packages, refuses a top-level name").toBeUndefined();
    for (const [name, s] of eiaasServices(c)) {
      expect(s.build, name).toEqual({ context: "..", dockerfile: "deploy/Dockerfile" });
      const cmd = s.command![0]!;
      expect(entrypointCommands().has(cmd) || cmd === "sh", `${name}: entrypoint command ${cmd}`).toBe(true);
    }
  });

  it("publishes the API on this machine only, and the OTLP collector likewise", () => {
    const c = compose();
    const [, api] = eiaasServices(c).find(([, s]) => s.command?.[0] === "api-server")!;
    expect(api.ports).toEqual(["${EIAAS_BIND:-127.0.0.1}:${EIAAS_PORT:-8443}:8443"]);
    for (const [name, s] of Object.entries(c.services)) for (const p of s.ports ?? []) expect(p, `${name} publishes ${p}`).toMatch(/^(\$\{EIAAS_BIND:-)?127\.0\.0\.1/);
  });

  it("has no default admin, bootstrap or scrape token: Compose refuses to start until they are set, saying how long", () => {
    const text = read("deploy/docker-compose.yml");
    expect(text).not.toMatch(/change-me/);
    // The shortest each process accepts (their env schemas): the message says what will start.
    const least: Record<string, number> = {
      EIAAS_ADMIN_TOKEN: shortestAccepted(apiServerEnv.shape.EIAAS_ADMIN_TOKEN),
      EIAAS_BOOTSTRAP_TOKEN: shortestAccepted(apiServerEnv.shape.EIAAS_BOOTSTRAP_TOKEN),
      EIAAS_METRICS_TOKEN: shortestAccepted(apiServerEnv.shape.EIAAS_METRICS_TOKEN),
    };
    expect(least).toEqual({ EIAAS_ADMIN_TOKEN: 32, EIAAS_BOOTSTRAP_TOKEN: 16, EIAAS_METRICS_TOKEN: 32 });
    expect(shortestAccepted(schedulerEnv.shape.EIAAS_METRICS_TOKEN)).toBe(least.EIAAS_METRICS_TOKEN);
    const seen = new Map<string, string[]>();
    for (const [name, s] of Object.entries(compose().services)) {
      for (const [key, chars] of Object.entries(least)) {
        const v = s.environment?.[key];
        if (v === undefined) continue;
        expect(v, `${name} ${key}`).toBe(`\${${key}:?set ${key} (at least ${chars} characters) in deploy/.env or the environment}`);
        seen.set(key, [...(seen.get(key) ?? []), name]);
      }
    }
    expect(Object.fromEntries(seen)).toEqual({
      EIAAS_ADMIN_TOKEN: ["api-server"],
      EIAAS_BOOTSTRAP_TOKEN: ["api-server", "agent-1", "agent-2", "agent-3"],
      // The collector shows it to the two /metrics endpoints that serve the series naming tenants.
      EIAAS_METRICS_TOKEN: ["api-server", "scheduler", "otel-collector"],
    });
  });

  it("agents mount the API's CA certificate (eiaas-ca, read-only) and a state volume of their own, never the data volume with its key", () => {
    const c = compose();
    const [, api] = eiaasServices(c).find(([, s]) => s.command?.[0] === "api-server")!;
    const dataVolume = api.volumes!.find((v) => v.endsWith(":/var/lib/eiaas"))!.split(":")[0]!;
    const states = new Set<string>();
    for (const [name, s] of agentServices(c)) {
      expect(s.volumes![0], name).toBe("eiaas-ca:/etc/eiaas/ca:ro");
      expect(s.environment?.EIAAS_CA_FILE).toBe("/etc/eiaas/ca/ca.crt");
      expect(s.volumes!.some((v) => v.startsWith(`${dataVolume}:`))).toBe(false);
      expect(s.environment).not.toHaveProperty("DATABASE_URL");
      expect(s.environment).not.toHaveProperty("EIAAS_ADMIN_TOKEN");
      // Its node credential survives a recreated container: the image's data dir (EIAAS_DATA_DIR,
      // owned by the process user; the agent keeps it in agents/ there) on a writable named volume
      // of its own. A bootstrap token registers new nodes only, so a lost credential loses the node.
      expect(s.volumes, `${name} mounts the CA and its state, nothing else`).toHaveLength(2);
      const [volume, target, mode] = s.volumes![1]!.split(":");
      expect(target, `${name} keeps its node credential in the image's data dir`).toBe("/var/lib/eiaas");
      expect(mode, `${name}'s state volume is writable`).toBeUndefined();
      expect(c.volumes).toHaveProperty(volume!);
      expect(states.has(volume!), `${name}'s state volume is its own`).toBe(false);
      expect(flag(s.command!, "--state-dir"), `${name} keeps the default state dir, EIAAS_DATA_DIR/agents`).toBeUndefined();
      states.add(volume!);
    }
    expect(read("deploy/Dockerfile")).toMatch(/EIAAS_DATA_DIR=\/var\/lib\/eiaas/);
    // What the agent makes of that variable when no --state-dir is given (its config schema).
    const agent = parseAgentConfig(["--node", "edge-1", "--server", "https://api:8443"], { EIAAS_DATA_DIR: "/var/lib/eiaas" });
    expect(agent !== "help" && agent.stateDir).toBe("/var/lib/eiaas/agents");
    const exporter = c.services["ca-export"]!;
    expect(exporter.command?.join(" ")).toMatch(/cp \/etc\/eiaas\/api\/pki\/ca\.crt \/var\/lib\/eiaas\/ca\.crt$/);
    expect(exporter.volumes).toEqual([`${dataVolume}:/etc/eiaas/api:ro`, "eiaas-ca:/var/lib/eiaas"]);
  });

  it("agents register with capacity and compute the simulated fleet needs, as EdgeNode specs the API accepts", () => {
    const tiers: string[] = [];
    for (const [name, s] of agentServices(compose())) {
      const cmd = s.command!;
      const num = (f: string) => Number(flag(cmd, f));
      const spec = edgeNodeSpec.safeParse({
        tier: flag(cmd, "--tier"),
        ...(flag(cmd, "--parent") ? { parent: flag(cmd, "--parent") } : {}),
        hardware: flag(cmd, "--hardware"),
        capacity: { cpu: num("--cpu"), memoryMiB: num("--memory-mib") },
        compute: { gflops: num("--gflops") },
        network: { uplinkMbps: num("--uplink-mbps"), downlinkMbps: num("--downlink-mbps"), rttMs: num("--rtt-ms") },
      });
      expect(spec.error?.issues ?? [], name).toEqual([]);
      expect(spec.data!.capacity.cpu, name).toBeGreaterThan(0);
      expect(spec.data!.capacity.memoryMiB, name).toBeGreaterThan(0);
      expect(spec.data!.compute.gflops, name).toBeGreaterThan(0);
      tiers.push(spec.data!.tier);
    }
    expect(tiers.sort()).toEqual(["device", "edge", "edge"]);
  });

  it("Redis gets its password from a file written at start, not its command line, and a maxmemory with noeviction", () => {
    const redis = compose().services.redis!;
    const script = redis.command!.join(" ");
    expect(script).not.toMatch(/--requirepass/);
    expect(script).toContain(`printf 'requirepass "%s"\\n' "$$REDIS_PASSWORD" > /tmp/redis.conf`);
    expect(script).toContain(`--maxmemory "$$REDIS_MAXMEMORY" --maxmemory-policy noeviction`);
    expect(compose().services.postgres!.shm_size).toBe("256mb");
  });

  it("sets only documented environment variables on the eiaas services", () => {
    const c = compose();
    const readByApiServer = read("apps/api-server/src/config.ts");
    for (const [name, s] of eiaasServices(c)) {
      for (const key of Object.keys(s.environment ?? {})) expect(DOCUMENTED_ENV.includes(key) || readByApiServer.includes(key), `${name} sets ${key}`).toBe(true);
      // Unset unless given: traces are off at no cost by default.
      if (s.environment) expect(s.environment.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBeNull();
    }
  });

  it("offers an OpenTelemetry collector under the otel profile, with a config that is complete", () => {
    const c = compose();
    const otel = c.services["otel-collector"]!;
    expect(otel.profiles).toEqual(["otel"]);
    const [source, target] = otel.volumes!.find((v) => v.includes("otel-collector.yaml"))!.split(":");
    expect(existsSync(join(DEPLOY, source!))).toBe(true);
    expect(otel.command).toContain(`--config=${target}`);
    for (const [name, s] of Object.entries(c.services)) if (name !== "otel-collector") expect(s.profiles, name).toBeUndefined();
    const cfg = parseYaml(readFileSync(join(DEPLOY, source!), "utf8")) as {
      receivers: Record<string, unknown>;
      processors: Record<string, unknown>;
      exporters: Record<string, unknown>;
      service: { pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }> };
    };
    for (const [p, pipe] of Object.entries(cfg.service.pipelines)) {
      for (const r of pipe.receivers) expect(cfg.receivers, `${p}: receiver ${r}`).toHaveProperty(r);
      for (const x of pipe.processors) expect(cfg.processors, `${p}: processor ${x}`).toHaveProperty(x);
      for (const e of pipe.exporters) expect(cfg.exporters, `${p}: exporter ${e}`).toHaveProperty(e);
    }
    expect(otel.ports).toContain("127.0.0.1:4318:4318");
    // It shows the scrape token to the API server and the scheduler, whose /metrics otherwise leave
    // out the series that name tenants; the token is the one those services are given.
    type Job = { job_name: string; authorization?: unknown; static_configs: { targets: string[] }[] };
    const jobs = (cfg.receivers.prometheus as { config: { scrape_configs: Job[] } }).config.scrape_configs;
    for (const service of ["api-server", "scheduler"]) {
      const job = jobs.find((j) => j.static_configs.some((sc) => sc.targets.some((t) => t.startsWith(`${service}:`))));
      expect(job?.authorization, `the ${service} scrape`).toEqual({ type: "Bearer", credentials: "${env:EIAAS_METRICS_TOKEN}" });
      expect(c.services[service]!.environment!.EIAAS_METRICS_TOKEN).toBe(otel.environment!.EIAAS_METRICS_TOKEN);
    }
    // It scrapes services that exist.
    for (const t of JSON.stringify(cfg.receivers).match(/"([a-z0-9-]+):(\d+)"/g) ?? []) {
      const [host] = JSON.parse(t).split(":");
      if (host !== "0.0.0.0") expect(c.services, `scrape target ${host}`).toHaveProperty(host);
    }
  });
});
