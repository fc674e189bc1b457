/**
 * Update compression (the survey's gradient compression) with error feedback: what a round's
 * encoding leaves out is kept by the participant (`residual`) and added to its next update, so
 * nothing is lost for good, only delayed (Stich et al., 2018; Karimireddy et al., 2019).
 *
 * Wire format of an update: byte 0 the encoding (0 dense float32, 1 top-k, 2 int8), bytes 1-4 the
 * vector's length (uint32 LE), then
 * - dense: length × float32;
 * - top-k: k (uint32), k indices (uint16 when length ≤ 65,536, else uint32), k × float32 values;
 * - int8: scale (float32), then the length values q ∈ [−127, 127] (value = q · scale), each
 *   zigzag-mapped to u ∈ [0, 254] and Rice-coded with parameter k (uint8, the one of 0..7 that
 *   gives the fewest bits for this update): u >> k in unary (that many 1 bits, then a 0), then
 *   the k low bits of u, most significant first, bits packed from each byte's high end, the last
 *   byte padded with zeros. An update's values cluster around 0 (roughly Laplacian), which a Rice
 *   code fits: about half a byte a value instead of one (QSGD's Elias coding, Alistarh et al.
 *   2017, does the same for its levels), and it is lossless — the 8-bit values are exactly what
 *   is decoded.
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

const INT8_CODE_AT = HEADER + 5; // after the scale (float32) and k (uint8)
const MAX_RICE_K = 7;
const MAX_ZIGZAG = 254;

function encodeInt8(e: Float64Array): { out: Uint8Array; sent: Float64Array } {
  const n = e.length;
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, Math.abs(e[i]!));
  const scale = Math.fround(max / 127);
  const sent = new Float64Array(n);
  const u = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const q = scale > 0 ? Math.max(-127, Math.min(127, Math.round(e[i]! / scale))) : 0;
    u[i] = q >= 0 ? 2 * q : -2 * q - 1;
    sent[i] = q * scale;
  }
  let k = 0;
  let bits = Infinity;
  for (let c = 0; c <= MAX_RICE_K; c++) {
    let b = 0;
    for (let i = 0; i < n; i++) b += (u[i]! >> c) + 1 + c;
    if (b < bits) [k, bits] = [c, b];
  }
  const { out, view } = header(INT8, n, INT8_CODE_AT + Math.ceil(bits / 8));
  view.setFloat32(HEADER, scale, true);
  view.setUint8(HEADER + 4, k);
  let at = INT8_CODE_AT * 8; // bit position; the buffer starts zeroed, so only 1 bits are written
  for (let i = 0; i < n; i++) {
    const v = u[i]!;
    for (let ones = v >> k; ones > 0; ones--, at++) out[at >> 3] = out[at >> 3]! | (0x80 >> (at & 7));
    at++; // the unary's terminating 0
    for (let b = k - 1; b >= 0; b--, at++) if ((v >> b) & 1) out[at >> 3] = out[at >> 3]! | (0x80 >> (at & 7));
  }
  return { out, sent };
}

/** Reads the Rice-coded int8 values into `out` (× scale); a code that runs past the body, past 254, or leaves bits set in the padding is refused. */
function decodeInt8(bytes: Uint8Array, view: DataView, n: number, out: Float64Array): void {
  if (bytes.length < INT8_CODE_AT) throw new CompressionError("int8 update without its scale and code parameter");
  const scale = view.getFloat32(HEADER, true);
  const k = view.getUint8(HEADER + 4);
  if (k > MAX_RICE_K) throw new CompressionError(`int8 update with code parameter ${k}`);
  const end = bytes.length * 8;
  const bit = (at: number) => (bytes[at >> 3]! >> (7 - (at & 7))) & 1;
  let at = INT8_CODE_AT * 8;
  for (let i = 0; i < n; i++) {
    let quotient = 0;
    for (;;) {
      if (at >= end) throw new CompressionError("int8 update of the wrong length");
      if (!bit(at++)) break;
      if (++quotient > MAX_ZIGZAG >> k) throw new CompressionError("int8 update holds a value past 8 bits");
    }
    if (at + k > end) throw new CompressionError("int8 update of the wrong length");
    let v = quotient;
    for (let b = 0; b < k; b++) v = (v << 1) | bit(at++);
    if (v > MAX_ZIGZAG) throw new CompressionError("int8 update holds a value past 8 bits");
    out[i] = (v & 1 ? -(v + 1) / 2 : v / 2) * scale;
  }
  // Exactly the code's bytes, zero padding: one body per update.
  if (end - at >= 8 || (at < end && bytes[at >> 3]! & (0xff >> (at & 7)))) throw new CompressionError("int8 update of the wrong length");
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
    decodeInt8(bytes, view, n, out);
  } else throw new CompressionError(`unknown update encoding ${kind}`);
  for (let i = 0; i < n; i++) if (!Number.isFinite(out[i]!)) throw new CompressionError("update holds a value that is not finite");
  return out;
}

/** A dense float32 vector (global models, gradients for δ) in the dense update format. */
export function encodeDense32(v: Float64Array): Uint8Array {
  return encodeDense(v).out;
}
