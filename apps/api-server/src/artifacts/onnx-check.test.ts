import { describe, expect, it } from "vitest";
import { tinyCnnOnnx } from "@eiaas/testing";
import { OnnxCheckError, OnnxStreamCheck } from "./onnx-check.js";

/** Feeds `bytes` to a fresh check in pieces of `size` bytes; answers the error it threw, if any. */
function check(bytes: Uint8Array, size = bytes.length): OnnxCheckError | undefined {
  const c = new OnnxStreamCheck();
  try {
    for (let i = 0; i < bytes.length; i += size) c.update(bytes.subarray(i, i + size));
    c.finish();
    return undefined;
  } catch (err) {
    if (err instanceof OnnxCheckError) return err;
    throw err;
  }
}

describe("OnnxStreamCheck", () => {
  const model = tinyCnnOnnx({ classes: 50 });

  it("accepts an ONNX model, however the bytes are split", () => {
    for (const size of [1, 2, 3, 7, 100, 4096, model.length]) expect(check(model, size), `pieces of ${size}`).toBeUndefined();
  });

  it("refuses every truncation of a model", () => {
    // Every cut ends inside some field or message (a cut at a field boundary of the top level
    // leaves the graph without its nodes or the model without its graph).
    for (let cut = 1; cut < model.length; cut += Math.max(1, Math.floor(model.length / 400))) {
      expect(check(model.subarray(0, cut)), `cut at ${cut}`).toBeInstanceOf(OnnxCheckError);
    }
    expect(check(model.subarray(0, model.length - 1))?.message).toMatch(/truncated|ends inside/);
  });

  it("refuses an empty body, text, and random bytes with a message", () => {
    expect(check(new Uint8Array())?.message).toBe("the artifact is empty");
    expect(check(new TextEncoder().encode("this is not a model"))?.message).toMatch(/not an ONNX model|ends inside/);
    let s = 7;
    const noise = Uint8Array.from({ length: 10_000 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    expect(check(noise)).toBeInstanceOf(OnnxCheckError);
  });

  it("refuses a protobuf that is not a model: no graph, or a graph without nodes", () => {
    // ir_version only.
    expect(check(Uint8Array.from([0x08, 0x08]))?.message).toMatch(/has no graph/);
    // ir_version and an empty graph.
    expect(check(Uint8Array.from([0x08, 0x08, 0x3a, 0x00]))?.message).toMatch(/no node|no nodes/);
  });
});
