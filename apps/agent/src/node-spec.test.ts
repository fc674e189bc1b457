// The spec an agent registers: the spec file, flags over it, detection under both, the schema's
// defaults last; a spec file or flag that cannot be used is a one-line error naming it.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectionNeeds, nodeLabels, nodeSpec, operatorSpec, readSpecFile, SpecError } from "./node-spec.js";

const DETECTED = { cpu: 3500, memoryMiB: 7800, gpu: 1, gflops: 4.2 };
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eiaas-node-spec-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the registered spec", () => {
  it("nothing set: every detected value, tier device, the schema's defaults for the rest", () => {
    const op = operatorSpec(undefined, {});
    expect(detectionNeeds(op)).toEqual({ cpu: true, memory: true, gpu: true, gflops: true });
    expect(nodeSpec(op, DETECTED)).toEqual({
      tier: "device",
      capacity: { cpu: 3500, memoryMiB: 7800, gpu: 1, acceleratorTops: 0 },
      compute: { gflops: 4.2 },
      power: { computeW: 0, transmitW: 0, idleW: 0 },
      network: { uplinkMbps: 0, downlinkMbps: 0, rttMs: 0 },
      taints: [],
      unschedulable: false,
    });
  });

  it("the spec file (a manifest or a bare spec, YAML or JSON) wins over detection, each flag over the file", async () => {
    const manifest = join(dir, "node.yaml");
    await writeFile(
      manifest,
      [
        "apiVersion: eiaas.io/v1alpha1",
        "kind: EdgeNode",
        "spec:",
        "  tier: edge",
        "  hardware: edge-server-t4",
        "  capacity: {cpu: 6000, gpu: 0}",
        "  taints: [{key: eiaas.io/gpu, value: 'true', effect: NoSchedule}]",
        "  network: {uplinkMbps: 1000, rttMs: 5}",
      ].join("\n"),
    );
    const op = operatorSpec(readSpecFile(manifest), { cpu: "4000", "rtt-ms": "2", tier: "cloud" });
    // Memory and speed are left to detection; CPU and GPUs are the operator's (0 GPUs is a value).
    expect(detectionNeeds(op)).toEqual({ cpu: false, memory: true, gpu: false, gflops: true });
    expect(nodeSpec(op, DETECTED)).toMatchObject({
      tier: "cloud",
      hardware: "edge-server-t4",
      capacity: { cpu: 4000, memoryMiB: 7800, gpu: 0 },
      compute: { gflops: 4.2 },
      network: { uplinkMbps: 1000, downlinkMbps: 0, rttMs: 2 },
      taints: [{ key: "eiaas.io/gpu", value: "true", effect: "NoSchedule" }],
    });
    const json = join(dir, "node.json");
    await writeFile(json, JSON.stringify({ tier: "edge", compute: { gflops: 5000 } }));
    expect(nodeSpec(operatorSpec(readSpecFile(json), {}), DETECTED)).toMatchObject({ tier: "edge", capacity: { cpu: 3500 }, compute: { gflops: 5000 } });
  });

  it("measured operator-class speeds go with the measured gflops, never beside an operator's gflops", () => {
    const measured = { ...DETECTED, gflopsByOperator: { pointwise: 3.1, depthwise: 1.5, matmul: 0.4 } };
    expect(nodeSpec(operatorSpec(undefined, {}), measured).compute).toEqual({ gflops: 4.2, gflopsByOperator: { pointwise: 3.1, depthwise: 1.5, matmul: 0.4 } });
    // The operator said how fast the node is: speeds measured against another figure would contradict it.
    expect(nodeSpec(operatorSpec(undefined, { gflops: "900" }), measured).compute).toEqual({ gflops: 900 });
    // Their own classes stand.
    const op = operatorSpec({ compute: { gflopsByOperator: { matmul: 2 } } }, {});
    expect(nodeSpec(op, measured).compute).toEqual({ gflops: 4.2, gflopsByOperator: { matmul: 2 } });
  });

  it("detected labels under the operator's", () => {
    expect(nodeLabels({ "kubernetes.io/arch": "arm64", site: "lab" }, { "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux" })).toEqual({
      "kubernetes.io/arch": "arm64",
      "kubernetes.io/os": "linux",
      site: "lab",
    });
  });

  it("a spec file or flag that cannot be used is refused in one line naming it", async () => {
    const bad = join(dir, "bad.yaml");
    await writeFile(bad, "tier: [unclosed\n");
    expect(() => readSpecFile(bad)).toThrow(SpecError);
    expect(() => readSpecFile(bad)).toThrow(/^--spec-file .*bad\.yaml: [^\n]+$/);
    expect(() => readSpecFile(join(dir, "missing.yaml"))).toThrow(/^--spec-file .*missing\.yaml: ENOENT/);
    const scalar = join(dir, "scalar.yaml");
    await writeFile(scalar, "42\n");
    expect(() => readSpecFile(scalar)).toThrow("not an EdgeNode spec");
    expect(() => operatorSpec(undefined, { cpu: "four" })).toThrow('--cpu: "four" is not a number');
    expect(() => operatorSpec({ capacity: 8 }, { cpu: "4000" })).toThrow("spec.capacity: must be a mapping");
    expect(() => nodeSpec(operatorSpec({ tier: "planet", capacity: { cpu: -1 } }, {}), DETECTED)).toThrow(/^spec\.tier: .+; spec\.capacity\.cpu: .+$/);
    expect(() => nodeSpec(operatorSpec({ capacity: { cpu: 1, bogus: 1 } }, {}), DETECTED)).toThrow(/spec\.capacity/);
  });
});
