// Conformance: deletion propagation (issue 18 item 6) — `propagationPolicy` Background, Foreground
// and Orphan with Kubernetes' finalizers, driven by kubectl v1.32 (`--cascade=…`) as a child
// process and @kubernetes/client-node in-process against the API server on Postgres.
import { CustomObjectsApi } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, API_VERSION, kindInfo } from "@eiaas/api";
import type { StoredObject } from "@eiaas/db";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

const TASK = kindInfo("Task");
const EDGE_NODE = kindInfo("EdgeNode");
const EVENT = kindInfo("Event");
const ISVC = kindInfo("InferenceService");
const EIAAS = { group: "eiaas.io", version: "v1alpha1" };
let k: KubeClients;
let acmeToken: string;

const manifest = (name: string) => `apiVersion: eiaas.io/v1alpha1
kind: InferenceService
metadata: {name: ${name}, namespace: acme}
spec:
  model: resnet18
  clients: {selector: {matchLabels: {tier: device}}}
  slo: {latencyMs: 100}
`;

/** An InferenceService with `tasks` Tasks owned by it, as the scheduler makes them. */
async function workload(name: string, tasks = 2, taskFinalizers: string[] = []): Promise<StoredObject> {
  const r = await k.kubectl(["apply", "-f", await k.file(`${name}.yaml`, manifest(name))]);
  expect(r.stderr).toBe("");
  const owner = (await k.api.store.get(ISVC, "acme", name))!;
  for (let i = 0; i < tasks; i++) {
    await k.api.store.create(TASK, {
      apiVersion: API_VERSION,
      metadata: {
        name: `${name}-t${i}`,
        namespace: "acme",
        ...(taskFinalizers.length ? { finalizers: taskFinalizers } : {}),
        ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name, uid: owner.metadata.uid, controller: true, blockOwnerDeletion: true }],
      },
      spec: { role: "serve", resources: { cpu: 100, memoryMiB: 64, gpu: 0 } },
      status: { phase: "Pending", attempt: 1 },
    } as never);
  }
  return owner;
}

const edgeNode = (name: string, finalizers: string[] = []) =>
  `apiVersion: eiaas.io/v1alpha1\nkind: EdgeNode\nmetadata: {name: ${name}${finalizers.length ? `, finalizers: [${finalizers.join(", ")}]` : ""}}\nspec: {tier: edge, capacity: {cpu: 1000, memoryMiB: 1024}}\n`;

const tasksOf = async (name: string) => (await k.api.store.list(TASK, { namespace: "acme" })).items.filter((t) => t.metadata.name.startsWith(`${name}-t`));

async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 150; i++) {
    const v = await read();
    if (ok(v)) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  acmeToken = await k.api.tenantToken("acme");
}, 60_000);
afterAll(() => k.close());

