/**
 * A streaming check that bytes are an ONNX model (a protobuf `ModelProto`), fed chunk by chunk as
 * an upload arrives: the API server never holds a whole model (~100-550 MB) in memory to decode
 * it, so a tenant's concurrent uploads cannot exhaust it. It walks the protobuf wire format of the
 * whole file — every field's tag, wire type and length must be valid and nest exactly — and checks
 * what every ONNX model has: an `ir_version`, a `graph` with at least one node, and an `op_type`
 * on each node. Tensors (the weights) are skipped by length, not decoded. The full import (shapes,
 * operators, cut points) is `@eiaas/onnx`'s, run by eictl before the upload, and the agent cuts
 * its segment from the verified bytes.
 */

/** Why the bytes are not an ONNX model; `offset` is where the walk stopped. */
export class OnnxCheckError extends Error {
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(message);
    this.name = "OnnxCheckError";
  }
}

type MessageName = "ModelProto" | "GraphProto" | "NodeProto";

/** Per message: the fields walked into (field number → message) and the ones that must be present. */
interface MessageShape {
  children: ReadonlyMap<number, MessageName>;
  /** Field number → [name, wire type]: must appear (at least once) with this wire type. */
  required: ReadonlyMap<number, [string, number]>;
  /** Fields whose wire type is fixed even when optional (a mismatch is not ONNX). */
  wireTypes: ReadonlyMap<number, number>;
}

const VARINT = 0;
const I64 = 1;
const LEN = 2;
const I32 = 5;

const SHAPES: Record<MessageName, MessageShape> = {
  ModelProto: {
    children: new Map([[7, "GraphProto"]]),
    required: new Map([
      [1, ["ir_version", VARINT]],
      [7, ["graph", LEN]],
    ]),
    // producer_name, producer_version, domain, model_version, doc_string, opset_import, metadata_props
    wireTypes: new Map([
      [2, LEN],
      [3, LEN],
      [4, LEN],
      [5, VARINT],
      [6, LEN],
      [8, LEN],
      [14, LEN],
    ]),
  },
  GraphProto: {
    children: new Map([[1, "NodeProto"]]),
    required: new Map([[1, ["node", LEN]]]),
    // name, initializer, doc_string, input, output, value_info
    wireTypes: new Map([
      [2, LEN],
      [5, LEN],
      [10, LEN],
      [11, LEN],
      [12, LEN],
      [13, LEN],
    ]),
  },
  NodeProto: {
    children: new Map(),
    required: new Map([[4, ["op_type", LEN]]]),
    // input, output, name, attribute, doc_string, domain
    wireTypes: new Map([
      [1, LEN],
      [2, LEN],
      [3, LEN],
      [5, LEN],
      [6, LEN],
      [7, LEN],
    ]),
  },
};

interface Frame {
  message: MessageName;
  /** Absolute offset where this message ends (Infinity for the top level: the end of the file). */
  end: number;
  seen: Set<number>;
  /** Offset where the message began (for messages). */
  start: number;
}

type State = { kind: "tag" } | { kind: "varint"; field: number } | { kind: "length"; field: number } | { kind: "skip"; remaining: number };

/** The walker: `update` with each chunk, `finish` at the end; both throw OnnxCheckError. */
export class OnnxStreamCheck {
  private pos = 0;
  private readonly stack: Frame[] = [{ message: "ModelProto", end: Infinity, seen: new Set(), start: 0 }];
  private state: State = { kind: "tag" };
  private varint = 0n;
  private varintBytes = 0;
  private nodes = 0;

