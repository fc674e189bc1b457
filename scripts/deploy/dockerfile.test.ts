// deploy/Dockerfile and .dockerignore read as text (image.docker.test.ts builds and runs the image
// for real): stages, the final stage's user and contents, and the build context.
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "../testkit/helm.js";
import { copySources, dockerfile, dockerignore, read, runtimePackages } from "../testkit/dockerfile.js";

describe("deploy/Dockerfile", () => {
  it("is multi-stage on a supported Node LTS (24, bookworm-slim): deps → prod-deps → runtime", () => {
    const { preamble, stages } = dockerfile();
    // Node 20 reached its end of life on 2026-04-30; NODE_IMAGE lets the tests build on a local base.
    expect(preamble.find((i) => i.op === "ARG" && i.args.startsWith("NODE_IMAGE="))?.args).toBe("NODE_IMAGE=node:24-bookworm-slim");
    // A "# syntax=" line would make BuildKit pull its frontend from a registry.
    expect(read("deploy/Dockerfile")).not.toMatch(/^#\s*syntax=/m);
    const names = stages.map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(["deps", "prod-deps", "runtime"]));
    expect(names.at(-1)).toBe("runtime");
    for (const s of stages) {
      const earlier = stages.slice(0, stages.indexOf(s)).map((x) => x.name);
      expect(s.from === "${NODE_IMAGE}" || earlier.includes(s.from), `FROM ${s.from}`).toBe(true);
    }
  });

  it("runs as a numeric non-root user in the final stage, created there", () => {
    const final = dockerfile().stages.at(-1)!;
    const users = final.instructions.filter((i) => i.op === "USER");
    expect(users.length).toBe(1);
    const m = /^(\d+)(?::(\d+))?$/.exec(users[0]!.args);
    expect(m, "USER uid[:gid], numeric so that runAsNonRoot can verify it").not.toBeNull();
    const runs = final.instructions
      .filter((i) => i.op === "RUN")
      .map((i) => i.args)
      .join("\n");
    expect(runs).toMatch(new RegExp(`useradd[^\\n]*--uid ${Number(m![1])}\\b`));
  });

  it("keeps build tooling out of the final stage: production node_modules only (nested workspace ones included)", () => {
    const final = dockerfile().stages.at(-1)!;
    const runs = final.instructions
      .filter((i) => i.op === "RUN")
      .map((i) => i.args)
      .join("\n");
    expect(runs).not.toMatch(/\bnpm (ci|install|i)\b/);
    const installs = [...runs.matchAll(/apt-get install ([^&;]*)/g)].flatMap((m) => m[1]!.split(/\s+/).filter((w) => w && !w.startsWith("-")));
    expect(installs).toEqual(["tini"]);
    const copies = final.instructions.filter((i) => i.op === "COPY").map((i) => i.args);
    expect(copies).toContain("--from=prod-deps /out/ ./");
    expect(copies.some((c) => c.startsWith("--from=deps ") && c.includes("node_modules"))).toBe(false);
    const prod = dockerfile()
      .stages.find((s) => s.name === "prod-deps")!
      .instructions.map((i) => i.args)
      .join("\n");
    expect(prod).toMatch(/npm ci --omit=dev --ignore-scripts/);
    expect(prod).toMatch(/for nm in node_modules apps\/\*\/node_modules libs\/\*\/node_modules/);
  });

  it("tsx (the runtime loader) and esbuild are production packages in the lock file, so --omit=dev keeps them", () => {
    const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { dev?: boolean }> };
    for (const name of ["tsx", "esbuild"]) {
      expect(lock.packages[`node_modules/${name}`], name).toBeDefined();
      expect(lock.packages[`node_modules/${name}`]!.dev, `${name} must not be dev-only (see the Dockerfile header)`).not.toBe(true);
    }
  });

  it("removes only packages that no process of the image loads", () => {
    const prod = dockerfile().stages.find((s) => s.name === "prod-deps")!;
    const rm = prod.instructions
      .filter((i) => i.op === "RUN")
      .map((i) => /rm -rf ([^)]*)\)/.exec(i.args)?.[1])
      .find(Boolean)!;
    const removed = rm.split(/\s+/).filter((w) => w && !w.includes("*"));
    expect(removed).toEqual(expect.arrayContaining(["prisma", "typescript", "vitest"]));
    const loaded = runtimePackages();
    expect(loaded.has("pg"), "the scan follows imports into libs (pg via libs/db)").toBe(true);
    expect(loaded.has("commander"), "the scan follows imports into apps (commander via eictl)").toBe(true);
    for (const name of removed) expect(loaded.has(name), `a process loads ${name}, which the image deletes`).toBe(false);
  });

  it("copies every workspace manifest before npm ci, so the lock file installs as is", () => {
    const manifests = dockerfile()
      .stages[0]!.instructions.filter((i) => i.op === "COPY")
      .flatMap(copySources);
    expect(manifests).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "prisma.config.ts", "prisma"]));
    for (const w of (JSON.parse(read("package.json")) as { workspaces: string[] }).workspaces) expect(manifests, w).toContain(`${w}/package.json`);
  });

  it("copies only files that exist and that .dockerignore lets into the build context", () => {
    const ignored = dockerignore();
    const sources = dockerfile().stages.flatMap((s) => s.instructions.filter((i) => i.op === "COPY").flatMap(copySources));
    expect(sources.length).toBeGreaterThan(10);
    for (const src of sources) {
      expect(existsSync(join(ROOT, src)), `${src} exists`).toBe(true);
      expect(ignored(src), `${src} is excluded by .dockerignore`).toBe(false);
    }
  });

  it(".dockerignore keeps host state, VCS, tests, tooling caches and generated code out of the context", () => {
    const ignored = dockerignore();
    for (const p of [
      "node_modules",
      "node_modules/.cache/eiaas-helm/helm",
      "apps/eictl/node_modules/commander",
      ".git/HEAD",
      "libs/db/src/generated/prisma/client.ts",
      ".eiaas/pki/ca.key",
      "apps/api-server/src/app.test.ts",
      "helm/eiaas/values.yaml",
      "scripts/ensure-docker.sh",
    ]) {
      expect(ignored(p), p).toBe(true);
    }
    expect(ignored("libs/db/src/generated-not")).toBe(false);
  });

  it("enters through tini and deploy/entrypoint.sh, which is executable", () => {
    const final = dockerfile().stages.at(-1)!;
    expect(JSON.parse(final.instructions.find((i) => i.op === "ENTRYPOINT")!.args)).toEqual(["/usr/bin/tini", "--", "/app/deploy/entrypoint.sh"]);
    expect(statSync(join(ROOT, "deploy/entrypoint.sh")).mode & 0o111).not.toBe(0);
    expect(final.instructions.filter((i) => i.op === "EXPOSE").flatMap((i) => i.args.split(/\s+/))).toEqual(expect.arrayContaining(["8443", "9090"]));
  });
});
