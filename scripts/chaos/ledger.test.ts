// The ledger's verdicts: what it calls lost, resurrected, stale or made up, and what it must leave
// alone (writes in flight or unanswered, objects of a tenant being deleted).
import { describe, expect, it } from "vitest";
import { Ledger, type LedgerEntry, type StoredRow } from "./ledger.js";

const NS = new Set(["t"]);

/** An entry whose create was answered `status` long enough ago. */
function created(l: Ledger, name: string, status = 201, uid = `uid-${name}`): LedgerEntry {
  const e = l.entry("InferenceService", "t", name);
  const op = l.begin(e, "create");
  op.start -= 10_000;
  l.answer(e, op, status, { metadata: { uid, generation: 1 } });
  op.end! -= 9_000;
  return e;
}

function answered(l: Ledger, e: LedgerEntry, type: "edit" | "delete" | "unfinalize", status: number, body: any, expect?: { path: string[]; value: unknown }) {
  const op = l.begin(e, type);
  if (expect) op.expect = expect;
  op.start -= 5_000;
  l.answer(e, op, status, body);
  op.end! -= 4_000;
  return op;
}

const row = (name: string, extra: Partial<StoredRow> = {}): StoredRow => ({ kind: "InferenceService", uid: `uid-${name}`, namespace: "t", name, generation: 1, spec: {}, deleting: false, ...extra });

describe("ledger", () => {
  it("finds an acknowledged object missing, and one back after its acknowledged delete", () => {
    const l = new Ledger();
    created(l, "a");
    const b = created(l, "b");
    answered(l, b, "delete", 200, { metadata: { uid: "uid-b" } });
    const f = l.check([row("b")], Date.now(), NS);
    expect(f.lost).toHaveLength(1);
    expect(f.lost[0]).toContain("t/a");
    expect(f.resurrected).toHaveLength(1);
    expect(f.resurrected[0]).toContain("t/b");
  });

  it("accepts either state after an unanswered write, and skips objects with a write in flight", () => {
    const l = new Ledger();
    const a = created(l, "a");
    const op = l.begin(a, "delete");
    op.start -= 5_000;
    l.noAnswer(a, op);
    op.end! -= 4_000;
    const u = l.entry("InferenceService", "t", "u");
    const uop = l.begin(u, "create");
    uop.start -= 5_000;
    l.noAnswer(u, uop);
    uop.end! -= 4_000;
    const c = created(l, "c");
    l.begin(c, "delete"); // still pending
    expect(l.check([row("u")], Date.now(), NS)).toMatchObject({ lost: [], resurrected: [], phantoms: [], inFlight: 1 });
    expect(l.check([], Date.now(), NS)).toMatchObject({ lost: [], resurrected: [], phantoms: [] });
  });

  it("holds edits to their acknowledged generation and value", () => {
    const l = new Ledger();
    const a = created(l, "a");
    answered(l, a, "edit", 200, { metadata: { generation: 3 } }, { path: ["resources", "cpu"], value: 500 });
    expect(l.check([row("a", { generation: 2, spec: { resources: { cpu: 500 } } })], Date.now(), NS).staleEdits).toHaveLength(1);
    expect(l.check([row("a", { generation: 3, spec: { resources: { cpu: 400 } } })], Date.now(), NS).staleEdits).toHaveLength(1);
    expect(l.check([row("a", { generation: 3, spec: { resources: { cpu: 500 } } })], Date.now(), NS).staleEdits).toEqual([]);
    // A later generation (an unanswered edit may have landed) is not stale.
    expect(l.check([row("a", { generation: 4, spec: { resources: { cpu: 700 } } })], Date.now(), NS).staleEdits).toEqual([]);
  });

  it("calls made up what the traffic never created, or created though refused", () => {
    const l = new Ledger();
    created(l, "r", 422);
    const f = l.check([row("r"), row("x")], Date.now(), NS);
    expect(f.phantoms).toHaveLength(2);
    // Outside the traffic's namespaces nothing is the ledger's business.
    expect(l.check([row("y", { namespace: "other" })], Date.now(), NS).phantoms).toEqual([]);
  });

  it("waits for finalizers: terminating after the delete, gone once their removal was acknowledged", () => {
    const l = new Ledger();
    const a = created(l, "a");
    answered(l, a, "delete", 200, { metadata: { uid: "uid-a", deletionTimestamp: "x", finalizers: ["f"] } });
    expect(l.check([row("a", { deleting: true })], Date.now(), NS).resurrected).toEqual([]);
    answered(l, a, "unfinalize", 200, { metadata: { uid: "uid-a", generation: 1 } });
    expect(l.check([row("a", { deleting: true })], Date.now(), NS).resurrected).toHaveLength(1);
    expect(l.check([], Date.now(), NS)).toMatchObject({ lost: [], resurrected: [] });
  });

  it("lets a deleted tenant's objects linger until the tenant is created again, then not", () => {
    const l = new Ledger();
    const tenant = l.entry("Tenant", "", "t");
    const top = l.begin(tenant, "create");
    top.start -= 20_000;
    l.answer(tenant, top, 201, { metadata: { uid: "uid-tenant" } });
    top.end! -= 19_000;
    created(l, "a");
    const del = l.begin(tenant, "delete");
    l.tenantDeletions.push({ namespace: "t", op: del });
    del.start -= 5_000;
    l.answer(tenant, del, 200, { metadata: { uid: "uid-tenant", deletionTimestamp: "x", finalizers: ["eiaas.io/namespace"] } });
    del.end! -= 4_000;
    const tenantRow: StoredRow = { kind: "Tenant", uid: "uid-tenant", namespace: "", name: "t", generation: 1, spec: {}, deleting: true };
    expect(l.check([tenantRow, row("a")], Date.now(), NS)).toMatchObject({ lost: [], resurrected: [], phantoms: [] });
    expect(l.check([], Date.now(), NS)).toMatchObject({ lost: [], resurrected: [] });
    l.tenantDeletions[0]!.recreatedAt = Date.now() - 1_000;
    const f = l.check([tenantRow, row("a")], Date.now(), NS);
    expect(f.resurrected).toHaveLength(2);
  });
});
