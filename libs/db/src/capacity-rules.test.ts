// The planner places by a Snapshot; the binder re-checks the plan against the rows under its lock.
// Both read the scheduling library's capacity rules, so on the same state they must agree: a plan
// the planner makes that the binder refuses is planned again forever, and one the binder takes
// that the planner would not over-commits a node. Each case is a node at the edge of one rule
// (libs/scheduling's CAPACITY_EDGE_CASES), written to Postgres and bound for real.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { CAPACITY_EDGE_CASES, CASE_TENANT, caseNode, caseTask, plannerVerdict, type CapacityCase } from "@eiaas/scheduling/testing";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";
import { bindTasks } from "./binder.js";
import { createDatabase, type Database } from "./client.js";
import { ObjectStore } from "./object-store.js";

const NODE = kindInfo("EdgeNode");
const TENANT = kindInfo("Tenant");
const TASK = kindInfo("Task");

let tdb: TestDatabase;
let db: Database;
let store: ObjectStore;

beforeAll(async () => {
  tdb = await createTestDatabase();
  db = createDatabase(tdb.url, { poolSize: 2 });
  store = new ObjectStore(db.pool);
});
afterAll(async () => {
  await db?.close();
  await tdb?.drop();
});

/** The binder's refusals, by the rule they name. */
const BINDER_VERDICT: Array<[RegExp, CapacityCase["verdict"]]> = [
  [/: insufficient cpu$/, "cpu"],
  [/: insufficient memory$/, "memoryMiB"],
  [/: insufficient gpu$/, "gpu"],
  [/: load would exceed /, "load"],
  [/: too many tasks /, "tasks"],
  [/ is not Ready$/, "NotReady"],
  [/ is cordoned$/, "Cordoned"],
];

/** Writes the case's node and tasks, then binds one more task asking the case's request. */
async function binderVerdict(c: CapacityCase): Promise<CapacityCase["verdict"] | string> {
  await tdb.reset();
  await store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: CASE_TENANT }, spec: {} });
  await store.create(NODE, { apiVersion: API_VERSION, ...caseNode(c) });
  for (const [i, d] of c.existing.entries()) await store.create(TASK, { apiVersion: API_VERSION, ...caseTask(d, `old-${i}`) });
  const task = store.prepareCreate(TASK, { apiVersion: API_VERSION, ...caseTask(c.request, "new") });
  const [outcome] = await bindTasks(db.pool, [{ id: c.name, namespace: CASE_TENANT, tasks: [task] }]);
  if (outcome!.bound) return "fits";
  const reason = outcome!.reason;
  return BINDER_VERDICT.find(([pattern]) => pattern.test(reason))?.[1] ?? reason;
}

describe("the planner's snapshot and the binder's re-check", () => {
  it.each(CAPACITY_EDGE_CASES.map((c) => [c.name, c] as const))("agree: %s", async (_name, c) => {
    const planner = plannerVerdict(c);
    const binder = await binderVerdict(c);
    expect({ planner, binder }).toEqual({ planner: c.verdict, binder: c.verdict });
  });
});
