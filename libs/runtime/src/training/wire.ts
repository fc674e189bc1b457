/**
 * What crosses the wire between participants and their aggregator (HTTP, binary bodies):
 * - `GET /v1/model?after=N` → the global model as a dense float32 update frame (libs/training's
 *   format), with the round to run, τ and whether training is over in headers;
 * - `POST /v1/update` ← a participant's report: a 34-byte binary header ({@link UpdateReport}:
 *   {@link encodeReport}), the encoded update (local − global), and — when τ is adaptive — ∇Fᵢ at
 *   the global model as a dense frame (for δ). `?next=1`: the answer is the next round's model,
 *   as `GET /v1/model` would give it once published (one request a round); without, an empty 200.
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

const REPORT_TAG = 0x55; // "U": an update report, version 2 (version 1 was a JSON header)
const RHO = 1;
const BETA = 2;
/** Bytes of a report's binary header. */
export const REPORT_HEADER_BYTES = 34;

/**
 * A report's body: a fixed 34-byte binary header — tag (uint8), flags (uint8: 1 ρ present, 2 β
 * present), round, samples, steps (uint32 LE), loss, compute seconds, energy (J), ρ, β (float32
 * LE; ρ and β 0 when absent) — then the encoded update and, when τ is adaptive, the gradient frame.
 * No JSON on the wire: every byte of framing is counted and small.
 */
export function encodeReport(report: UpdateReport, update: Uint8Array, gradient?: Uint8Array): Buffer {
  const out = Buffer.alloc(REPORT_HEADER_BYTES + update.length + (gradient?.length ?? 0));
  out.writeUInt8(REPORT_TAG, 0);
  out.writeUInt8((report.rho !== undefined ? RHO : 0) | (report.beta !== undefined ? BETA : 0), 1);
  out.writeUInt32LE(report.round, 2);
  out.writeUInt32LE(report.samples, 6);
  out.writeUInt32LE(report.steps, 10);
  out.writeFloatLE(report.loss, 14);
  out.writeFloatLE(report.computeSeconds, 18);
  out.writeFloatLE(report.energyJoules, 22);
  out.writeFloatLE(report.rho ?? 0, 26);
  out.writeFloatLE(report.beta ?? 0, 30);
  out.set(update, REPORT_HEADER_BYTES);
  if (gradient) out.set(gradient, REPORT_HEADER_BYTES + update.length);
  return out;
}

/**
 * Splits a report body: the update is what follows the header up to `gradientBytes` from the end
 * (its own frame is checked by the caller's decoder).
 */
export function decodeReport(body: Buffer, gradientBytes: number): { report: UpdateReport; update: Uint8Array; gradient?: Uint8Array } {
  if (body.length < REPORT_HEADER_BYTES || body.readUInt8(0) !== REPORT_TAG) throw new WireError("not an update report");
  const flags = body.readUInt8(1);
  if (flags & ~(RHO | BETA)) throw new WireError("report header with unknown flags");
  const num = (name: string, at: number): number => {
    const x = body.readFloatLE(at);
    if (!Number.isFinite(x) || x < 0) throw new WireError(`report.${name} must be a finite number ≥ 0`);
    return x;
  };
  const report: UpdateReport = {
    round: body.readUInt32LE(2),
    samples: body.readUInt32LE(6),
    steps: body.readUInt32LE(10),
    loss: num("loss", 14),
    computeSeconds: num("computeSeconds", 18),
    energyJoules: num("energyJoules", 22),
  };
  if (flags & RHO) report.rho = num("rho", 26);
  if (flags & BETA) report.beta = num("beta", 30);
  const rest = body.subarray(REPORT_HEADER_BYTES);
  if (gradientBytes > 0) {
    if (rest.length <= gradientBytes) throw new WireError("report without its gradient");
    return { report, update: rest.subarray(0, rest.length - gradientBytes), gradient: rest.subarray(rest.length - gradientBytes) };
  }
  return { report, update: rest };
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
