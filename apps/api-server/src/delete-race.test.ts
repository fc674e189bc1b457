// A DELETE without a resourceVersion precondition is unconditional, as in Kubernetes: a controller's
// status write landing between the read and the delete (the scheduler publishing a node's
// allocation, a heartbeat) makes it read again, not answer 409 Conflict.
import { expect, it } from "vitest";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { StoreError, type ObjectStore, type StoredObject } from "@eiaas/db";
import { useTestStore } from "@eiaas/testing";
import { ResourceService } from "./resources/service.js";

const NODE = kindInfo("EdgeNode");
const fx = useTestStore({ poolSize: 3 });

/** A store whose first `get` of `name` is followed by a status write from "another writer". */
function racingStore(name: string, writes = 1): ObjectStore {
  let left = writes;
  return new Proxy(fx.store, {
    get(target, prop, receiver) {
      if (prop !== "get") return Reflect.get(target, prop, receiver);
      return async (...args: Parameters<ObjectStore["get"]>) => {
        const obj = await target.get(...args);
        if (obj && args[2] === name && left-- > 0) await target.updateStatus(NODE, obj, { phase: "Ready", allocated: { cpu: left } });
        return obj;
      };
    },
  });
}

const node = (name: string) => ({ apiVersion: API_VERSION, kind: "EdgeNode", metadata: { name }, spec: { tier: "edge" } }) as any;

it("deletes through a concurrent status write when no resourceVersion precondition is given", async () => {
  await fx.store.create(NODE, node("edge-race"));
  const service = new ResourceService({ store: racingStore("edge-race", 2) });
  const deleted: StoredObject = await service.delete(NODE, undefined, "edge-race");
  expect(deleted.metadata.name).toBe("edge-race");
  expect(await fx.store.get(NODE, undefined, "edge-race")).toBeNull();
});

it("still answers Conflict when the caller's resourceVersion precondition is stale", async () => {
  const created = await fx.store.create(NODE, node("edge-pre"));
  const service = new ResourceService({ store: racingStore("edge-pre") });
  const err = await service.delete(NODE, undefined, "edge-pre", { preconditions: { resourceVersion: created.metadata.resourceVersion } }).catch((e) => e);
  expect(err).toBeInstanceOf(StoreError);
  expect((err as StoreError).reason).toBe("Conflict");
  expect(await fx.store.get(NODE, undefined, "edge-pre")).not.toBeNull();
});
