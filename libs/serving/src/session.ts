import ort from "onnxruntime-node";
import { ServingError, type Tensor } from "./wire.js";

/** An input or output of a model: its name and dims (a string or -1 for a dim the graph leaves open). */
export interface ModelValue {
  name: string;
  dims: Array<number | string>;
}

export interface SegmentModelOptions {
  /** onnxruntime's intra-op threads (one run's parallelism). @defaultValue 1 */
  threads?: number;
  /** What the bytes are, for error messages ("segment", "exit head"). */
  what?: string;
}

/** A dim the graph fixes (a positive number), or undefined when it is open. */
function fixedDim(d: number | string): number | undefined {
  return typeof d === "number" && d > 0 ? d : undefined;
}

function describeValue(v: ModelValue): string {
  return `${v.name} [${v.dims.join(",")}]`;
}

/**
 * One ONNX model (a segment of the chain, or an exit head) in an onnxruntime CPU session: one float32
 * input, one float32 output. Inputs are checked against the graph's declared shape before a run, so
 * a wrong shape is a 400 naming the dims rather than an error from inside the runtime.
 */
export class SegmentModel {
  private released = false;
  /** Runs in flight: the session is released only once they are over (freeing it under a run would crash). */
  private running = 0;
  private idle?: () => void;
  /** Runs started so far (the serving metrics; tests count them). */
  runs = 0;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly input: ModelValue,
    readonly output: ModelValue,
  ) {}

  static async load(bytes: Uint8Array, options: SegmentModelOptions = {}): Promise<SegmentModel> {
    const what = options.what ?? "model";
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, {
        executionProviders: ["cpu"],
        intraOpNumThreads: Math.max(1, Math.floor(options.threads ?? 1)),
        // Segments are chains: nothing runs in parallel between nodes, so no inter-op pool.
        interOpNumThreads: 1,
        executionMode: "sequential",
        graphOptimizationLevel: "all",
      });
    } catch (err) {
      throw new Error(`cannot load the ${what}: ${(err as Error).message.split("\n")[0]}`);
    }
    try {
      const value = (list: readonly ort.InferenceSession.ValueMetadata[], kind: string): ModelValue => {
        if (list.length !== 1) throw new Error(`the ${what} has ${list.length} ${kind}s; a segment has exactly one`);
        const m = list[0]!;
        if (!m.isTensor || m.type !== "float32") throw new Error(`the ${what}'s ${kind} ${m.name} is not a float32 tensor`);
        return { name: m.name, dims: [...m.shape] };
      };
      return new SegmentModel(session, value(session.inputMetadata, "input"), value(session.outputMetadata, "output"));
    } catch (err) {
      await session.release();
      throw err;
    }
  }

  /** Elements of one input when every dim is fixed; undefined when some dim is open. */
  get inputElements(): number | undefined {
    let n = 1;
    for (const d of this.input.dims) {
      const f = fixedDim(d);
      if (f === undefined) return undefined;
      n *= f;
    }
    return n;
  }

  /** 400 unless `shape` has the input's rank and every fixed dim. */
  checkInput(shape: readonly number[]): void {
    const dims = this.input.dims;
    const fits = shape.length === dims.length && dims.every((d, i) => fixedDim(d) === undefined || fixedDim(d) === shape[i]);
    if (!fits) throw new ServingError(400, `shape [${shape.join(",")}] does not fit the model's input ${describeValue(this.input)}`);
  }

  /** Whether this model's output can be `next`'s input (same rank, no fixed dim differs). */
  feeds(next: SegmentModel): boolean {
    const a = this.output.dims;
    const b = next.input.dims;
    return a.length === b.length && a.every((d, i) => fixedDim(d) === undefined || fixedDim(b[i]!) === undefined || fixedDim(d) === fixedDim(b[i]!));
  }

  describe(): string {
    return `${describeValue(this.input)} → ${describeValue(this.output)}`;
  }

  async run(t: Tensor): Promise<Tensor> {
    if (this.released) throw new ServingError(503, "the server is stopping");
    this.running++;
    this.runs++;
    try {
      const results = await this.session.run({ [this.input.name]: new ort.Tensor("float32", t.data, t.shape) });
      const out = results[this.output.name]!;
      return { shape: out.dims.map(Number), data: out.data as Float32Array };
    } finally {
      if (--this.running === 0) this.idle?.();
    }
  }

  /** Refuses further runs, waits for those in flight, then frees the session's memory. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.session.release();
  }
}
