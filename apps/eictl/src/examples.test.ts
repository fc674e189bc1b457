// deploy/examples: every manifest is a valid object of its kind, the fleet is built from
// deploy/reference/hardware.yaml's classes, and the workloads reference models that exist.
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { lookupKind, matchesLabelSelector } from "@eiaas/api";

const DIR = fileURLToPath(new URL("../../../deploy/examples/", import.meta.url));
const HARDWARE = fileURLToPath(new URL("../../../deploy/reference/hardware.yaml", import.meta.url));
const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));
const objects: Array<{ file: string; obj: any }> = files.flatMap((file) =>
  parseAllDocuments(readFileSync(DIR + file, "utf8"))
    .map((d) => d.toJS())
    .filter((o) => o)
    .map((obj) => ({ file, obj })),
);
const of = (kind: string) => objects.filter((o) => o.obj.kind === kind).map((o) => o.obj);

describe("deploy/examples", () => {
  it("every document validates against its kind's schema", () => {
    expect(objects.length).toBeGreaterThan(20);
    for (const { file, obj } of objects) {
      const kind = lookupKind(obj.kind);
      expect(kind, `${file}: ${obj.kind}`).toBeDefined();
      const r = kind!.schema.safeParse(obj);
      expect(r.success, `${file} ${obj.metadata?.name}: ${r.success ? "" : JSON.stringify(r.error.issues)}`).toBe(true);
    }
  });

  it("has a tenant, the four reference models, an InferenceService per architecture and both distributed training modes", () => {
    expect(of("Tenant").map((t) => t.metadata.name)).toEqual(["demo"]);
    expect(
      of("Model")
        .map((m) => m.metadata.name)
        .sort(),
    ).toEqual(["alexnet", "mobilenetv2", "resnet18", "vgg16"]);
    const archs = of("InferenceService")
      .map((s) => s.spec.architecture)
      .sort();
    expect(archs).toEqual(["auto", "cloud", "cloud-device", "device", "edge", "edge-cloud", "edge-device"]);
    expect(
      of("TrainingJob")
        .map((j) => j.spec.mode)
        .sort(),
    ).toEqual(["federated", "gossip"]);
    for (const { file, obj } of objects.filter((o) => o.obj.kind === "InferenceService")) expect(file).toBe(`isvc-${obj.spec.architecture}.yaml`);
  });

  it("workloads live in demo and use models that exist there", () => {
    const models = new Set(of("Model").map((m) => `${m.metadata.namespace}/${m.metadata.name}`));
    for (const w of [...of("InferenceService"), ...of("TrainingJob")]) {
      expect(w.metadata.namespace).toBe("demo");
      expect(models.has(`demo/${w.spec.model}`), `${w.metadata.name} → ${w.spec.model}`).toBe(true);
    }
  });

  it("every workload's selector picks nodes of fleet.yaml", () => {
    const nodes = of("EdgeNode");
    for (const w of [...of("InferenceService"), ...of("TrainingJob")]) {
      const selector = w.kind === "InferenceService" ? w.spec.clients.selector : w.spec.data.selector;
      const picked = nodes.filter((n) => matchesLabelSelector(selector, n.metadata.labels));
      expect(picked.length, w.metadata.name).toBeGreaterThanOrEqual(w.kind === "TrainingJob" ? Math.max(2, w.spec.participants?.min ?? 1) : 1);
    }
  });

  it("the fleet is built from hardware.yaml: each node carries its class's numbers and a valid parent", () => {
    const classes = new Map<string, any>(parse(readFileSync(HARDWARE, "utf8")).classes.map((c: any) => [c.name, c]));
    const nodes = of("EdgeNode");
    const names = new Map(nodes.map((n) => [n.metadata.name, n]));
    expect(nodes.map((n) => n.spec.tier).sort()).toEqual(["cloud", "device", "device", "device", "device", "device", "device", "edge", "edge", "edge"]);
    const up: Record<string, string> = { device: "edge", edge: "cloud" };
    for (const n of nodes) {
      const c = classes.get(n.spec.hardware);
      expect(c, n.metadata.name).toBeDefined();
      expect(n.spec.tier).toBe(c.tier);
      // The labels the examples select on, as the demo's simulated fleet carries them.
      expect(n.metadata.labels).toMatchObject({ tier: n.spec.tier, hardware: n.spec.hardware });
      for (const part of ["capacity", "compute", "power", "network"]) expect(n.spec[part], `${n.metadata.name}.${part}`).toEqual(c[part]);
      if (n.spec.tier === "cloud") expect(n.spec.parent).toBeUndefined();
      else expect(names.get(n.spec.parent)?.spec.tier, `${n.metadata.name}'s parent`).toBe(up[n.spec.tier]);
    }
    // The training examples need data nodes.
    expect(nodes.filter((n) => n.metadata.labels.data === "local").length).toBeGreaterThanOrEqual(3);
  });
});
