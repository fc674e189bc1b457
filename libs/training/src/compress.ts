/**
 * Update compression (the survey's gradient compression) with error feedback: what a round's
 * encoding leaves out is kept by the participant (`residual`) and added to its next update, so
 * nothing is lost for good, only delayed (Stich et al., 2018; Karimireddy et al., 2019).
 *
 * Wire format of an update: byte 0 the encoding (0 dense float32, 1 top-k, 2 int8), bytes 1-4 the
 * vector's length (uint32 LE), then
 * - dense: length × float32;
 * - top-k: k (uint32), k indices (uint16 when length ≤ 65,536, else uint32), k × float32 values;
 * - int8: scale (float32), length × int8 (value = q · scale).
 */

export type Compression = { type: "none" } | { type: "topk"; ratio: number } | { type: "int8" };

const DENSE = 0;
const TOPK = 1;
const INT8 = 2;
const HEADER = 5;

export class CompressionError extends Error {
  override readonly name = "CompressionError";
}

/**
 * Encodes `delta` (+ `residual`, when given: error feedback) and updates `residual` in place to
 * what the encoding dropped. Returns the bytes that go on the wire.
 */
export function encodeUpdate(delta: Float64Array, compression: Compression, residual?: Float64Array): Uint8Array {
  const n = delta.length;
  const e = Float64Array.from(delta);
  if (residual) for (let i = 0; i < n; i++) e[i] = e[i]! + residual[i]!;
  let out: Uint8Array;
  let sent: Float64Array;
  if (compression.type === "topk") ({ out, sent } = encodeTopK(e, compression.ratio));
  else if (compression.type === "int8") ({ out, sent } = encodeInt8(e));
  else ({ out, sent } = encodeDense(e));
  if (residual) for (let i = 0; i < n; i++) residual[i] = e[i]! - sent[i]!;
  return out;
}

function header(kind: number, n: number, bytes: number): { out: Uint8Array; view: DataView } {
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  view.setUint8(0, kind);
  view.setUint32(1, n, true);
  return { out, view };
}

function encodeDense(e: Float64Array): { out: Uint8Array; sent: Float64Array } {
  const n = e.length;
  const { out, view } = header(DENSE, n, HEADER + 4 * n);
  const sent = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    view.setFloat32(HEADER + 4 * i, e[i]!, true);
    sent[i] = view.getFloat32(HEADER + 4 * i, true);
  }
  return { out, sent };
}

function encodeTopK(e: Float64Array, ratio: number): { out: Uint8Array; sent: Float64Array } {
  const n = e.length;
  const k = Math.min(n, Math.max(1, Math.ceil(ratio * n)));
  // The k largest magnitudes: sort indices by |e| (n is a model's size: thousands, not millions).
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => Math.abs(e[b]!) - Math.abs(e[a]!) || a - b);
  const chosen = order.slice(0, k).sort((a, b) => a - b);
  const wide = n > 65_536;
  const idxBytes = wide ? 4 : 2;
  const { out, view } = header(TOPK, n, HEADER + 4 + k * (idxBytes + 4));
  view.setUint32(HEADER, k, true);
  const valuesAt = HEADER + 4 + k * idxBytes;
  const sent = new Float64Array(n);
  chosen.forEach((index, j) => {
    if (wide) view.setUint32(HEADER + 4 + 4 * j, index, true);
    else view.setUint16(HEADER + 4 + 2 * j, index, true);
    view.setFloat32(valuesAt + 4 * j, e[index]!, true);
    sent[index] = view.getFloat32(valuesAt + 4 * j, true);
  });
  return { out, sent };
}

function encodeInt8(e: Float64Array): { out: Uint8Array; sent: Float64Array } {
  const n = e.length;
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(e[i]!));
  const { out, view } = header(INT8, n, HEADER + 4 + n);
  view.setFloat32(HEADER, max / 127, true);
  const scale = view.getFloat32(HEADER, true);
  const sent = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const q = scale > 0 ? Math.max(-127, Math.min(127, Math.round(e[i]! / scale))) : 0;
    view.setInt8(HEADER + 4 + i, q);
    sent[i] = q * scale;
  }
  return { out, sent };
}

/**
 * Decodes an update of `expected` values. Everything is checked against the buffer's length, so
 * a hostile or truncated body is a CompressionError, never an out-of-range read or a huge
 * allocation.
 */
export function decodeUpdate(bytes: Uint8Array, expected: number): Float64Array {
  if (bytes.length < HEADER) throw new CompressionError("update shorter than its header");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = view.getUint8(0);
  const n = view.getUint32(1, true);
  if (n !== expected) throw new CompressionError(`update has ${n} values, the model ${expected}`);
  const out = new Float64Array(n);
  if (kind === DENSE) {
    if (bytes.length !== HEADER + 4 * n) throw new CompressionError("dense update of the wrong length");
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(HEADER + 4 * i, true);
  } else if (kind === TOPK) {
    if (bytes.length < HEADER + 4) throw new CompressionError("top-k update without its count");
    const k = view.getUint32(HEADER, true);
    const wide = n > 65_536;
    const idxBytes = wide ? 4 : 2;
    if (k > n || bytes.length !== HEADER + 4 + k * (idxBytes + 4)) throw new CompressionError("top-k update of the wrong length");
    const valuesAt = HEADER + 4 + k * idxBytes;
    for (let j = 0; j < k; j++) {
      const index = wide ? view.getUint32(HEADER + 4 + 4 * j, true) : view.getUint16(HEADER + 4 + 2 * j, true);
      if (index >= n) throw new CompressionError(`top-k index ${index} out of range`);
      out[index] = view.getFloat32(valuesAt + 4 * j, true);
    }
  } else if (kind === INT8) {
    if (bytes.length !== HEADER + 4 + n) throw new CompressionError("int8 update of the wrong length");
    const scale = view.getFloat32(HEADER, true);
    for (let i = 0; i < n; i++) out[i] = view.getInt8(HEADER + 4 + i) * scale;
  } else throw new CompressionError(`unknown update encoding ${kind}`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(out[i]!)) throw new CompressionError("update holds a value that is not finite");
  return out;
}

/** A dense float32 vector (global models, gradients for δ) in the dense update format. */
export function encodeDense32(v: Float64Array): Uint8Array {
  return encodeDense(v).out;
}
