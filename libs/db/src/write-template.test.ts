// One write path: taking resourceVersions, appending to the watch log and notifying its channel
// are spelled out in write-template.ts only. A second copy drifts (the three copies this replaced
// each notified differently), so this greps the tree for SQL doing any of it elsewhere.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const TEMPLATE = "libs/db/src/write-template.ts";

/** What only the template may write: SQL that logs, numbers or announces a change. */
const WRITE_PATH_SQL: ReadonlyArray<[string, RegExp]> = [
  ["appends to the watch log", /\b(insert\s+into|copy)\s+"?watch_events"?/i],
  ["takes resourceVersions", /\bupdate\s+"?resource_version_counter"?/i],
  ["numbers from a reserved block", /eiaas\.rv_base/],
  ["notifies watchers", /\bpg_notify\s*\(|\bNOTIFY\s+("?eiaas_watch|\$\{WATCH_CHANNEL\})/i],
];

/** Production sources and migrations: tests and test harnesses may read or seed the log freely. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (e === "node_modules" || e === "generated" || e === "dist" || e === "testing") continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (/\.(ts|sql|js|mjs)$/.test(e) && !/\.test\.ts$|test-harness\.ts$|\.d\.ts$/.test(e)) out.push(p);
  }
  return out;
}

function offenders(files: readonly string[]): string[] {
  const found: string[] = [];
  for (const file of files) {
    const rel = relative(root, file);
    if (rel === TEMPLATE) continue;
    const text = readFileSync(file, "utf8");
    for (const [what, pattern] of WRITE_PATH_SQL) if (pattern.test(text)) found.push(`${rel} ${what}`);
  }
  return found;
}

describe("one write path", () => {
  it("no SQL outside the write template appends to the watch log, takes versions or notifies", () => {
    const files = ["libs", "apps", "prisma"].flatMap((d) => sources(join(root, d)));
    expect(files.length).toBeGreaterThan(100);
    expect(offenders(files)).toEqual([]);
  });

  it("the template holds every one of them, and the patterns catch the statements as written", () => {
    const template = readFileSync(join(root, TEMPLATE), "utf8");
    for (const [what, pattern] of WRITE_PATH_SQL) expect(pattern.test(template), what).toBe(true);
    const copies = [
      `ev AS (INSERT INTO watch_events (resource_version, kind) SELECT 1, 'Task')`,
      `WITH rv AS (UPDATE resource_version_counter SET value = value + $1 WHERE id = 1 RETURNING value)`,
      `(current_setting('eiaas.rv_base')::bigint + 1)`,
      "n AS (SELECT pg_notify('eiaas_watch', '1'))",
      "NOTIFY ${WATCH_CHANNEL}",
    ];
    for (const sql of copies)
      expect(
        WRITE_PATH_SQL.some(([, p]) => p.test(sql)),
        sql,
      ).toBe(true);
  });
});
