// Checks of deploy/ without a Docker engine: the Dockerfile's stages and what goes into the final
// image, .dockerignore against the files the Dockerfile copies, the entrypoint script (run for
// real: help, probe, pass-through, and `migrate` against the test Postgres), and the compose file
// (services, dependencies, health checks, volumes, environment, the otel profile).
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { parse as parseYaml, parseDocument } from "yaml";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DEPLOY = join(ROOT, "deploy");
const ENTRYPOINT = join(DEPLOY, "entrypoint.sh");
const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  op: string;
  args: string;
  line: number;
}
interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions (continuations joined, comments dropped) grouped by stage; ARGs before FROM kept apart. */
function parseDockerfile(src: string): { preamble: Instruction[]; stages: Stage[] } {
  const lines = src.split("\n");
  const instructions: Instruction[] = [];
  let buf = "";
  let start = 0;
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buf && (line.trim() === "" || line.trim().startsWith("#"))) return;
    if (buf && line.trim().startsWith("#")) return;
    if (!buf) start = i + 1;
    if (line.endsWith("\\")) {
      buf += line.slice(0, -1) + " ";
      return;
    }
    buf += line;
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf);
    if (!m) throw new Error(`Dockerfile:${start}: cannot parse ${buf}`);
    instructions.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = "";
  });
  const preamble: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: bad FROM`);
      stages.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (stages.length === 0) {
      preamble.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { preamble, stages };
}

/** A minimal .dockerignore matcher: `*` within a path segment, `**` across segments, directory prefixes. */
function dockerignore(): (path: string) => boolean {
  const patterns = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const regexes = patterns.map((p) => {
    const negate = p.startsWith("!");
    const body = (negate ? p.slice(1) : p).replace(/^\/+/, "").replace(/\/+$/, "");
    const re = body
      .split("/")
      .map((seg) => (seg === "**" ? "(?:.*/)?" : seg.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]") + "/"))
      .join("");
    // A pattern matches the path itself or anything below it.
    return { negate, re: new RegExp(`^${re.replace(/\/$/, "")}(?:/.*)?$`) };
  });
  return (path: string) => {
    let ignored = false;
    for (const { negate, re } of regexes) if (re.test(path)) ignored = !negate;
    return ignored;
  };
}

const dockerfile = () => parseDockerfile(read("deploy/Dockerfile"));

/** Sources of a COPY without --from, as paths relative to the build context (the repository root). */
function copySources(ins: Instruction): string[] {
  let args = ins.args;
  if (/--from=/.test(args)) return [];
  args = args.replace(/--\S+\s+/g, "");
  const parts = args.startsWith("[") ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  return parts.slice(0, -1);
}

/**
 * Bare package names loaded at run time by the image's entry points (apps' main.ts and the
 * migrator), following relative and @eiaas/* imports through the sources. `import type` is erased
 * by tsx and not counted.
 */
function runtimePackages(): Set<string> {
  const workspaces = new Map<string, string>();
  for (const w of (JSON.parse(read("package.json")) as { workspaces: string[] }).workspaces) {
    const pj = JSON.parse(read(`${w}/package.json`)) as { name: string };
    workspaces.set(pj.name, join(ROOT, w, "src/index.ts"));
  }
  const entries = ["apps/api-server/src/main.ts", "apps/scheduler/src/main.ts", "apps/agent/src/main.ts", "apps/eictl/src/main.ts", "libs/db/src/migrate-cli.ts"]
    .map((p) => join(ROOT, p))
    .filter((p) => existsSync(p));
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    const src = readFileSync(file, "utf8").replace(/^\s*import\s+type\b[^;]*;/gm, "").replace(/^\s*export\s+type\b[^;]*;/gm, "");
    for (const m of src.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) {
        const base = join(file, "..", spec.replace(/\.js$/, ""));
        queue.push(existsSync(`${base}.ts`) ? `${base}.ts` : join(base, "index.ts"));
      } else if (workspaces.has(spec)) {
        queue.push(workspaces.get(spec)!);
      } else if (!spec.startsWith("node:")) {
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    }
  }
  return packages;
}

describe("deploy/Dockerfile", () => {
  it("is multi-stage on node:20-bookworm-slim: deps → prod-deps → runtime", () => {
    const { preamble, stages } = dockerfile();
    const arg = preamble.find((i) => i.op === "ARG" && i.args.startsWith("NODE_IMAGE="));
    expect(arg?.args).toBe("NODE_IMAGE=node:20-bookworm-slim");
    expect(stages.length).toBeGreaterThanOrEqual(3);
    const names = stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["deps", "prod-deps", "runtime"]));
    expect(names.at(-1)).toBe("runtime");
    for (const s of stages) {
      // Every stage starts from the Node base or from an earlier stage.
      const earlier = stages.slice(0, stages.indexOf(s)).map((x) => x.name);
      expect(s.from === "${NODE_IMAGE}" || earlier.includes(s.from), `FROM ${s.from}`).toBe(true);
    }
    expect(stages.at(-1)!.from).toBe("${NODE_IMAGE}");
  });

  it("runs as a numeric non-root user in the final stage, created there", () => {
    const final = dockerfile().stages.at(-1)!;
    const users = final.instructions.filter((i) => i.op === "USER");
    expect(users.length).toBe(1);
    const m = /^(\d+)(?::(\d+))?$/.exec(users[0]!.args);
    expect(m, "USER uid[:gid], numeric so that runAsNonRoot can verify it").not.toBeNull();
    const uid = Number(m![1]);
    expect(uid).toBeGreaterThan(0);
    const runs = final.instructions.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
    expect(runs).toMatch(new RegExp(`useradd[^\\n]*--uid ${uid}\\b`));
    // Nothing after USER switches back.
    const after = final.instructions.slice(final.instructions.indexOf(users[0]!) + 1);
    expect(after.map((i) => i.op)).not.toContain("USER");
  });

  it("keeps build tooling out of the final stage", () => {
    const final = dockerfile().stages.at(-1)!;
    const runs = final.instructions.filter((i) => i.op === "RUN").map((i) => i.args).join("\n");
    expect(runs).not.toMatch(/\bnpm (ci|install|i)\b/);
    expect(runs).not.toMatch(/\b(build-essential|gcc|g\+\+|make|python3|git)\b/);
    const installs = [...runs.matchAll(/apt-get install ([^&;]*)/g)].flatMap((m) => m[1]!.split(/\s+/).filter((w) => w && !w.startsWith("-")));
    expect(installs).toEqual(["tini"]);
    expect(runs).toMatch(/rm -rf \/var\/lib\/apt\/lists/);
    // node_modules come from prod-deps (production only), the generated Prisma client from deps.
    const copies = final.instructions.filter((i) => i.op === "COPY").map((i) => i.args);
    expect(copies).toContain("--from=prod-deps /app/node_modules ./node_modules");
    expect(copies.some((c) => c.startsWith("--from=deps ") && c.includes("libs/db/src/generated"))).toBe(true);
    expect(copies.some((c) => c.startsWith("--from=deps ") && c.includes("node_modules"))).toBe(false);
  });

  it("installs production dependencies without scripts, and all of them with DATABASE_URL for prisma generate", () => {
    const { stages } = dockerfile();
    const deps = stages.find((s) => s.name === "deps")!;
    const prod = stages.find((s) => s.name === "prod-deps")!;
    const depsText = deps.instructions.map((i) => `${i.op} ${i.args}`).join("\n");
    expect(depsText).toMatch(/ENV DATABASE_URL=postgresql:\/\//);
    expect(depsText).toMatch(/npm ci\b/);
    expect(depsText).not.toMatch(/--ignore-scripts|--omit=dev/);
    const prodText = prod.instructions.map((i) => i.args).join("\n");
    expect(prodText).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(prodText).toMatch(/test -f node_modules\/tsx\/package\.json/);
  });

  it("tsx (the runtime loader) and esbuild are production packages in the lock file, so --omit=dev keeps them", () => {
    const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { dev?: boolean; version?: string }> };
    for (const name of ["tsx", "esbuild"]) {
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, name).toBeDefined();
      expect(entry!.dev, `${name} must not be dev-only (see the Dockerfile header)`).not.toBe(true);
    }
  });

  it("removes only packages that no process of the image loads", () => {
    const prod = dockerfile().stages.find((s) => s.name === "prod-deps")!;
    const removed = prod.instructions
      .filter((i) => i.op === "RUN")
      .flatMap((i) => [...i.args.matchAll(/node_modules\/((?:@[^/\s]+\/)?[^/\s*]+)(?=[\s\\]|$)/g)].map((m) => m[1]!))
      .filter((n) => n !== "tsx");
    expect(removed).toEqual(expect.arrayContaining(["prisma", "typescript", "vitest"]));
    const loaded = runtimePackages();
    expect(loaded.has("pg"), "the scan follows imports into libs (pg via libs/db)").toBe(true);
    expect(loaded.has("express"), "the scan follows imports into apps (express via api-server)").toBe(true);
    for (const name of removed) expect(loaded.has(name), `a process loads ${name}, which the image deletes`).toBe(false);
  });

  it("copies every workspace manifest before npm ci, so the lock file installs as is", () => {
    const { stages } = dockerfile();
    const manifests = stages[0]!.instructions.filter((i) => i.op === "COPY").flatMap(copySources);
    expect(manifests).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "prisma.config.ts", "prisma"]));
    const workspaces = (JSON.parse(read("package.json")) as { workspaces: string[] }).workspaces;
    for (const w of workspaces) expect(manifests, w).toContain(`${w}/package.json`);
  });

  it("copies only files that exist and that .dockerignore lets into the build context", () => {
    const ignored = dockerignore();
    const { stages } = dockerfile();
    const sources = stages.flatMap((s) => s.instructions.filter((i) => i.op === "COPY").flatMap(copySources));
    expect(sources.length).toBeGreaterThan(10);
    for (const src of sources) {
      expect(existsSync(join(ROOT, src)), `${src} exists`).toBe(true);
      expect(ignored(src), `${src} is excluded by .dockerignore`).toBe(false);
    }
    // The sources the processes run must reach the image.
    for (const p of ["apps/api-server/src/main.ts", "libs/db/src/migrate-cli.ts", "prisma/migrations", "deploy/entrypoint.sh", "tsconfig.base.json"]) {
      expect(ignored(p), p).toBe(false);
    }
  });

  it(".dockerignore keeps host state, VCS and generated code out of the context", () => {
    const ignored = dockerignore();
    for (const p of ["node_modules", "apps/api-server/node_modules/x", ".git/HEAD", "libs/db/src/generated/prisma/client.ts", ".eiaas/pki/ca.key", "apps/api-server/src/app.test.ts", "helm/eiaas/values.yaml"]) {
      expect(ignored(p), p).toBe(true);
    }
    // The matcher itself: a pattern does not swallow its siblings.
    expect(ignored("libs/db/src/generated-not")).toBe(false);
  });

  it("enters through tini and deploy/entrypoint.sh, which exists and is executable", () => {
    const final = dockerfile().stages.at(-1)!;
    const entry = final.instructions.find((i) => i.op === "ENTRYPOINT");
    expect(JSON.parse(entry!.args)).toEqual(["/usr/bin/tini", "--", "/app/deploy/entrypoint.sh"]);
    expect(statSync(ENTRYPOINT).mode & 0o111).not.toBe(0);
    const workdir = final.instructions.find((i) => i.op === "WORKDIR");
    expect(workdir?.args).toBe("/app");
    const exposed = final.instructions.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/));
    expect(exposed).toEqual(expect.arrayContaining(["8443", "9090"]));
  });
});

// ---------------------------------------------------------------------------------------------
// entrypoint.sh, run for real with the repository as its app directory

function entrypoint(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("sh", [ENTRYPOINT, ...args], {
    env: { ...process.env, EIAAS_APP_DIR: ROOT, ...env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The commands entrypoint.sh dispatches on, and the file each runs. */
function entrypointCommands(): Map<string, string | null> {
  const src = readFileSync(ENTRYPOINT, "utf8");
  const out = new Map<string, string | null>();
  for (const m of src.matchAll(/^\s{2}([a-z-]+(?: \| [-a-z]+)*)\)(.*)$/gm)) {
    const target = /run_ts (\S+\.ts)/.exec(m[2]!)?.[1] ?? null;
    for (const name of m[1]!.split(" | ")) out.set(name, target);
  }
  return out;
}

describe("deploy/entrypoint.sh", () => {
  it("is valid POSIX sh", () => {
    const r = spawnSync("sh", ["-n", ENTRYPOINT], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("dispatches each app to its workspace's src/main.ts, and migrate to the migrator", () => {
    const cmds = entrypointCommands();
    for (const app of ["api-server", "scheduler", "agent", "eictl"]) {
      expect(cmds.get(app), app).toBe(`apps/${app}/src/main.ts`);
      expect(existsSync(join(ROOT, "apps", app, "package.json")), `workspace apps/${app}`).toBe(true);
    }
    expect(existsSync(join(ROOT, "apps/api-server/src/main.ts"))).toBe(true);
    expect(cmds.has("migrate")).toBe(true);
    expect(readFileSync(ENTRYPOINT, "utf8")).toMatch(/node --import tsx libs\/db\/src\/migrate-cli\.ts/);
    expect(existsSync(join(ROOT, "libs/db/src/migrate-cli.ts"))).toBe(true);
    expect(cmds.has("probe")).toBe(true);
  });

  it("help lists every command", () => {
    const r = entrypoint(["help"]);
    expect(r.code).toBe(0);
    for (const c of ["api-server", "scheduler", "agent", "eictl", "migrate", "probe URL"]) expect(r.stdout).toContain(c);
    expect(r.stdout).not.toContain("set -eu");
  });

  it("runs anything else as a command", () => {
    const r = entrypoint(["echo", "hello", "world"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hello world\n");
  });

  describe("probe", () => {
    let server: Server;
    let base: string;
    beforeAll(async () => {
      server = createServer((req, res) => {
        res.statusCode = req.url === "/readyz" ? 200 : 503;
        res.end();
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => server.close(() => r())));

    it("exits 0 on 2xx, 1 otherwise, 1 when nothing listens, 2 without a URL", async () => {
      // spawnSync would block the event loop that serves the requests: run the probes async.
      const run = (args: string[]) =>
        new Promise<number | null>((resolve) => {
          import("node:child_process").then(({ spawn }) => {
            const p = spawn("sh", [ENTRYPOINT, ...args], { env: { ...process.env, EIAAS_APP_DIR: ROOT }, stdio: "ignore" });
            p.on("exit", (code) => resolve(code));
          });
        });
      expect(await run(["probe", `${base}/readyz`])).toBe(0);
      expect(await run(["probe", `${base}/livez`])).toBe(1);
      const closed = createServer();
      await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((r) => closed.close(() => r()));
      expect(await run(["probe", `http://127.0.0.1:${port}/readyz`])).toBe(1);
      expect(await run(["probe"])).toBe(2);
    });
  });

  describe("migrate", () => {
    const database = `eiaas_entrypoint_${process.pid}`;
    let serverUrl: string;
    let url: string;
    beforeAll(async () => {
      serverUrl = inject("postgresUrl");
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.query(`CREATE DATABASE ${database}`);
      await c.end();
      const u = new URL(serverUrl);
      u.pathname = `/${database}`;
      url = u.toString();
    });
    afterAll(async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await c.end();
    });

    it("applies every migration to an empty database, then finds them applied", async () => {
      const migrations = readdirSync(join(ROOT, "prisma/migrations"), { withFileTypes: true }).filter((d) => d.isDirectory()).length;
      const first = entrypoint(["migrate"], { DATABASE_URL: url });
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toContain(`migrations: ${migrations} applied`);
      const second = entrypoint(["migrate"], { DATABASE_URL: url });
      expect(second.code).toBe(0);
      expect(second.stdout).toContain(`0 applied, ${migrations} already applied`);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const rows = await c.query(`SELECT count(*)::int AS n FROM "_prisma_migrations" WHERE finished_at IS NOT NULL`);
      await c.end();
      expect(rows.rows[0].n).toBe(migrations);
    });

    it("retries while the database is unreachable and gives up after EIAAS_MIGRATE_ATTEMPTS", () => {
      const r = entrypoint(["migrate"], { DATABASE_URL: "postgresql://nobody:x@127.0.0.1:1/none", EIAAS_MIGRATE_ATTEMPTS: "2" });
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("migrate: attempt 1/2 failed");
      expect(r.stderr).toContain("migrate: giving up after 2 attempts");
    });
  });
});

