/**
 * An ONNX model without its weights, built while its bytes stream by: the same protobuf with every
 * large tensor payload (raw_data, float_data, … over KEEP_PAYLOAD_BYTES) left out and the tensor
 * marked as stored outside the file (data_location EXTERNAL), so `@eiaas/onnx` infers its shapes
 * from the dimensions alone (`allowExternalData`). A model of hundreds of MB becomes a skeleton of
 * a few KB to MB: the API server checks graphs (an exit head against its base graph's cut tensor)
 * without holding their weights. Small payloads stay: a Reshape's target shape is a value.
 */

/** Payloads up to this many bytes are kept (shape constants, small biases). */
const KEEP_PAYLOAD_BYTES = 1024;
/** Largest skeleton: a graph whose structure alone is larger is refused. */
const MAX_SKELETON_BYTES = 16 * 1024 * 1024;

type Kind = "Model" | "Graph" | "Node" | "Attribute" | "Tensor" | "SparseTensor";

/** Per message kind, the fields that are messages walked into (the ones that may hold tensors). */
const CHILDREN: Record<Kind, ReadonlyMap<number, Kind>> = {
  Model: new Map([[7, "Graph"]]),
  // node, initializer, sparse_initializer
  Graph: new Map<number, Kind>([
    [1, "Node"],
    [5, "Tensor"],
    [15, "SparseTensor"],
  ]),
  Node: new Map([[5, "Attribute"]]),
  // t, g, tensors, graphs, sparse_tensor, sparse_tensors
  Attribute: new Map<number, Kind>([
    [5, "Tensor"],
    [6, "Graph"],
    [10, "Tensor"],
    [11, "Graph"],
    [22, "SparseTensor"],
    [23, "SparseTensor"],
  ]),
  Tensor: new Map(),
  // values, indices
  SparseTensor: new Map([
    [1, "Tensor"],
    [2, "Tensor"],
  ]),
};
/** TensorProto's payload fields: float_data, int32_data, string_data, int64_data, raw_data, double_data, uint64_data. */
const PAYLOAD_FIELDS = new Set([4, 5, 6, 7, 9, 10, 11]);
/** TensorProto.data_location = EXTERNAL. */
const EXTERNAL_MARK = Buffer.from([(14 << 3) | 0, 1]);

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return Buffer.from(out);
}

interface Frame {
  kind: Kind;
  /** Field number of this message in its parent. */
  field: number;
  /** Absolute offset where it ends in the input. */
  end: number;
  out: Buffer[];
  size: number;
  stripped: boolean;
}

type State = { kind: "tag" } | { kind: "varint"; field: number; raw: number[] } | { kind: "length"; field: number } | { kind: "copy"; remaining: number } | { kind: "skip"; remaining: number };

/** Why bytes cannot be made a skeleton (not protobuf, or a structure too large). */
export class SkeletonError extends Error {
  override readonly name = "SkeletonError";
}

/** Feed every chunk to `update`, then `finish()` answers the skeleton's bytes. */
export class OnnxSkeleton {
  private pos = 0;
  private total = 0;
  private readonly stack: Frame[] = [{ kind: "Model", field: 0, end: Infinity, out: [], size: 0, stripped: false }];
  private state: State = { kind: "tag" };
  private tag = 0;
  private tagBytes = 0;

  update(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      const s = this.state;
      if (s.kind === "copy" || s.kind === "skip") {
        const n = Math.min(s.remaining, chunk.length - i);
        if (s.kind === "copy") this.emit(Buffer.from(chunk.subarray(i, i + n)));
        i += n;
        this.pos += n;
        s.remaining -= n;
        if (s.remaining === 0) this.fieldDone();
        continue;
      }
      const byte = chunk[i++]!;
      this.pos++;
      if (s.kind === "varint") s.raw.push(byte);
      if (this.tagBytes === 10) throw new SkeletonError(`not protobuf: a varint longer than 10 bytes at byte ${this.pos}`);
      this.tag += (byte & 0x7f) * 2 ** (7 * this.tagBytes++);
      if (byte & 0x80) continue;
      const value = this.tag;
      this.tag = 0;
      this.tagBytes = 0;
      this.onVarint(value);
    }
  }

  finish(): Uint8Array {
    if (this.state.kind !== "tag" || this.tagBytes > 0 || this.stack.length > 1) throw new SkeletonError(`the file ends inside a field (truncated after ${this.pos} bytes?)`);
    const top = this.stack[0]!;
    return Buffer.concat(top.out, top.size);
  }

  private get top(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  private emit(b: Buffer): void {
    this.total += b.length;
    if (this.total > MAX_SKELETON_BYTES) throw new SkeletonError(`the graph without its weights is larger than ${MAX_SKELETON_BYTES / 2 ** 20} MiB`);
    this.top.out.push(b);
    this.top.size += b.length;
  }

  private onVarint(value: number): void {
    const s = this.state;
    if (s.kind === "varint") {
      this.emit(Buffer.concat([varint(s.field * 8 + VARINT), Buffer.from(s.raw)]));
      return this.fieldDone();
    }
    if (s.kind === "length") return this.onLength(s.field, value);
    const field = Math.floor(value / 8);
    const wire = value % 8;
    if (field === 0) throw new SkeletonError(`not protobuf: field number 0 at byte ${this.pos}`);
    if (wire === VARINT) this.state = { kind: "varint", field, raw: [] };
    else if (wire === LEN) this.state = { kind: "length", field };
    else if (wire === I64 || wire === I32) {
      this.emit(varint(value));
      this.state = { kind: "copy", remaining: wire === I64 ? 8 : 4 };
    } else throw new SkeletonError(`not protobuf: wire type ${wire} at byte ${this.pos}`);
  }

  private onLength(field: number, length: number): void {
    if (this.pos + length > this.top.end) throw new SkeletonError(`not protobuf: field ${field} runs past its message at byte ${this.pos}`);
    const child = CHILDREN[this.top.kind].get(field);
    if (child) {
      this.stack.push({ kind: child, field, end: this.pos + length, out: [], size: 0, stripped: false });
      this.state = { kind: "tag" };
      if (length === 0) this.fieldDone();
      return;
    }
    if (this.top.kind === "Tensor" && PAYLOAD_FIELDS.has(field) && length > KEEP_PAYLOAD_BYTES) {
      this.top.stripped = true;
      this.state = { kind: "skip", remaining: length };
      return;
    }
    this.emit(Buffer.concat([varint(field * 8 + LEN), varint(length)]));
    this.state = { kind: "copy", remaining: length };
    if (length === 0) this.fieldDone();
  }

  /** A field ended: back to tags, closing every message that ends here into its parent. */
  private fieldDone(): void {
    this.state = { kind: "tag" };
    while (this.stack.length > 1 && this.pos === this.top.end) {
      const frame = this.stack.pop()!;
      if (frame.stripped) {
        frame.out.push(EXTERNAL_MARK);
        frame.size += EXTERNAL_MARK.length;
      }
      this.top.out.push(varint(frame.field * 8 + LEN), varint(frame.size), ...frame.out);
      this.top.size += varint(frame.field * 8 + LEN).length + varint(frame.size).length + frame.size;
    }
  }
}

/** The skeleton of a whole stream (a stored artifact). */
export async function skeletonOf(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const s = new OnnxSkeleton();
  for await (const chunk of stream) s.update(chunk);
  return s.finish();
}