  update(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.state.kind === "skip") {
        const n = Math.min(this.state.remaining, chunk.length - i);
        i += n;
        this.pos += n;
        this.state.remaining -= n;
        if (this.state.remaining === 0) this.fieldDone();
        continue;
      }
      const byte = chunk[i++]!;
      this.pos++;
      if (this.varintBytes === 10) this.fail("a varint longer than 10 bytes");
      this.varint |= BigInt(byte & 0x7f) << BigInt(7 * this.varintBytes++);
      if (byte & 0x80) continue;
      const value = this.varint;
      this.varint = 0n;
      this.varintBytes = 0;
      this.onVarint(value);
    }
  }

  finish(): void {
    if (this.pos === 0) throw new OnnxCheckError("the artifact is empty", 0);
    if (this.state.kind !== "tag" || this.varintBytes > 0 || this.stack.length > 1) {
      const open = this.stack[this.stack.length - 1]!;
      throw new OnnxCheckError(
        `the file ends inside ${this.stack.length > 1 ? `a ${open.message} that began at byte ${open.start} and needs ${open.end - open.start} bytes` : "a field"} (truncated after ${this.pos} bytes?)`,
        this.pos,
      );
    }
    this.closeMessage(this.stack[0]!);
    if (this.nodes === 0) throw new OnnxCheckError("the model's graph has no nodes", this.pos);
  }

  private fail(what: string): never {
    throw new OnnxCheckError(`not an ONNX model: ${what} at byte ${this.pos}`, this.pos);
  }

  private get top(): Frame {
    return this.stack[this.stack.length - 1]!;
  }

  private onVarint(value: bigint): void {
    const s = this.state;
    if (s.kind === "tag") {
      const field = Number(value >> 3n);
      const wire = Number(value & 7n);
      if (field === 0 || value >> 3n > 0x1fffffffn) this.fail(`invalid field number ${value >> 3n}`);
      const shape = SHAPES[this.top.message];
      const expected = shape.required.get(field)?.[1] ?? shape.wireTypes.get(field);
      if (expected !== undefined && expected !== wire) this.fail(`${this.top.message} field ${field} has wire type ${wire}, not ${expected}`);
      this.top.seen.add(field);
      switch (wire) {
        case VARINT:
          this.state = { kind: "varint", field };
          return;
        case I64:
          this.startSkip(8);
          return;
        case LEN:
          this.state = { kind: "length", field };
          return;
        case I32:
          this.startSkip(4);
          return;
        default:
          this.fail(`unsupported wire type ${wire} (field ${field})`);
      }
    }
    if (s.kind === "varint") {
      this.fieldDone();
      return;
    }
    if (s.kind === "length") {
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) this.fail("a length beyond any file");
      const length = Number(value);
      if (this.pos + length > this.top.end) this.fail(`field ${s.field} of ${this.top.message} runs ${this.pos + length - this.top.end} bytes past its message`);
      const child = SHAPES[this.top.message].children.get(s.field);
      if (child === "NodeProto" && length === 0) this.fail("a graph node with no op_type");
      if (child && length > 0) {
        if (child === "NodeProto") this.nodes++;
        this.stack.push({ message: child, end: this.pos + length, seen: new Set(), start: this.pos });
        this.state = { kind: "tag" };
        return;
      }
      if (this.top.message === "NodeProto" && s.field === 4 && length === 0) this.fail("a graph node with an empty op_type");
      this.startSkip(length);
    }
  }

  private startSkip(n: number): void {
    if (this.pos + n > this.top.end) this.fail(`a field runs past its ${this.top.message}`);
    if (n === 0) return this.fieldDone();
    this.state = { kind: "skip", remaining: n };
  }

  /** A field ended: back to reading tags, closing every message that ends here. */
  private fieldDone(): void {
    this.state = { kind: "tag" };
    if (this.pos > this.top.end) this.fail(`a field runs past its ${this.top.message}`);
    while (this.stack.length > 1 && this.pos === this.top.end) this.closeMessage(this.stack.pop()!);
  }

  private closeMessage(frame: Frame): void {
    for (const [field, [name]] of SHAPES[frame.message].required) {
      if (!frame.seen.has(field)) this.fail(`the ${frame.message} that began at byte ${frame.start} has no ${name}`);
    }
  }
}