// ---------------------------------------------------------------------------------------------
// docker-compose.yml

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string | null>;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
  ports?: string[];
  profiles?: string[];
  restart?: string;
}
interface Compose {
  name?: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = () => {
  const doc = parseDocument(read("deploy/docker-compose.yml"), { merge: true });
  if (doc.errors.length) throw new Error(`docker-compose.yml: ${doc.errors[0]!.message}`);
  return doc.toJS({ maxAliasCount: 100 }) as Compose;
};
const EIAAS_IMAGE = "${EIAAS_IMAGE:-eiaas:dev}";
const eiaasServices = (c: Compose) => Object.entries(c.services).filter(([, s]) => s.image === EIAAS_IMAGE);
const agentServices = (c: Compose) => eiaasServices(c).filter(([, s]) => s.command?.[0] === "agent");
const flag = (cmd: string[], f: string) => {
  const i = cmd.indexOf(f);
  return i < 0 ? undefined : cmd[i + 1];
};

/** DESIGN §7 and the agent contract (same list as scripts/helm-chart.test.ts). */
const DOCUMENTED_ENV = new Set([
  "DATABASE_URL",
  "REDIS_URL",
  "EIAAS_PORT",
  "EIAAS_ADMIN_TOKEN",
  "EIAAS_DATA_DIR",
  "EIAAS_TLS_CERT",
  "EIAAS_TLS_KEY",
  "EIAAS_METRICS_PORT",
  "EIAAS_METRICS_AUTH",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "EIAAS_LOG_LEVEL",
  "EIAAS_NODE_GRACE_SECONDS",
  "EIAAS_NODE_EVICTION_SECONDS",
  "EIAAS_K8S_NAMESPACE",
  "EIAAS_BOOTSTRAP_TOKEN",
  "EIAAS_SERVER",
  "EIAAS_CA_FILE",
]);

describe("deploy/docker-compose.yml", () => {
  it("parses and has the laptop stack: postgres 17, redis 7, migrate, api-server, scheduler, three simulated agents", () => {
    const c = compose();
    expect(c.services.postgres?.image).toMatch(/^postgres:17\b/);
    expect(c.services.redis?.image).toMatch(/^redis:7\b/);
    const byCommand = (cmd: string) => eiaasServices(c).filter(([, s]) => s.command?.[0] === cmd);
    expect(byCommand("migrate")).toHaveLength(1);
    expect(byCommand("api-server")).toHaveLength(1);
    expect(byCommand("scheduler")).toHaveLength(1);
    const agents = agentServices(c);
    expect(agents).toHaveLength(3);
    const nodes = agents.map(([, s]) => flag(s.command!, "--node"));
    expect(new Set(nodes).size).toBe(3);
    for (const [name, s] of agents) {
      expect(flag(s.command!, "--runtime"), name).toBe("simulated");
      expect(Number(flag(s.command!, "--slots")), name).toBeGreaterThan(0);
    }
  });

  it("builds every eiaas service from deploy/Dockerfile with the repository as context", () => {
    const c = compose();
    for (const [name, s] of eiaasServices(c)) {
      expect(s.build, name).toEqual({ context: "..", dockerfile: "deploy/Dockerfile" });
      expect(existsSync(join(DEPLOY, s.build!.context, s.build!.dockerfile))).toBe(true);
      expect(entrypointCommands().has(s.command![0]!), `${name}: entrypoint command ${s.command![0]}`).toBe(true);
    }
  });

  it("orders start-up with health checks and depends_on conditions", () => {
    const c = compose();
    const conditions = new Set(["service_started", "service_healthy", "service_completed_successfully"]);
    for (const [name, s] of Object.entries(c.services)) {
      for (const [dep, { condition }] of Object.entries(s.depends_on ?? {})) {
        expect(c.services[dep], `${name} depends on ${dep}`).toBeDefined();
        expect(conditions.has(condition), `${name} → ${dep}: ${condition}`).toBe(true);
        if (condition === "service_healthy") expect(c.services[dep]!.healthcheck, `${dep} needs a healthcheck`).toBeDefined();
        if (condition === "service_completed_successfully") expect(c.services[dep]!.restart, `${dep} is a one-shot`).toBe("no");
      }
    }
    const [migrateName, migrate] = eiaasServices(c).find(([, s]) => s.command?.[0] === "migrate")!;
    expect(migrate.depends_on?.postgres?.condition).toBe("service_healthy");
    for (const cmd of ["api-server", "scheduler"]) {
      const [, s] = eiaasServices(c).find(([, x]) => x.command?.[0] === cmd)!;
      expect(s.depends_on?.[migrateName]?.condition, cmd).toBe("service_completed_successfully");
      expect(s.depends_on?.redis?.condition, cmd).toBe("service_healthy");
    }
    const [apiName] = eiaasServices(c).find(([, s]) => s.command?.[0] === "api-server")!;
    for (const [name, s] of agentServices(c)) expect(s.depends_on?.[apiName]?.condition, name).toBe("service_healthy");
  });

  it("health checks use the entrypoint's probe on each process's own port", () => {
    const c = compose();
    for (const [name, s] of eiaasServices(c)) {
      if (s.command?.[0] === "migrate") continue;
      const test = s.healthcheck?.test ?? [];
      expect(test.slice(0, 3), name).toEqual(["CMD", "/app/deploy/entrypoint.sh", "probe"]);
      const url = new URL(test[3]!);
      if (s.command?.[0] === "api-server") {
        expect(url.protocol).toBe("https:");
        expect(url.port).toBe(s.environment?.EIAAS_PORT);
        expect(url.pathname).toBe("/readyz");
      } else {
        expect(url.protocol, name).toBe("http:");
        expect(url.port, name).toBe(s.environment?.EIAAS_METRICS_PORT);
        expect(["/livez", "/readyz"]).toContain(url.pathname);
      }
    }
    expect(c.services.postgres!.healthcheck!.test.join(" ")).toMatch(/pg_isready/);
    expect(c.services.redis!.healthcheck!.test.join(" ")).toMatch(/redis-cli ping/);
  });

  it("agents reach the API by service name over HTTPS, trust its CA from the shared volume and share its bootstrap token", () => {
    const c = compose();
    const [apiName, api] = eiaasServices(c).find(([, s]) => s.command?.[0] === "api-server")!;
    const dataDir = api.environment!.EIAAS_DATA_DIR!;
    const apiVolume = api.volumes!.map((v) => v.split(":")).find(([, target]) => target === dataDir);
    expect(apiVolume, "the API server keeps its data dir (and generated CA) on a named volume").toBeDefined();
    expect(c.volumes).toHaveProperty(apiVolume![0]!);
    expect(api.environment!.EIAAS_TLS_SANS!.split(",")).toContain(apiName);
    expect(api.ports).toContain(`\${EIAAS_PORT:-8443}:${api.environment!.EIAAS_PORT}`);
    const states = new Set<string>();
    for (const [name, s] of agentServices(c)) {
      const server = new URL(flag(s.command!, "--server")!);
      expect(server.protocol, name).toBe("https:");
      expect(server.hostname, name).toBe(apiName);
      expect(server.port, name).toBe(api.environment!.EIAAS_PORT);
      const mount = s.volumes!.map((v) => v.split(":")).find(([source]) => source === apiVolume![0]);
      expect(mount?.[2], `${name} mounts the API's volume read-only`).toBe("ro");
      expect(s.environment!.EIAAS_CA_FILE, name).toBe(`${mount![1]}/pki/ca.crt`);
      expect(s.environment!.EIAAS_BOOTSTRAP_TOKEN, name).toBe(api.environment!.EIAAS_BOOTSTRAP_TOKEN);
      expect(s.environment).not.toHaveProperty("DATABASE_URL");
      expect(s.environment).not.toHaveProperty("EIAAS_ADMIN_TOKEN");
      // Its node credential survives a recreated container: the image's data dir (EIAAS_DATA_DIR,
      // owned by the process user) on a writable named volume of its own.
      const state = s.volumes!.map((v) => v.split(":")).find(([, target]) => target === "/var/lib/eiaas");
      expect(state, `${name} keeps its node credential on a volume`).toBeDefined();
      expect(state![2], `${name}'s state volume is writable`).toBeUndefined();
      expect(c.volumes).toHaveProperty(state![0]!);
      expect(states.has(state![0]!), `${name}'s state volume is its own`).toBe(false);
      states.add(state![0]!);
    }
    // Postgres and Redis passwords are the same in the servers and in the URLs the processes get.
    const env = eiaasServices(c)[0]![1].environment!;
    expect(env.DATABASE_URL).toContain(`:${c.services.postgres!.environment!.POSTGRES_PASSWORD}@postgres:5432/`);
    expect(c.services.redis!.command!.join(" ")).toContain(`--requirepass ${env.REDIS_URL!.slice("redis://:".length, env.REDIS_URL!.indexOf("@redis"))}`);
  });

  it("sets only documented environment variables on the eiaas services", () => {
    const c = compose();
    const readByApiServer = read("apps/api-server/src/config.ts");
    for (const [name, s] of eiaasServices(c)) {
      for (const key of Object.keys(s.environment ?? {})) {
        expect(DOCUMENTED_ENV.has(key) || readByApiServer.includes(key), `${name} sets ${key}`).toBe(true);
      }
    }
    // Unset unless given: traces are off at no cost by default.
    for (const [name, s] of eiaasServices(c)) expect(s.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBeNull();
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
    expect(Object.keys(cfg.service.pipelines)).toEqual(expect.arrayContaining(["traces", "metrics"]));
    for (const [p, pipe] of Object.entries(cfg.service.pipelines)) {
      for (const r of pipe.receivers) expect(cfg.receivers, `${p}: receiver ${r}`).toHaveProperty(r);
      for (const x of pipe.processors) expect(cfg.processors, `${p}: processor ${x}`).toHaveProperty(x);
      for (const e of pipe.exporters) expect(cfg.exporters, `${p}: exporter ${e}`).toHaveProperty(e);
    }
    // The OTLP HTTP port the README tells the services to use is published and received.
    expect(otel.ports).toContain("4318:4318");
    expect(JSON.stringify(cfg.receivers)).toContain("0.0.0.0:4318");
    // It scrapes services that exist, on their metrics ports.
    const targets = JSON.stringify(cfg.receivers).match(/"([a-z0-9-]+):(\d+)"/g) ?? [];
    for (const t of targets) {
      const [host] = JSON.parse(t).split(":");
      if (host === "0.0.0.0") continue;
      expect(c.services, `scrape target ${host}`).toHaveProperty(host);
    }
  });
});
