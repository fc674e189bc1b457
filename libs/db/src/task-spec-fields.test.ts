// A task's load, priority and expected run time are typed fields of its spec. They used to travel
// as annotations that the planner, the binder and the usage trigger each parsed from text; this
// greps the tree so no reader of those annotations comes back, and runs the migration that moved
// the stored ones into the spec on a database as it was before it.
import { randomBytes } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { taskDemand } from "@eiaas/scheduling";
import { applyMigrations, MIGRATIONS_DIR } from "./migrate.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** The migration that moved the annotations into the spec: it, and those before it, may name them. */
const MOVE = "20261207100000_task_spec_fields";

const OLD_READERS: ReadonlyArray<[string, RegExp]> = [
  ["the load or priority annotation", /scheduling\.eiaas\.io\/(load|priority)\b/],
  ["the expected run time annotation", /eiaas\.io\/expected-run-ms\b/],
  ["a constant naming one of them", /\b(TASK_LOAD|LOAD|PRIORITY|EXPECTED_RUN)_ANNOTATION\b/],
];

/** Production sources (test harnesses included: they read rows as the code does), not tests. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (e === "node_modules" || e === "generated" || e === "dist") continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|js|mjs|sql|prisma)$/.test(e) && !/\.test\.ts$|\.d\.ts$/.test(e)) out.push(p);
  }
  return out;
}

function laterMigrations(): string[] {
  return readdirSync(MIGRATIONS_DIR)
    .filter((m) => m > MOVE && statSync(join(MIGRATIONS_DIR, m)).isDirectory())
    .map((m) => join(MIGRATIONS_DIR, m, "migration.sql"));
}

describe("typed task fields", () => {
  it("no source, and no migration after the move, reads the old annotations", () => {
    const files = [...["libs", "apps", "scripts", "bench"].flatMap((d) => sources(join(root, d))), join(root, "prisma/schema.prisma"), ...laterMigrations()];
    expect(files.length).toBeGreaterThan(100);
    const found: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      for (const [what, pattern] of OLD_READERS) if (pattern.test(text)) found.push(`${relative(root, file)} names ${what}`);
    }
    expect(found).toEqual([]);
  });

  it("the patterns catch the readers as they were written", () => {
    const readers = [
      "load: numberAnnotation(t.metadata.annotations, LOAD_ANNOTATION)",
      "sign * eiaas_text_decimal(t.annotations->>'scheduling.eiaas.io/load')",
      `annotations: { "scheduling.eiaas.io/priority": "0" }`,
      "const expected = t.metadata.annotations?.[EXPECTED_RUN_ANNOTATION];",
      `export const EXPECTED_RUN_ANNOTATION = "eiaas.io/expected-run-ms";`,
      "export const TASK_LOAD_ANNOTATION = LOAD_ANNOTATION;",
    ];
    for (const line of readers)
      expect(
        OLD_READERS.some(([, p]) => p.test(line)),
        line,
      ).toBe(true);
  });
});

describe(`migration ${MOVE}`, () => {
  const server = inject("postgresUrl");
  const database = `eiaas_test_move_${randomBytes(6).toString("hex")}`;
  const url = Object.assign(new URL(server), { pathname: `/${database}` }).toString();
  const before = mkdtempSync(join(tmpdir(), "eiaas-migrations-"));
  let client: pg.Client;

  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: server });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    await admin(`CREATE DATABASE ${database}`);
    // The migrations as they stood before the move (copies: the migrator takes directories only).
    for (const m of readdirSync(MIGRATIONS_DIR)) if (m < MOVE && statSync(join(MIGRATIONS_DIR, m)).isDirectory()) cpSync(join(MIGRATIONS_DIR, m), join(before, m), { recursive: true });
    await applyMigrations(url, before);
    client = new pg.Client({ connectionString: url });
    await client.connect();
  }, 120_000);
  afterAll(async () => {
    await client?.end();
    await admin(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    rmSync(before, { recursive: true, force: true });
  });

  const usage = async () =>
    Object.fromEntries(
      (await client.query(`SELECT node_name, "load"::float8 AS load, tasks::int AS tasks FROM node_usage ORDER BY 1`)).rows.map((r) => [r.node_name, { load: r.load, tasks: r.tasks }]),
    );

  it("moves the stored annotations into the spec, drops what the fields refuse, and recounts the load from the spec", async () => {
    const insert = (name: string, node: string, phase: string, annotations: Record<string, string>) =>
      client.query(
        `INSERT INTO tasks (uid, namespace, name, resource_version, spec, annotations, phase, node_name)
         VALUES (gen_random_uuid(), 'acme', $1, 1, $2, $3, $4, $5)`,
        [name, { nodeName: node, role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } }, annotations, phase, node],
      );
    await insert("full", "e1", "Running", { "scheduling.eiaas.io/load": "0.25", "scheduling.eiaas.io/priority": "7", "eiaas.io/expected-run-ms": "1200", "eiaas.io/task-key": "serve/e1" });
    await insert("spaced", "e1", "Dispatched", { "scheduling.eiaas.io/load": " 0.5 ", "scheduling.eiaas.io/priority": "-3" });
    await insert("done", "e1", "Succeeded", { "scheduling.eiaas.io/load": "0.9" });
    await insert("garbage", "e2", "Running", { "scheduling.eiaas.io/load": "lots", "scheduling.eiaas.io/priority": "1.5", "eiaas.io/expected-run-ms": "-5" });
    await insert("negative", "e2", "Running", { "scheduling.eiaas.io/load": "-0.2", "scheduling.eiaas.io/priority": "3000000000" });
    await insert("plain", "e2", "Running", {});
    // What the old trigger counted, from the annotations' text.
    expect(await usage()).toEqual({ e1: { load: 0.75, tasks: 2 }, e2: { load: -0.2, tasks: 3 } });

    expect((await applyMigrations(url)).applied[0]).toBe(MOVE);

    const rows = (await client.query(`SELECT name, spec, annotations FROM tasks ORDER BY name`)).rows;
    const byName = Object.fromEntries(rows.map((r) => [r.name, r]));
    const typed = (name: string) => {
      const { load, priority, expectedRunMs } = byName[name].spec;
      return { load, priority, expectedRunMs };
    };
    expect(typed("full")).toEqual({ load: 0.25, priority: 7, expectedRunMs: 1200 });
    expect(typed("spaced")).toEqual({ load: 0.5, priority: -3, expectedRunMs: undefined });
    expect(typed("done")).toEqual({ load: 0.9, priority: undefined, expectedRunMs: undefined });
    expect(typed("garbage")).toEqual({ load: undefined, priority: undefined, expectedRunMs: undefined });
    expect(typed("negative")).toEqual({ load: undefined, priority: undefined, expectedRunMs: undefined });
    expect(byName.plain.spec).toEqual({ nodeName: "e2", role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } });
    // The other annotations stay; the moved ones are gone from every row.
    expect(byName.full.annotations).toEqual({ "eiaas.io/task-key": "serve/e1" });
    for (const r of rows.filter((r) => r.name !== "full")) expect(r.annotations, r.name).toEqual({});
    // Each node's load is what the typed fields say, read as the binder and the snapshot read them.
    expect(await usage()).toEqual({ e1: { load: 0.75, tasks: 2 }, e2: { load: 0, tasks: 3 } });
    const held = (node: string) => rows.filter((r) => r.spec.nodeName === node && r.name !== "done").reduce((sum, r) => sum + taskDemand(r).load, 0);
    expect([held("e1"), held("e2")]).toEqual([0.75, 0]);
  });

  it("has the usage trigger follow an edit of spec.load alone", async () => {
    await client.query(`UPDATE tasks SET spec = jsonb_set(spec, '{load}', '0.1') WHERE name = 'spaced'`);
    await client.query(`UPDATE tasks SET spec = spec || '{"load": 0.4}' WHERE name = 'plain'`);
    expect(await usage()).toEqual({ e1: { load: 0.35, tasks: 2 }, e2: { load: 0.4, tasks: 3 } });
    // A value that is not a JSON number (only a writer past the API's validation could store one) holds nothing.
    await client.query(`UPDATE tasks SET spec = spec || '{"load": "0.4"}' WHERE name = 'plain'`);
    expect(await usage()).toEqual({ e1: { load: 0.35, tasks: 2 }, e2: { load: 0, tasks: 3 } });
  });
});
