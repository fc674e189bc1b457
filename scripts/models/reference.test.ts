// The generated reference models import to the layer tables of deploy/examples/*.yaml.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { attachExitHead, importOnnxModel, type ImportedModel } from "@eiaas/onnx";
import type { ModelSpecInput } from "@eiaas/api";
import { EXITS, MODELS, exitHead, type ReferenceModel } from "./reference.js";

const examples = join(import.meta.dirname, "../../deploy/examples");
const example = (name: ReferenceModel): ModelSpecInput => parse(readFileSync(join(examples, `${name}.yaml`), "utf8")).spec;

/** Layer by layer: same names, flops within 1 %, output bytes exact, memoryMiB exact (same convention). */
function expectTable(imported: ImportedModel, spec: ModelSpecInput): void {
  expect(imported.inputBytes).toBe(spec.inputBytes);
  expect(imported.layers.map((l) => l.name)).toEqual(spec.layers.map((l) => l.name));
  imported.layers.forEach((l, i) => {
    const want = spec.layers[i]!;
    expect(Math.abs(l.flops - want.flops) / want.flops, `${l.name} flops`).toBeLessThanOrEqual(0.01);
    expect(l.outputBytes, `${l.name} outputBytes`).toBe(want.outputBytes);
    expect(l.memoryMiB, `${l.name} memoryMiB`).toBe(want.memoryMiB);
    expect(l.tensor).toBeTruthy();
  });
}

describe("reference models against deploy/examples", () => {
  // Shape-only builds: the same graphs with every initializer's data "outside the file", so VGG-16
  // (528 MiB of weights) imports in milliseconds. The next test shows they import exactly as the
  // complete files do.
  for (const name of Object.keys(MODELS) as ReferenceModel[]) {
    it(`${name}: the imported layer table is the example's`, () => {
      const imported = importOnnxModel(MODELS[name]({ weights: "none" }), { allowExternalData: true });
      expectTable(imported, example(name));
    });
  }

  it("complete files (seeded random weights) import exactly as the shape-only builds", () => {
    for (const name of ["resnet18", "mobilenetv2"] as const) {
      const full = importOnnxModel(MODELS[name]({ seed: 7 }));
      const shapesOnly = importOnnxModel(MODELS[name]({ seed: 7, weights: "none" }), { allowExternalData: true });
      expect(full.layers).toEqual(shapesOnly.layers);
      expect(full.cuts).toEqual(shapesOnly.cuts);
      expect(full.inputBytes).toBe(shapesOnly.inputBytes);
      expect(full.docString).toMatch(/SEEDED RANDOM/);
      expect(full.metadata).toMatchObject({ trainedWeights: "false", seed: "7", weights: "seeded-random" });
    }
  });

  it("exit heads attach at the examples' positions with the examples' head figures", () => {
    const bases = new Map<ReferenceModel, Uint8Array>();
    for (const e of EXITS) {
      const base = bases.get(e.model) ?? MODELS[e.model]({ weights: "none" });
      bases.set(e.model, base);
      const head = exitHead(`${e.model}-exit${e.afterLayer}`, e.shape, { weights: "none" });
      const attached = attachExitHead(base, head, { afterLayer: e.afterLayer, allowExternalData: true });
      const want = example(e.model).exits!.find((x) => x.afterLayer === e.afterLayer)!;
      expect(attached.shape).toEqual([1, ...e.shape]);
      expect(attached.head).toEqual({ flops: want.head!.flops, outputBytes: want.head!.outputBytes, memoryMiB: want.head!.memoryMiB });
    }
  });

  it("an exit head that does not fit the cut tensor is refused with both shapes", () => {
    const base = MODELS.resnet18({ weights: "none" });
    const head = exitHead("wrong", [128, 28, 28], { weights: "none" });
    expect(() => attachExitHead(base, head, { afterLayer: 3, allowExternalData: true })).toThrow(
      /exit head: .*\[1,128,28,28\].*\[1,64,56,56\] after layer 3 \(layer1\.1\)/,
    );
    expect(() => attachExitHead(base, head, { afterLayer: 10, allowExternalData: true })).toThrow(/afterLayer 10 must be between 1 and 9/);
  });

  it("the same seed gives the same bytes, another seed other weights", () => {
    const a = MODELS.mobilenetv2({ seed: 3 });
    expect(Buffer.from(MODELS.mobilenetv2({ seed: 3 })).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(MODELS.mobilenetv2({ seed: 4 })).equals(Buffer.from(a))).toBe(false);
  });
});
