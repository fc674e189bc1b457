/**
 * What crosses the wire between participants and their aggregator (HTTP, binary bodies):
 * - `GET /v1/model?after=N` → the global model as a dense float32 update frame (libs/training's
 *   format), with the round to run, τ and whether training is over in headers;
 * - `POST /v1/update` ← a participant's report: 4 bytes (uint32 LE) the length of a JSON header
 *   ({@link UpdateReport}), the header, the encoded update (local − global), and — when τ is
 *   adaptive — ∇Fᵢ at the global model as a dense frame (for δ).
 * No sample, label or shard index is ever sent: only model-sized vectors and scalars.
 */

export const MODEL_PATH = "/v1/model";
export const UPDATE_PATH = "/v1/update";
export const HEADER_ROUND = "x-eiaas-round";
export const HEADER_TAU = "x-eiaas-tau";
export const HEADER_DONE = "x-eiaas-done";

/** The scalars a participant reports with its update. */
export interface UpdateReport {
  round: number;
  samples: number;
  /** Fᵢ at the global model the round started from (its whole shard). */
  loss: number;
  rho?: number;
  beta?: number;
  steps: number;
  computeSeconds: number;
  energyJoules: number;
}

export class WireError extends Error {
  override readonly name = "WireError";
}

export function encodeReport(report: UpdateReport, update: Uint8Array, gradient?: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(report));
  const head = Buffer.alloc(4);
  head.writeUInt32LE(json.length, 0);
  return Buffer.concat([head, json, update, ...(gradient ? [gradient] : [])]);
}

/**
 * Splits a report body: `updateBytes` is how long the update is (read from its own header by the
 * caller's decoder: here, the frame is the update up to `gradientBytes` from the end).
 */
export function decodeReport(body: Buffer, gradientBytes: number): { report: UpdateReport; update: Uint8Array; gradient?: Uint8Array } {
  if (body.length < 4) throw new WireError("body shorter than its header length");
  const n = body.readUInt32LE(0);
  if (n > 4096 || 4 + n > body.length) throw new WireError("report header of a bad length");
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.subarray(4, 4 + n).toString("utf8"));
  } catch {
    throw new WireError("report header is not JSON");
  }
  const report = checkReport(parsed);
  const rest = body.subarray(4 + n);
  if (gradientBytes > 0) {
    if (rest.length <= gradientBytes) throw new WireError("report without its gradient");
    return { report, update: rest.subarray(0, rest.length - gradientBytes), gradient: rest.subarray(rest.length - gradientBytes) };
  }
  return { report, update: rest };
}

function checkReport(v: unknown): UpdateReport {
  if (typeof v !== "object" || v === null) throw new WireError("report header is not an object");
  const o = v as Record<string, unknown>;
  const num = (k: string, optional = false): number | undefined => {
    const x = o[k];
    if (x === undefined && optional) return undefined;
    if (typeof x !== "number" || !Number.isFinite(x) || x < 0) throw new WireError(`report.${k} must be a finite number ≥ 0`);
    return x;
  };
  const report: UpdateReport = {
    round: num("round")!,
    samples: num("samples")!,
    loss: num("loss")!,
    steps: num("steps")!,
    computeSeconds: num("computeSeconds")!,
    energyJoules: num("energyJoules")!,
  };
  const rho = num("rho", true);
  const beta = num("beta", true);
  if (rho !== undefined) report.rho = rho;
  if (beta !== undefined) report.beta = beta;
  if (!Number.isInteger(report.round) || !Number.isInteger(report.samples) || !Number.isInteger(report.steps)) throw new WireError("report.round, samples and steps are integers");
  return report;
}

/** Gossip: a peer pushes its model to a neighbour (`POST /v1/gossip`). */
export const GOSSIP_PATH = "/v1/gossip";
const GOSSIP_TAG = 0x47; // "G": a gossip push, version 1
const GOSSIP_HEAD = 5;

/**
 * A gossip push's body: byte 0 the tag, bytes 1-4 the round the model finished (uint32 LE), then
 * the model as a dense float32 frame (libs/training's format). Binary all through: 10 bytes of
 * framing over 4 bytes a parameter.
 */
export function encodeGossip(round: number, model: Uint8Array): Buffer {
  const out = Buffer.alloc(GOSSIP_HEAD + model.length);
  out.writeUInt8(GOSSIP_TAG, 0);
  out.writeUInt32LE(round, 1);
  out.set(model, GOSSIP_HEAD);
  return out;
}

/** The size of a gossip push of a model of `size` parameters: bigger bodies are refused unread. */
export function gossipBytes(size: number): number {
  return GOSSIP_HEAD + 5 + 4 * size;
}

/** Splits a gossip push (the model frame is decoded, and checked, by the caller). */
export function decodeGossip(body: Buffer): { round: number; model: Uint8Array } {
  if (body.length < GOSSIP_HEAD || body.readUInt8(0) !== GOSSIP_TAG) throw new WireError("not a gossip push");
  const round = body.readUInt32LE(1);
  if (round < 1) throw new WireError("a gossip push names round 1 or later");
  return { round, model: body.subarray(GOSSIP_HEAD) };
}
