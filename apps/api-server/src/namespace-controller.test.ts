// The namespace cleanup racing another deleter: the scheduler's garbage collector deletes a task
// whose workload the cleanup removed a page before, between the cleanup's read of the tasks and
// its delete. The page still goes through (those tasks are already gone), in the same pass.
import { expect, it } from "vitest";
import { API_VERSION, kindInfo, TENANT_FINALIZER } from "@eiaas/api";
import { TokenStore, type ObjectStore } from "@eiaas/db";
import { createLogger } from "@eiaas/telemetry";
import { useTestStore } from "@eiaas/testing";
import { NamespaceController } from "./namespace-controller.js";

const TENANT = kindInfo("Tenant");
const TASK = kindInfo("Task");
const fx = useTestStore({ poolSize: 3 });

/** The store, but the first list of tasks is followed by another writer deleting the first of them. */
function racingStore(): ObjectStore {
  let raced = false;
  return new Proxy(fx.store, {
    get(target, prop, receiver) {
      if (prop !== "list") return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<ObjectStore["list"]>) => {
        const page = await target.list(...args);
        if (args[0].kind === "Task" && !raced && page.items[0]) {
          raced = true;
          await target.applyBatch([{ type: "delete", kind: TASK, object: page.items[0] }]);
        }
        return page;
      };
    },
  });
}

it("a task deleted by another writer between the cleanup's read and its delete does not fail the pass", async () => {
  const tenant = await fx.store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "gone", finalizers: [TENANT_FINALIZER] }, spec: {} } as any);
  for (const n of ["t1", "t2"]) await fx.store.create(TASK, { apiVersion: API_VERSION, metadata: { name: n, namespace: "gone" }, spec: { nodeName: "e1", role: "serve" } } as any);
  await fx.store.delete(TENANT, tenant);
  const controller = new NamespaceController({ store: racingStore(), tokens: new TokenStore(fx.db.prisma), logger: createLogger({ name: "test", level: "silent" }) });
  await controller.pass();
  expect(await fx.store.get(TENANT, undefined, "gone")).toBeNull();
  expect((await fx.store.list(TASK, { namespace: "gone" })).items).toEqual([]);
});

// Every API process runs a controller. One lifted the finalizer (the tenant gone) while another
// was still waiting out the token cache in its own pass over the same tenant; the tenant was
// created again under its name with a model, and the slower controller's second emptying deleted
// that model — acknowledged, then lost (a chaos run's tenant re-creation, on a loaded machine).
it("a controller still finalizing a tenant another one finished never empties the tenant created again under its name", async () => {
  const MODEL = kindInfo("Model");
  const logger = createLogger({ name: "test", level: "silent" });
  const tokens = new TokenStore(fx.db.prisma);
  const old = await fx.store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "again", finalizers: [TENANT_FINALIZER] }, spec: {} } as any);
  await fx.store.delete(TENANT, old);
  const fast = new NamespaceController({ store: fx.store, tokens, logger, revocationMs: 0 });
  const slow = new NamespaceController({ store: fx.store, tokens, logger, revocationMs: 1_500 });
  const slowPass = slow.pass();
  await fast.pass();
  expect(await fx.store.get(TENANT, undefined, "again")).toBeNull();

  const recreated = await fx.store.create(TENANT, { apiVersion: API_VERSION, metadata: { name: "again", finalizers: [TENANT_FINALIZER] }, spec: {} } as any);
  await fx.store.create(MODEL, { apiVersion: API_VERSION, metadata: { name: "m", namespace: "again" }, spec: { image: "m:1" } } as any);
  await slowPass;
  expect((await fx.store.get(TENANT, undefined, "again"))?.metadata.uid).toBe(recreated.metadata.uid);
  expect((await fx.store.list(MODEL, { namespace: "again" })).items.map((m) => m.metadata.name)).toEqual(["m"]);
});
