// Files a tenant could upload to hurt the importer: every one ends in an OnnxImportError (a 422 at
// the API), never in another exception, a hang or a crash.
import { describe, expect, it } from "vitest";
import { GraphBuilder, OnnxImportError, extractSegment, importOnnxModel, parseOnnx } from "./index.js";
import { encodeModel, type ModelProto } from "./proto.js";

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 127) {
    out.push((n & 127) | 128);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** ModelProto.graph → GraphProto.node → NodeProto.attribute → AttributeProto.g → GraphProto ... */
function deeplyNested(levels: number): Uint8Array {
  const tags = [0x0a, 0x2a, 0x32];
  const sizes: number[] = [];
  let size = 0;
  for (let i = 0; i < levels; i++) {
    sizes.push(size);
    size += 1 + varint(size).length;
  }
  const out = [0x3a, ...varint(size)];
  for (let i = levels - 1; i >= 0; i--) out.push(tags[(levels - 1 - i) % 3]!, ...varint(sizes[i]!));
  return new Uint8Array(out);
}

function model(nodes: ModelProto["graph"], irVersion = 8): Uint8Array {
  return encodeModel({ irVersion, opsetImport: [{ domain: "", version: 13 }], graph: nodes });
}

const floatInput = (name: string, dims: number[]) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });

function reason(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(OnnxImportError);
    expect((e as Error).message).not.toMatch(/\n/);
    return (e as OnnxImportError).reason;
  }
  throw new Error("expected a refusal");
}

describe("hostile ONNX files", () => {
  it("a protobuf nested 300,000 levels deep is refused, not a stack overflow", () => {
    expect(reason(() => parseOnnx(deeplyNested(300_000)))).toBe("InvalidOnnx");
  });

  it("dimensions past 2^53, absurd tensor sizes and ranks are refused", () => {
    const big = model({ node: [{ name: "r", opType: "Relu", input: ["x"], output: ["y"] }], input: [floatInput("x", [1, 2 ** 20, 2 ** 20])], output: [{ name: "y" }] });
    expect(reason(() => importOnnxModel(big))).toBe("ShapeMismatch");
    const huge = model({
      node: [{ name: "r", opType: "Relu", input: ["x"], output: ["y"] }],
      input: [{ name: "x", type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: "18014398509481984" as unknown as number }] } } } }],
      output: [{ name: "y" }],
    });
    expect(reason(() => importOnnxModel(huge))).toBe("InvalidOnnx");
    const ranked = model({ node: [{ name: "r", opType: "Relu", input: ["x"], output: ["y"] }], input: [floatInput("x", new Array(100_000).fill(1))], output: [{ name: "y" }] });
    expect(reason(() => importOnnxModel(ranked))).toBe("ShapeMismatch");
    const g = new GraphBuilder("ok");
    const y = g.relu("r", g.input("x", ["N", 3]));
    expect(reason(() => importOnnxModel(g.build(y, [1, 3]), { inputShape: "1x3" as unknown as number[] }))).toBe("ShapeMismatch");
    expect(reason(() => importOnnxModel(g.build(y, [1, 3]), { inputShape: [2 ** 30, 2 ** 30] }))).toBe("ShapeMismatch");
  });

  it("cycles, tensors produced twice, dangling reads and missing outputs are refused", () => {
    const relu = (name: string, input: string, output: string) => ({ name, opType: "Relu", input: [input], output: [output] });
    const cases = [
      { node: [relu("a", "b_out", "a_out"), relu("b", "a_out", "b_out")], input: [floatInput("x", [1])], output: [{ name: "a_out" }] },
      { node: [relu("a", "x", "t"), relu("b", "x", "t")], input: [floatInput("x", [1])], output: [{ name: "t" }] },
      { node: [relu("a", "nowhere", "t")], input: [floatInput("x", [1])], output: [{ name: "t" }] },
      { node: [relu("a", "x", "t")], input: [floatInput("x", [1])], output: [{ name: "elsewhere" }] },
      { node: [relu("a", "x", "t")], input: [floatInput("x", [1]), floatInput("x2", [1])], output: [{ name: "t" }] },
    ];
    for (const graph of cases) expect(reason(() => importOnnxModel(model(graph)))).toBe("InvalidOnnx");
    const ancient = model({ node: [relu("a", "x", "t")], input: [floatInput("x", [1])], output: [{ name: "t" }] }, 2);
    expect(reason(() => importOnnxModel(ancient))).toBe("InvalidOnnx");
  });

  it("nodes out of order are put in a topological order", () => {
    const relu = (name: string, input: string, output: string) => ({ name, opType: "Relu", input: [input], output: [output] });
    const bytes = model({ node: [relu("second", "t", "y"), relu("first", "x", "t")], input: [floatInput("x", [1, 4])], output: [{ name: "y" }] });
    const m = importOnnxModel(bytes, { coalesce: "none" });
    expect(m.layers.map((l) => l.tensor)).toEqual(["t", "y"]);
    expect(parseOnnx(extractSegment(bytes, { inputTensor: "t" })).proto.graph!.node!.map((n) => n.name)).toEqual(["second"]);
  });

  it("a megabyte-long node name with newlines makes a short one-line message", () => {
    const name = "evil\n".repeat(200_000);
    const bytes = model({ node: [{ name, opType: "NoSuchOp", input: ["x"], output: ["y"] }], input: [floatInput("x", [1])], output: [{ name: "y" }] });
    try {
      importOnnxModel(bytes);
      throw new Error("expected a refusal");
    } catch (e) {
      expect(e).toBeInstanceOf(OnnxImportError);
      const err = e as OnnxImportError;
      expect(err.message.length).toBeLessThanOrEqual(600);
      expect(err.message).not.toMatch(/\n/);
      expect(err.message).toMatch(/^unsupported operator NoSuchOp in node "evil/);
      expect(err.node!.name.length).toBeLessThanOrEqual(200);
    }
  });

  it("operators of other domains are refused by name", () => {
    const bytes = model({ node: [{ name: "q", opType: "QuickGelu", domain: "com.microsoft", input: ["x"], output: ["y"] }], input: [floatInput("x", [1])], output: [{ name: "y" }] });
    const e = (() => {
      try {
        importOnnxModel(bytes);
      } catch (err) {
        return err as OnnxImportError;
      }
    })();
    expect(e?.message).toBe('unsupported operator com.microsoft.QuickGelu in node "q" (QuickGelu)');
  });
});
