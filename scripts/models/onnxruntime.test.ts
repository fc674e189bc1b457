// onnxruntime loads the generated models and every extracted segment, and running the segments in
// sequence gives the whole model's output.
import ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { extractSegment, importOnnxModel, parseOnnx } from "@eiaas/onnx";
import { EXITS, MODELS, exitHead } from "./reference.js";

type Tensor = ort.Tensor;

async function run(bytes: Uint8Array, input: Tensor): Promise<Tensor> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    expect(session.inputNames).toHaveLength(1);
    const out = await session.run({ [session.inputNames[0]!]: input });
    return out[session.outputNames[0]!]!;
  } finally {
    await session.release();
  }
}

function seededInput(shape: number[]): Tensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) * 2;
  return new ort.Tensor("float32", data, shape);
}

/** Largest absolute difference, relative to the largest magnitude of `want`. */
function relativeError(got: Tensor, want: Tensor): number {
  const a = got.data as Float32Array;
  const b = want.data as Float32Array;
  expect(a.length).toBe(b.length);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  expect(Number.isFinite(diff) && scale > 0).toBe(true);
  return diff / scale;
}

describe.each(["resnet18", "mobilenetv2"] as const)("%s in onnxruntime", (name) => {
  const bytes = MODELS[name]({ seed: 11 });
  const imported = importOnnxModel(bytes);
  const input = seededInput(imported.inputShape);

  it("runs layer by layer, each layer a standalone segment, to the whole model's output", async () => {
    const whole = await run(bytes, input);
    expect(whole.dims).toEqual([1, 1000]);
    let x = input;
    for (let l = 1; l <= imported.layers.length; l++) {
      const segment = extractSegment(bytes, { fromLayer: l, toLayer: l });
      // The segment alone imports as exactly this layer: its nodes and only its parameters.
      expect(importOnnxModel(segment).layers).toEqual([imported.layers[l - 1]]);
      x = await run(segment, x);
      expect(x.size * 4).toBe(imported.layers[l - 1]!.outputBytes);
    }
    expect(relativeError(x, whole)).toBeLessThan(1e-4);
  });

  it("a split at a cut tensor: head and tail give the whole model's output", async () => {
    const whole = await run(bytes, input);
    const cut = imported.layers[4]!.tensor!;
    const head = extractSegment(bytes, { outputTensor: cut });
    const tail = extractSegment(bytes, { inputTensor: cut });
    expect(parseOnnx(head).proto.graph!.output![0]!.name).toBe(cut);
    expect(parseOnnx(tail).proto.graph!.input![0]!.name).toBe(cut);
    expect(head.byteLength + tail.byteLength).toBeLessThan(bytes.byteLength + 64 * 1024);
    expect(relativeError(await run(tail, await run(head, input)), whole)).toBeLessThan(1e-4);
    expect(() => extractSegment(bytes, { inputTensor: cut, outputTensor: imported.layers[1]!.tensor! })).toThrow(/does not come after/);
    expect(() => extractSegment(bytes, { outputTensor: "no-such-tensor" })).toThrow(/not a cut tensor/);
    expect(() => extractSegment(bytes, { fromLayer: 0, toLayer: 2 })).toThrow(/not a range/);
  });

  it("the exit heads run on the cut tensor after their layer", async () => {
    for (const e of EXITS.filter((x) => x.model === name)) {
      const features = await run(extractSegment(bytes, { fromLayer: 1, toLayer: e.afterLayer }), input);
      expect(features.dims).toEqual([1, ...e.shape]);
      const logits = await run(exitHead(`${name}-exit`, e.shape, { seed: 11 }), features);
      expect(logits.dims).toEqual([1, 1000]);
    }
  });
});
