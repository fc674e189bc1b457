import { describe, expect, it } from "vitest";
import { LAST_APPLIED_ANNOTATION } from "@eiaas/api";
import { applyPatch, covers, lastAppliedOf, withLastApplied } from "./apply-patch.js";

const manifest = (spec: object, labels?: Record<string, string>) => ({
  apiVersion: "eiaas.io/v1alpha1",
  kind: "InferenceService",
  metadata: { name: "x", namespace: "demo", ...(labels ? { labels } : {}) },
  spec,
});
/** What the server stores: defaults filled in, server-owned metadata, the annotation from create. */
function live(applied: Record<string, any>, spec: object = applied.spec, labels: Record<string, string> = applied.metadata.labels ?? {}) {
  const created = withLastApplied(applied);
  return {
    ...created,
    metadata: { ...created.metadata, labels, uid: "u", resourceVersion: "7", generation: 1, creationTimestamp: "t" },
    spec: { architecture: "auto", objective: "latency", tolerations: [], ...spec },
    status: { phase: "Pending" },
  };
}

describe("apply's three-way merge patch", () => {
  it("server defaults are not differences; an unchanged manifest needs no patch", () => {
    const m = manifest({ model: "m", clients: { selector: { matchLabels: { tier: "device" } } }, slo: { latencyMs: 100 } }, { a: "1" });
    expect(applyPatch(m, live(m))).toBeUndefined();
    expect(covers({ a: [{ x: 1 }] }, { a: [{ x: 1, y: 2 }], b: 3 })).toBe(true);
    expect(covers({ a: [1, 2] }, { a: [1] })).toBe(false);
  });

  it("changes are patched, fields removed since the last apply become null, the annotation is refreshed", () => {
    const before = manifest({ model: "m", slo: { latencyMs: 100, minAccuracy: 0.5 }, nodeSelector: { site: "lab" } }, { a: "1", b: "2" });
    const after = manifest({ model: "m", slo: { latencyMs: 80 } }, { a: "1" });
    const patch = applyPatch(after, live(before))!;
    expect(patch.spec).toEqual({ slo: { latencyMs: 80, minAccuracy: null }, nodeSelector: null });
    expect((patch.metadata as any).labels).toEqual({ b: null });
    expect(JSON.parse((patch.metadata as any).annotations[LAST_APPLIED_ANNOTATION])).toEqual(lastAppliedOf(after));
  });

  it("arrays are replaced whole when the manifest's changed, even where the live one only has extra defaults", () => {
    const before = manifest({
      model: "m",
      tolerations: [
        { key: "a", operator: "Exists" },
        { key: "b", operator: "Exists" },
      ],
    });
    const after = manifest({ model: "m", tolerations: [{ key: "a" }] });
    expect(applyPatch(after, live(before))!.spec).toEqual({ tolerations: [{ key: "a" }] });
  });

  it("objects created without the annotation: only what the manifest says is compared", () => {
    const m = manifest({ model: "m", priority: 3 });
    const l = { ...live(m), metadata: { name: "x", namespace: "demo", labels: { extra: "kept" }, annotations: {} } };
    expect(applyPatch(m, l)).toBeUndefined();
    expect(applyPatch(manifest({ model: "m", priority: 4 }), l)!.spec).toEqual({ priority: 4 });
  });
});
