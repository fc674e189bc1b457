// The wire format of `POST /v1/infer` (docs/dataplane.md):
//  - binary: `content-type: application/octet-stream`, the tensor's float32 values little-endian in
//    row-major order, its shape in `x-eiaas-shape: 1,3,224,224`;
//  - JSON: `content-type: application/json`, `{ "shape": [1, 3, 224, 224], "data": [0.1, ...] }`
//    with `data` flat, row-major (for small inputs: a float costs ~20 bytes of JSON, not 4).
// Replies use the same two encodings, chosen by `Accept` (else the request's own).

export const SHAPE_HEADER = "x-eiaas-shape";
/** Float32, row-major, little-endian. */
export const BINARY_TYPE = "application/octet-stream";
export const JSON_TYPE = "application/json";
/** Ranks above this are refused before anything is allocated. */
export const MAX_RANK = 8;

/** A failure to answer with `status` and a one-line `message` (never a stack trace). */
export class ServingError extends Error {
  override readonly name = "ServingError";
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

export type Encoding = "binary" | "json";

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Checks a shape's dims: positive safe integers, rank 1..MAX_RANK, at most `maxElements` in all. */
export function checkShape(shape: unknown, maxElements: number, where = "shape"): number[] {
  if (!Array.isArray(shape) || shape.length === 0) throw new ServingError(400, `${where} must be a non-empty list of dimensions`);
  if (shape.length > MAX_RANK) throw new ServingError(400, `${where} has rank ${shape.length}; at most ${MAX_RANK} dimensions are accepted`);
  for (const d of shape) {
    if (typeof d !== "number" || !Number.isSafeInteger(d) || d < 1) throw new ServingError(400, `${where} has a dimension ${JSON.stringify(d)}; dimensions are positive integers`);
  }
  const n = elementCount(shape as number[]);
  if (n > maxElements) throw new ServingError(413, `${where} [${shape.join(",")}] has ${n} elements; this server takes at most ${maxElements}`);
  return shape as number[];
}

/** `1,3,224,224` → [1,3,224,224]. */
export function parseShapeHeader(value: string | undefined, maxElements: number): number[] {
  if (value === undefined || value.trim() === "") throw new ServingError(400, `a binary tensor needs its shape in the ${SHAPE_HEADER} header (e.g. "1,3,224,224")`);
  if (value.length > 200) throw new ServingError(400, `${SHAPE_HEADER} is too long`);
  // A non-numeric dim stays a string, so the error shows it as sent.
  const dims = value.split(",").map((s) => (/^\d+$/.test(s.trim()) ? Number(s.trim()) : s.trim()));
  return checkShape(dims, maxElements, SHAPE_HEADER);
}

/** A binary body (float32 little-endian) of the shape in its header. */
export function decodeBinary(body: Buffer, shapeHeader: string | undefined, maxElements: number): Tensor {
  const shape = parseShapeHeader(shapeHeader, maxElements);
  const n = elementCount(shape);
  if (body.length !== n * 4) {
    throw new ServingError(400, `the body has ${body.length} bytes; shape [${shape.join(",")}] needs ${n * 4} (${n} float32 values)`);
  }
  const data = new Float32Array(n);
  // A copy: the body's buffer may not be 4-byte aligned, and the request's memory is not kept.
  new Uint8Array(data.buffer).set(body);
  return { shape, data };
}

/** A JSON body `{ shape, data }` with `data` a flat list of numbers. */
export function decodeJson(body: Buffer, maxElements: number): Tensor {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString("utf8"));
  } catch (err) {
    throw new ServingError(400, `the body is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new ServingError(400, `the body must be an object { "shape": [...], "data": [...] }`);
  const { shape: rawShape, data: raw } = doc as { shape?: unknown; data?: unknown };
  const shape = checkShape(rawShape, maxElements, "shape");
  const n = elementCount(shape);
  if (!Array.isArray(raw)) throw new ServingError(400, `data must be a flat list of numbers`);
  if (raw.length !== n) throw new ServingError(400, `data has ${raw.length} values; shape [${shape.join(",")}] needs ${n}`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const v = raw[i];
    if (typeof v !== "number") throw new ServingError(400, `data[${i}] is ${JSON.stringify(v)?.slice(0, 40)}; values are numbers`);
    data[i] = v;
  }
  return { shape, data };
}

/** The float32 values as little-endian bytes (a view: no copy on little-endian hosts). */
export function encodeBinary(t: Tensor): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Which encoding the reply uses: what `Accept` asks for, else the request's. */
export function replyEncoding(accept: string | undefined, request: Encoding): Encoding {
  if (!accept) return request;
  const a = accept.toLowerCase();
  const json = a.includes(JSON_TYPE);
  const binary = a.includes(BINARY_TYPE);
  if (json && !binary) return "json";
  if (binary && !json) return "binary";
  if (json && binary) return a.indexOf(JSON_TYPE) < a.indexOf(BINARY_TYPE) ? "json" : "binary";
  if (a.includes("*/*")) return request;
  throw new ServingError(406, `cannot answer in ${accept.slice(0, 80)}: replies are ${BINARY_TYPE} or ${JSON_TYPE}`);
}

/** The request's encoding from its content type. */
export function requestEncoding(contentType: string | undefined): Encoding {
  const t = (contentType ?? "").split(";")[0]!.trim().toLowerCase();
  if (t === BINARY_TYPE) return "binary";
  if (t === JSON_TYPE) return "json";
  throw new ServingError(415, `content-type must be ${BINARY_TYPE} (with ${SHAPE_HEADER}) or ${JSON_TYPE}, not ${JSON.stringify(contentType ?? "")}`);
}
