import { describe, expect, it } from "vitest";
import { GraphBuilder } from "@eiaas/onnx";
import { ExitHeadCheck, ExitHeadMismatch, type CutTensor } from "./exit-check.js";
import { OnnxCheckError } from "./onnx-check.js";

const cut: CutTensor = { afterLayer: 2, tensor: "flat", shape: [1, 256], bytes: 1024, baseSha256: "0".repeat(64) };

function head(inputs: number): Uint8Array {
  const g = new GraphBuilder("exit", { seed: 4 });
  return g.build(g.linear("exit/fc", g.input("features", [1, inputs]), inputs, 10), [1, 10]);
}

/** Feeds `bytes` through a check in chunks; what it threw, if anything. */
function check(bytes: Uint8Array, chunk = 512): unknown {
  const c = new ExitHeadCheck(cut);
  try {
    for (let i = 0; i < bytes.length; i += chunk) c.update(bytes.subarray(i, i + chunk));
    c.finish();
    return undefined;
  } catch (err) {
    return err;
  }
}

/** Deterministic numbers in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("exit head check", () => {
  it("takes a head that reads the cut tensor, and refuses one of another shape naming both", () => {
    expect(check(head(256))).toBeUndefined();
    const refused = check(head(128));
    expect(refused).toBeInstanceOf(ExitHeadMismatch);
    expect((refused as Error).message).toMatch(/does not read the cut tensor "flat" of shape \[1,256\] after layer 2 \(spec\.layers\[1\]\.tensor\): .*\[1,128\]/);
  });

  it("answers any damaged head with the upload's own refusals, never another error (a 500)", () => {
    const good = head(256);
    const random = seeded(20);
    for (let n = 0; n < 300; n++) {
      const bytes = Uint8Array.from(good);
      for (let k = 1 + Math.floor(random() * 4); k > 0; k--) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const cutAt = random() < 0.2 ? Math.floor(random() * bytes.length) : bytes.length;
      const err = check(bytes.subarray(0, cutAt), 1 + Math.floor(random() * 700));
      if (err !== undefined) expect(err instanceof OnnxCheckError || err instanceof ExitHeadMismatch, String(err)).toBe(true);
    }
  });
});
