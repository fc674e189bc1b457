import { describe, expect, it } from "vitest";
import { importOnnxModel } from "@eiaas/onnx";
import { tinyCnnOnnx } from "@eiaas/testing";
import { OnnxSkeleton, SkeletonError } from "./onnx-skeleton.js";

function skeleton(bytes: Uint8Array, chunk: number): Uint8Array {
  const s = new OnnxSkeleton();
  for (let i = 0; i < bytes.length; i += chunk) s.update(bytes.subarray(i, i + chunk));
  return s.finish();
}

describe("ONNX skeleton (a model without its weights)", () => {
  it("imports to the same layers and cut tensors as the whole file, however the bytes arrive, at a fraction of the size", () => {
    const whole = tinyCnnOnnx({ seed: 1, classes: 5000 });
    const expected = importOnnxModel(whole);
    for (const chunk of [1, 7, 4096, whole.length]) {
      const bones = skeleton(whole, chunk);
      expect(bones.length).toBeLessThan(whole.length / 1000);
      const got = importOnnxModel(bones, { allowExternalData: true });
      expect(got.layers).toEqual(expected.layers);
      expect(got.cuts).toEqual(expected.cuts);
      // Without allowExternalData it is recognisably not a servable file.
      expect(() => importOnnxModel(bones)).toThrow(/stores its data outside the file/);
    }
  });

  it("refuses bytes that are not protobuf or end inside a field", () => {
    const whole = tinyCnnOnnx({ seed: 2 });
    expect(() => skeleton(whole.subarray(0, whole.length - 3), 64)).toThrow(SkeletonError);
    expect(() => skeleton(new Uint8Array([0x0f, 0x01]), 1)).toThrow(/wire type 7/);
    expect(() => skeleton(new Uint8Array([0x3a, 0x7f, 0x00]), 1)).toThrow(SkeletonError);
  });
});
