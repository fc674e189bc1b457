// The segment's recent run times, for a runtime that does not see the server's answers: the docker
// runtime polls `GET /v1/timings?after=SEQ` of its container and hands each new figure to the agent,
// as the onnx runtime hands over every computed answer's work in its own process (ModelProfiles).
import { request } from "node:http";

/** Most run times kept: at a poll every 2 s, more than 500 runs a second would lose some (a median does not mind). */
export const RUN_LOG_SIZE = 1024;

/** The body of `GET /v1/timings?after=SEQ`: the run times numbered `after+1 .. seq`, oldest first. */
export interface RunTimings {
  /** Number of the newest run (0 before the first): the next poll's `after`. */
  seq: number;
  /**
   * The stage's own work (`stageWorkMs`: decode, run, encode), ms, of the computed answers since
   * `after` (reused ones ran nothing). Images before this field answered `runMs` (the run alone).
   */
  workMs: number[];
}

/**
 * A ring of the last RUN_LOG_SIZE run times, each numbered. Readers name the last number they saw,
 * so none takes figures from another: whoever reaches the port may read them (they are in every
 * answer's `x-eiaas-timings` already) and none can remove or change them.
 */
export class RunLog {
  private readonly ms = new Float64Array(RUN_LOG_SIZE);
  private seq = 0;

  add(workMs: number): void {
    this.ms[this.seq % RUN_LOG_SIZE] = workMs;
    this.seq++;
  }

  /** The runs after number `after` still kept (a reader that fell behind loses the oldest). */
  since(after: number): RunTimings {
    const from = Math.max(Number.isSafeInteger(after) && after >= 0 ? Math.min(after, this.seq) : 0, this.seq - RUN_LOG_SIZE);
    const workMs: number[] = [];
    for (let n = from; n < this.seq; n++) workMs.push(Math.round(this.ms[n % RUN_LOG_SIZE]! * 1000) / 1000);
    return { seq: this.seq, workMs };
  }
}

/** Largest `/v1/timings` body read: RUN_LOG_SIZE figures as JSON are ~20 KiB. */
const MAX_TIMINGS_BYTES = 64 * 1024;

/**
 * Polls `http://host:port/v1/timings?after=…`; resolves with the new figures (finite, 0..`maxMs`),
 * or undefined when the server does not answer well. The server may be anything a tenant's image
 * runs: its answer is bounded and checked, never trusted.
 */
export function fetchRunTimings(host: string, port: number, after: number, maxMs: number, timeoutMs = 2_000): Promise<RunTimings | undefined> {
  return new Promise((resolve) => {
    const req = request({ host, port, path: `/v1/timings?after=${after}`, method: "GET", timeout: timeoutMs, headers: { accept: "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_TIMINGS_BYTES) {
          res.destroy();
          resolve(undefined);
        } else chunks.push(c);
      });
      res.on("error", () => resolve(undefined));
      res.on("end", () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          const doc = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { seq?: unknown; workMs?: unknown; runMs?: unknown };
          const figures = doc.workMs ?? doc.runMs;
          if (!Number.isSafeInteger(doc.seq) || (doc.seq as number) < 0 || !Array.isArray(figures)) return resolve(undefined);
          const workMs = figures.filter((v): v is number => typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= maxMs).slice(-RUN_LOG_SIZE);
          resolve({ seq: doc.seq as number, workMs });
        } catch {
          resolve(undefined);
        }
      });
    });
    req.once("timeout", () => req.destroy());
    req.once("error", () => resolve(undefined));
    req.end();
  });
}
