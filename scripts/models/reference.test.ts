// The generated reference models import to the layer tables of deploy/examples/*.yaml.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { attachExitHead, importOnnxModel, type ImportedModel } from "@eiaas/onnx";
import { modelSpec, type ModelSpecInput } from "@eiaas/api";
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
      expect(attached.head).toMatchObject({ flops: want.head!.flops, outputBytes: want.head!.outputBytes, memoryMiB: want.head!.memoryMiB });
    }
  });

  it("splits each layer's flops by operator class: 1x1, depthwise, matrix multiply, the rest general", () => {
    const layers = (name: ReferenceModel) => importOnnxModel(MODELS[name]({ weights: "none" }), { allowExternalData: true }).layers;
    const byName = (name: ReferenceModel) => new Map(layers(name).map((l) => [l.name, l]));
    for (const name of Object.keys(MODELS) as ReferenceModel[]) {
      for (const l of layers(name)) {
        const f = l.flopsByOperator ?? {};
        expect((f.pointwise ?? 0) + (f.depthwise ?? 0) + (f.matmul ?? 0), `${name} ${l.name}`).toBeLessThanOrEqual(l.flops);
      }
    }
    // ResNet-18: 3x3 convolutions are general; a downsampling block's 1x1 shortcut (64→128 at 28x28) is pointwise; the classifier a matrix multiply.
    const resnet = byName("resnet18");
    expect(resnet.get("layer1.0")!.flopsByOperator).toBeUndefined();
    expect(resnet.get("layer2.0")!.flopsByOperator).toEqual({ pointwise: 2 * 128 * 64 * 28 * 28 });
    expect(resnet.get("avgpool_fc")!.flopsByOperator).toEqual({ matmul: 2 * 512 * 1000 });
    // MobileNetV2's inverted residual 2 (16→96 at 112x112, depthwise 96 stride 2, 96→24 at 56x56): all but nothing general.
    const mobilenet = byName("mobilenetv2");
    const block2 = mobilenet.get("block2")!;
    expect(block2.flopsByOperator).toEqual({ pointwise: 2 * 16 * 96 * 112 * 112 + 2 * 96 * 24 * 56 * 56, depthwise: 2 * 96 * 9 * 56 * 56 });
    expect(block2.flops).toBe(block2.flopsByOperator!.pointwise! + block2.flopsByOperator!.depthwise!);
    // AlexNet's grouped convolutions (2 groups of many channels) are general, not depthwise; its fully connected layers are matrix multiplies.
    const alexnet = byName("alexnet");
    expect(alexnet.get("conv2")!.flopsByOperator).toBeUndefined();
    for (const fc of ["fc6", "fc7", "fc8"]) expect(alexnet.get(fc)!.flopsByOperator).toEqual({ matmul: alexnet.get(fc)!.flops });
  });

  it("counts LRN's work outside flops (AlexNet's norm1 and norm2: 2 x size x elements), and nothing for models without LRN", () => {
    const layers = (name: ReferenceModel) => importOnnxModel(MODELS[name]({ weights: "none" }), { allowExternalData: true }).layers;
    const alexnet = new Map(layers("alexnet").map((l) => [l.name, l]));
    // norm1 runs on conv1's output (96x55x55) before pool1, norm2 on conv2's (256x27x27) before pool2.
    expect(alexnet.get("conv1")!.elementOps).toEqual({ lrn: 2 * 5 * 96 * 55 * 55 });
    expect(alexnet.get("conv2")!.elementOps).toEqual({ lrn: 2 * 5 * 256 * 27 * 27 });
    for (const name of ["conv3", "conv4", "conv5", "fc6"]) expect(alexnet.get(name)!.elementOps, name).toBeUndefined();
    for (const name of ["resnet18", "mobilenetv2", "vgg16"] as const) expect(layers(name).filter((l) => l.elementOps).map((l) => l.name), name).toEqual([]);
  });

  it("an exit head that does not fit the cut tensor is refused with both shapes", () => {
    const base = MODELS.resnet18({ weights: "none" });
    const head = exitHead("wrong", [128, 28, 28], { weights: "none" });
    expect(() => attachExitHead(base, head, { afterLayer: 3, allowExternalData: true })).toThrow(
      /exit head: .*\[1,128,28,28\].*\[1,64,56,56\] after layer 3 \(layer1\.1\)/,
    );
    expect(() => attachExitHead(base, head, { afterLayer: 10, allowExternalData: true })).toThrow(/afterLayer 10 must be between 1 and 9/);
  });

  it("an import makes a valid Model spec, cut tensors included", () => {
    const imported = importOnnxModel(MODELS.resnet18({ weights: "none" }), { allowExternalData: true });
    const spec = modelSpec.parse({ inputBytes: imported.inputBytes, accuracy: 0.698, layers: imported.layers });
    expect(spec.layers.map((l) => l.tensor)).toEqual(imported.layers.map((l) => l.tensor));
    expect(spec.layers[0]!.tensor).toBe("/stem/maxpool/MaxPool_output_0");
    const withTensor = (tensor: string) => modelSpec.safeParse({ inputBytes: 1, accuracy: 0.5, layers: [{ name: "a", flops: 1, outputBytes: 1, tensor }] });
    expect(withTensor("").error?.issues[0]?.path).toEqual(["layers", 0, "tensor"]);
    expect(withTensor("t".repeat(257)).success).toBe(false);
  });

  it("the same seed gives the same bytes, another seed other weights", () => {
    const a = MODELS.mobilenetv2({ seed: 3 });
    expect(Buffer.from(MODELS.mobilenetv2({ seed: 3 })).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(MODELS.mobilenetv2({ seed: 4 })).equals(Buffer.from(a))).toBe(false);
  });
});
