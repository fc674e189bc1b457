// A small ONNX graph builder (the reference models, tests): torch-exporter style node names
// (`/layer1/layer1.0/conv1/Conv`), torchvision-style parameter names (`layer1.0.conv1.weight`) and
// weights drawn from a PRNG seeded per tensor, so the bytes depend only on the seed.
import type onnxProto from "onnx-proto";
import { encodeModel } from "./proto.js";

const FLOAT = 1;
const OPSET = 13;

/**
 * `random`: seeded random weights in the file (onnxruntime runs it). `none`: every initializer
 * keeps its dimensions but stores its data "outside the file" (ONNX external data, never written):
 * the same graph for import-only checks, without the bytes (VGG-16 would be 528 MiB).
 */
export type Weights = "random" | "none";

export interface BuildOptions {
  seed?: number;
  weights?: Weights;
}

/** mulberry32, seeded per tensor from the build's seed and the tensor's name. */
function prng(seed: number, name: string): () => number {
  let h = seed >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 2654435761) >>> 0;
  let a = h;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Conv {
  cin: number;
  cout: number;
  k: number;
  stride?: number;
  pad?: number;
  groups?: number;
  bias?: boolean;
}

/** Builds an opset-13 float32 ModelProto node by node. */
export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private inputInfo: onnxProto.onnx.IValueInfoProto | undefined;
  private readonly seed: number;
  private readonly weights: Weights;
  private externalOffset = 0;

  constructor(
    private readonly name: string,
    opts: BuildOptions = {},
  ) {
    this.seed = opts.seed ?? 1;
    this.weights = opts.weights ?? "random";
  }

  /** The model's input; a string dimension is symbolic (`"N"`: a dynamic batch). */
  input(name: string, shape: Array<number | string>): string {
    const dim = shape.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d }));
    this.inputInfo = { name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
    return name;
  }

  /** `layer1/layer1.0/conv1` → `layer1.0.conv1` (torchvision's parameter prefix). */
  private paramPrefix(path: string): string {
    const parts = path.split("/");
    return parts.filter((p, i) => !(parts[i + 1] ?? "").startsWith(`${p}.`)).join(".");
  }

  /** A float initializer filled by `fill(random)` (uniform [0,1) draws), or an external reference. */
  private param(name: string, dims: number[], fill: (u: () => number) => number): string {
    const count = dims.reduce((x, y) => x * y, 1);
    const t: onnxProto.onnx.ITensorProto = { name, dims, dataType: FLOAT };
    if (this.weights === "none") {
      t.dataLocation = 1;
      t.externalData = [
        { key: "location", value: `${this.name}.weights.bin` },
        { key: "offset", value: String(this.externalOffset) },
        { key: "length", value: String(count * 4) },
      ];
      this.externalOffset += count * 4;
    } else {
      const data = new Float32Array(count);
      const u = prng(this.seed, name);
      for (let i = 0; i < count; i++) data[i] = fill(u);
      t.rawData = new Uint8Array(data.buffer);
    }
    this.inits.push(t);
    return name;
  }

  /** A float initializer of uniform(-1, 1) numbers (tests: weights read through other nodes). */
  weight(name: string, dims: number[]): string {
    return this.param(name, dims, (u) => 2 * u() - 1);
  }

  /** A scalar Constant node (Clip bounds): a graph constant, not a parameter of the model. */
  private scalar(path: string, suffix: string, value: number): string {
    const name = `/${path}/Constant${suffix}`;
    const out = `${name}_output_0`;
    const t = { dims: [], dataType: FLOAT, rawData: new Uint8Array(new Float32Array([value]).buffer) };
    this.nodes.push({ name, opType: "Constant", input: [], output: [out], attribute: [{ name: "value", type: 4, t }] });
    return out;
  }

  /** Adds a node `/path/OpType` whose output is `/path/OpType_output_0` (any op, for tests too). */
  op(path: string, opType: string, inputs: string[], attrs: onnxProto.onnx.IAttributeProto[] = []): string {
    const name = path ? `/${path}/${opType}` : `/${opType}`;
    const out = `${name}_output_0`;
    this.nodes.push({ name, opType, input: inputs, output: [out], attribute: attrs });
    return out;
  }

  conv(path: string, x: string, c: Conv): string {
    const groups = c.groups ?? 1;
    const fanIn = (c.cin / groups) * c.k * c.k;
    const bound = Math.sqrt(6 / fanIn); // He-uniform: keeps activations in range through ReLUs
    const p = this.paramPrefix(path);
    const inputs = [x, this.param(`${p}.weight`, [c.cout, c.cin / groups, c.k, c.k], (u) => (2 * u() - 1) * bound)];
    if (c.bias) inputs.push(this.param(`${p}.bias`, [c.cout], (u) => (2 * u() - 1) * 0.01));
    const pad = c.pad ?? 0;
    const stride = c.stride ?? 1;
    return this.op(path, "Conv", inputs, [ints("kernel_shape", [c.k, c.k]), ints("strides", [stride, stride]), ints("pads", [pad, pad, pad, pad]), ints("dilations", [1, 1]), int("group", groups)]);
  }

  bn(path: string, x: string, channels: number): string {
    const p = this.paramPrefix(path);
    return this.op(
      path,
      "BatchNormalization",
      [
        x,
        this.param(`${p}.weight`, [channels], (u) => 0.8 + 0.4 * u()),
        this.param(`${p}.bias`, [channels], (u) => 0.2 * u() - 0.1),
        this.param(`${p}.running_mean`, [channels], (u) => 0.2 * u() - 0.1),
        this.param(`${p}.running_var`, [channels], (u) => 0.8 + 0.4 * u()),
      ],
      [float("epsilon", 1e-5)],
    );
  }

  relu(path: string, x: string): string {
    return this.op(path, "Relu", [x]);
  }

  relu6(path: string, x: string): string {
    return this.op(path, "Clip", [x, this.scalar(path, "", 0), this.scalar(path, "_1", 6)]);
  }

  maxPool(path: string, x: string, k: number, stride: number, pad = 0): string {
    return this.op(path, "MaxPool", [x], [ints("kernel_shape", [k, k]), ints("strides", [stride, stride]), ints("pads", [pad, pad, pad, pad])]);
  }

  lrn(path: string, x: string): string {
    // Caffe bvlc_alexnet: local_size 5, alpha 1e-4, beta 0.75 (k = 1).
    return this.op(path, "LRN", [x], [int("size", 5), float("alpha", 1e-4), float("beta", 0.75), float("bias", 1)]);
  }

  globalAvgPool(path: string, x: string): string {
    return this.op(path, "GlobalAveragePool", [x]);
  }

  flatten(path: string, x: string): string {
    return this.op(path, "Flatten", [x], [int("axis", 1)]);
  }

  dropout(path: string, x: string): string {
    return this.op(path, "Dropout", [x]);
  }

  add(path: string, a: string, b: string): string {
    return this.op(path, "Add", [a, b]);
  }

  /** torch.nn.Linear as Gemm(transB=1): weight [out, in], bias [out]. */
  linear(path: string, x: string, fin: number, fout: number): string {
    const bound = Math.sqrt(6 / fin);
    const p = this.paramPrefix(path);
    const w = this.param(`${p}.weight`, [fout, fin], (u) => (2 * u() - 1) * bound);
    const b = this.param(`${p}.bias`, [fout], (u) => (2 * u() - 1) * 0.01);
    return this.op(path, "Gemm", [x, w, b], [float("alpha", 1), float("beta", 1), int("transB", 1)]);
  }

  /** The ModelProto bytes with `output` as the graph's output (its shape declared when given). */
  build(output: string, outputShape?: number[], doc: { docString: string; metadata: Record<string, string> } = { docString: "", metadata: {} }): Uint8Array {
    if (!this.inputInfo) throw new Error("no input");
    const metadata = { ...doc.metadata, seed: String(this.seed), weights: this.weights === "random" ? "seeded-random" : "none (external data not written)" };
    return encodeModel({
      irVersion: 8,
      opsetImport: [{ domain: "", version: OPSET }],
      producerName: "eiaas models:reference",
      producerVersion: "1",
      docString: doc.docString,
      metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.inits,
        input: [this.inputInfo],
        output: [{ name: output, type: { tensorType: { elemType: FLOAT, ...(outputShape && { shape: { dim: outputShape.map((d) => ({ dimValue: d })) } }) } } }],
      },
    });
  }
}

const INTS = 7;
const INT = 2;
const FLOAT_ATTR = 1;
function ints(name: string, values: number[]): onnxProto.onnx.IAttributeProto {
  return { name, type: INTS, ints: values };
}
function int(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return { name, type: INT, i: value };
}
function float(name: string, value: number): onnxProto.onnx.IAttributeProto {
  return { name, type: FLOAT_ATTR, f: value };
}