describe("deletion propagation (item 6)", () => {
  it("kubectl --cascade=background (the default) deletes the Tasks with their workload", async () => {
    await workload("bg");
    const r = await k.kubectl(["delete", "isvc", "bg", "-n", "acme", "--cascade=background"]);
    expect(r.stderr).toBe("");
    expect(await k.api.store.get(ISVC, "acme", "bg")).toBeNull();
    expect(await tasksOf("bg")).toEqual([]);
  });

  it("kubectl --cascade=orphan deletes the workload and keeps its Tasks, their owner reference to it removed", async () => {
    await workload("orph");
    const r = await k.kubectl(["delete", "isvc", "orph", "-n", "acme", "--cascade=orphan"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await k.api.store.get(ISVC, "acme", "orph")).toBeNull();
    const tasks = await tasksOf("orph");
    expect(tasks.map((t) => t.metadata.name)).toEqual(["orph-t0", "orph-t1"]);
    for (const t of tasks) expect(t.metadata.ownerReferences).toBeUndefined();
  });

  it("kubectl --cascade=foreground: answers at once with the owner marked; it goes only after its blocking Tasks", async () => {
    await workload("fg", 2, ["test.eiaas.io/hold"]);
    const r = await k.kubectl(["delete", "isvc", "fg", "-n", "acme", "--cascade=foreground", "--wait=false"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain('inferenceservice.eiaas.io "fg" deleted');
    // The owner waits, marked, while its Tasks (held by a finalizer of their own) are being deleted.
    const marked = await k.kubectl(["get", "isvc", "fg", "-n", "acme", "-o", "json"]);
    const owner = JSON.parse(marked.stdout) as StoredObject;
    expect(owner.metadata.deletionTimestamp).toBeDefined();
    expect(owner.metadata.finalizers).toEqual(["foregroundDeletion"]);
    const held = await eventually(
      () => tasksOf("fg"),
      (ts) => ts.every((t) => t.metadata.deletionTimestamp !== undefined),
      "the tasks marked",
    );
    expect(held).toHaveLength(2);
    await k.api.propagation.kick();
    expect(await k.api.store.get(ISVC, "acme", "fg")).not.toBeNull();
    // One blocking Task lets go: the owner still waits for the other.
    await k.api.store.update(TASK, held[0]!, { ...held[0]!, metadata: { ...held[0]!.metadata, finalizers: [] } });
    await k.api.propagation.kick();
    expect(await k.api.store.get(ISVC, "acme", "fg")).not.toBeNull();
    const last = (await tasksOf("fg"))[0]!;
    await k.api.store.update(TASK, last, { ...last, metadata: { ...last.metadata, finalizers: [] } });
    await eventually(
      () => k.api.store.get(ISVC, "acme", "fg"),
      (o) => o === null,
      "the owner gone",
    );
    expect(await tasksOf("fg")).toEqual([]);
  });

  it("kubectl --cascade=foreground waits (as by default) until the workload and its Tasks are gone", async () => {
    await workload("fg2");
    const r = await k.kubectl(["delete", "isvc", "fg2", "-n", "acme", "--cascade=foreground"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await k.api.store.get(ISVC, "acme", "fg2")).toBeNull();
    expect(await tasksOf("fg2")).toEqual([]);
  });

  it("client-node: propagationPolicy as a parameter or in the DeleteOptions body answers the object marked", async () => {
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    await workload("cn-orph");
    const target = { ...EIAAS, namespace: "acme", plural: "inferenceservices" };
    const orphaned = (await custom.deleteNamespacedCustomObject({ ...target, name: "cn-orph", propagationPolicy: "Orphan" })) as StoredObject;
    expect(orphaned.metadata.deletionTimestamp).toBeDefined();
    expect(orphaned.metadata.finalizers).toEqual(["orphan"]);
    await eventually(
      () => k.api.store.get(ISVC, "acme", "cn-orph"),
      (o) => o === null,
      "the owner gone",
    );
    expect((await tasksOf("cn-orph")).map((t) => t.metadata.ownerReferences)).toEqual([undefined, undefined]);

    await workload("cn-fg");
    const fg = (await custom.deleteNamespacedCustomObject({ ...target, name: "cn-fg", body: { propagationPolicy: "Foreground" } })) as StoredObject;
    expect(fg.metadata.finalizers).toEqual(["foregroundDeletion"]);
    await eventually(
      () => k.api.store.get(ISVC, "acme", "cn-fg"),
      (o) => o === null,
      "the owner gone",
    );
    expect(await tasksOf("cn-fg")).toEqual([]);
  });

  it("deletecollection takes the policy too", async () => {
    await workload("col");
    const as = { Authorization: `Bearer ${k.api.adminToken}` };
    const r = await request(k.api.app).delete(`${API_PREFIX}/namespaces/acme/inferenceservices?fieldSelector=metadata.name%3Dcol`).set(as).send({ propagationPolicy: "Orphan" }).expect(200);
    expect(r.body.items[0].metadata.finalizers).toEqual(["orphan"]);
    await eventually(
      () => k.api.store.get(ISVC, "acme", "col"),
      (o) => o === null,
      "the owner gone",
    );
    expect(await tasksOf("col")).toHaveLength(2);
  });

  it.each([
    ["foreground", "foregroundDeletion"],
    ["orphan", "orphan"],
  ])("kubectl --cascade=%s on a kind nothing depends on (EdgeNode): marked with %s, which the GC lifts; kubectl waits until it is gone", async (cascade, finalizer) => {
    const name = `en-${cascade}`;
    await k.kubectl(["apply", "-f", await k.file(`${name}.yaml`, edgeNode(name))]);
    const before = (await k.api.store.get(EDGE_NODE, undefined, name))!.metadata.resourceVersion;
    const r = await k.kubectl(["delete", "en", name, `--cascade=${cascade}`]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`edgenode.eiaas.io "${name}" deleted`);
    expect(await k.api.store.get(EDGE_NODE, undefined, name)).toBeNull();
    // What a watcher saw (kubectl's own watch, replayed from before the delete): the node marked
    // with the finalizer, as kube-apiserver answers, then gone — not gone at once.
    const seen = await k.kubectl(["get", "--raw", `/apis/eiaas.io/v1alpha1/edgenodes?watch=1&resourceVersion=${before}&fieldSelector=metadata.name%3D${name}&timeoutSeconds=1`]);
    const events = seen.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; object: StoredObject });
    expect(events.map((e) => [e.type, e.object.metadata.finalizers ?? [], e.object.metadata.deletionTimestamp !== undefined])).toEqual([
      ["MODIFIED", [finalizer], true],
      ["DELETED", [], true],
    ]);
  });

  it.each([
    ["Foreground", "foregroundDeletion"],
    ["Orphan", "orphan"],
  ])("client-node %s on an EdgeNode answers it marked with deletionTimestamp and %s, which the GC lifts at its next pass", async (policy, finalizer) => {
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    const name = `cn-en-${finalizer.toLowerCase()}`;
    await k.kubectl(["apply", "-f", await k.file(`${name}.yaml`, edgeNode(name, ["test.eiaas.io/hold"]))]);
    const marked = (await custom.deleteClusterCustomObject({ ...EIAAS, plural: "edgenodes", name, propagationPolicy: policy })) as StoredObject;
    expect(marked.kind).toBe("EdgeNode");
    expect(marked.metadata.deletionTimestamp).toBeDefined();
    expect(marked.metadata.finalizers).toEqual(["test.eiaas.io/hold", finalizer]);
    // The GC lifts its finalizer; the node's own keeps it, marked, until that one is lifted too.
    const held = await eventually(
      () => k.api.store.get(EDGE_NODE, undefined, name),
      (o) => o?.metadata.finalizers?.length === 1,
      "the GC's finalizer lifted",
    );
    expect(held!.metadata.finalizers).toEqual(["test.eiaas.io/hold"]);
    expect(held!.metadata.deletionTimestamp).toBe(marked.metadata.deletionTimestamp);
    await k.api.store.update(EDGE_NODE, held!, { ...held!, metadata: { ...held!.metadata, finalizers: [] } });
    expect(await k.api.store.get(EDGE_NODE, undefined, name)).toBeNull();
  });

  it("kubectl delete (background, the default) on an EdgeNode deletes it at once; so does any policy on an Event (no GC, as core Events)", async () => {
    await k.kubectl(["apply", "-f", await k.file("en-bg.yaml", edgeNode("en-bg"))]);
    const custom = (await k.kubeConfig()).makeApiClient(CustomObjectsApi);
    const r = (await custom.deleteClusterCustomObject({ ...EIAAS, plural: "edgenodes", name: "en-bg" })) as { kind: string; status?: string };
    expect(r).toMatchObject({ kind: "EdgeNode" });
    expect(await k.api.store.get(EDGE_NODE, undefined, "en-bg")).toBeNull();
    const bg = await k.kubectl(["apply", "-f", await k.file("en-bg2.yaml", edgeNode("en-bg2"))]);
    expect(bg.code).toBe(0);
    expect((await k.kubectl(["delete", "en", "en-bg2", "--wait=false"])).code).toBe(0);
    expect(await k.api.store.get(EDGE_NODE, undefined, "en-bg2")).toBeNull();

    const ev = await k.api.store.create(EVENT, {
      apiVersion: API_VERSION,
      metadata: { name: "ev-fg", namespace: "acme" },
      involvedObject: { kind: "InferenceService", namespace: "acme", name: "x" },
      reason: "Test",
      message: "m",
      type: "Normal",
    } as never);
    const del = await request(k.api.app)
      .delete(`${API_PREFIX}/namespaces/acme/events/${ev.metadata.name}`)
      .set({ Authorization: `Bearer ${k.api.adminToken}` })
      .send({ propagationPolicy: "Foreground" })
      .expect(200);
    expect(del.body.metadata.finalizers).toBeUndefined();
    expect(await k.api.store.get(EVENT, "acme", "ev-fg")).toBeNull();
  });

  it("a dry-run Foreground delete answers the object as the delete would mark it, and changes nothing", async () => {
    await k.kubectl(["apply", "-f", await k.file("en-dry.yaml", edgeNode("en-dry"))]);
    const r = await request(k.api.app)
      .delete(`${API_PREFIX}/edgenodes/en-dry?dryRun=All`)
      .set({ Authorization: `Bearer ${k.api.adminToken}` })
      .send({ propagationPolicy: "Foreground" })
      .expect(200);
    expect(r.body.metadata.finalizers).toEqual(["foregroundDeletion"]);
    expect(r.body.metadata.deletionTimestamp).toBeDefined();
    const stored = await k.api.store.get(EDGE_NODE, undefined, "en-dry");
    expect(stored?.metadata.deletionTimestamp).toBeUndefined();
    expect(stored?.metadata.finalizers).toBeUndefined();
  });

  it("refuses bad DeleteOptions with 400/422 naming the field, and deletes nothing", async () => {
    await workload("bad", 1);
    const url = `${API_PREFIX}/namespaces/acme/inferenceservices/bad`;
    const as = { Authorization: `Bearer ${k.api.adminToken}` };
    const policy = await request(k.api.app).delete(`${url}?propagationPolicy=Sideways`).set(as).expect(422);
    expect(policy.body).toMatchObject({ kind: "Status", reason: "Invalid", details: { causes: [{ field: "propagationPolicy" }] } });
    const both = await request(k.api.app).delete(url).set(as).send({ propagationPolicy: "Orphan", orphanDependents: true }).expect(422);
    expect(both.body.details.causes.map((c: { field: string }) => c.field)).toEqual(["propagationPolicy"]);
    expect((await request(k.api.app).delete(url).set(as).send({ orphanDependents: "yes" }).expect(422)).body.details.causes[0].field).toBe("orphanDependents");
    expect(
      (
        await request(k.api.app)
          .delete(url)
          .set(as)
          .send({ preconditions: { uid: 7 } })
          .expect(422)
      ).body.details.causes[0].field,
    ).toBe("preconditions.uid");
    expect((await request(k.api.app).delete(url).set(as).set("Content-Type", "application/json").send('"Orphan"').expect(400)).body.kind).toBe("Status");
    expect(await k.api.store.get(ISVC, "acme", "bad")).not.toBeNull();
    // The deprecated orphanDependents=true is Orphan.
    await request(k.api.app).delete(url).set(as).send({ orphanDependents: true }).expect(200);
    await eventually(
      () => k.api.store.get(ISVC, "acme", "bad"),
      (o) => o === null,
      "the owner gone",
    );
    expect(await tasksOf("bad")).toHaveLength(1);
  });

  it("a tenant may not orphan Tasks it could not delete afterwards (403, nothing deleted); Foreground and Background it may", async () => {
    await workload("ten");
    const r = await k.kubectl(["delete", "isvc", "ten", "-n", "acme", "--cascade=orphan"], { token: acmeToken });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Forbidden|forbidden/);
    expect(await k.api.store.get(ISVC, "acme", "ten")).not.toBeNull();
    expect(await tasksOf("ten")).toHaveLength(2);
    const fg = await k.kubectl(["delete", "isvc", "ten", "-n", "acme", "--cascade=foreground"], { token: acmeToken });
    expect(fg.stderr).toBe("");
    expect(await k.api.store.get(ISVC, "acme", "ten")).toBeNull();
    expect(await tasksOf("ten")).toEqual([]);
  });
});
