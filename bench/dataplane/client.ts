// The client side of a measurement: POSTs the input to the plan's entry (binary, kept alive, one
// request at a time) and collects what each stage reports of itself (x-eiaas-timings).
import { Agent, request } from "node:http";
import { stageWorkMs, type StageTimings } from "@eiaas/serving";

/** One answered request: the client's wall time and the stages' own figures (ms). */
export interface Sample {
  totalMs: number;
  /** The entry stage's own work (`stageWorkMs`: decode, run, encode): what its ModelProfile figure is. */
  headWorkMs: number;
  /** The entry's `session.run()` alone. */
  headRunMs: number;
  /**
   * The forward to the next stage less the next stage's own work: the head's `transferMs` (the
   * wire both ways, the cut tensor's upload included) plus what the next stage spent beyond its
   * work and its body's reading (its `totalMs` less `receiveMs`, already in `transferMs`, less work).
   */
  wireMs?: number;
  tailWorkMs?: number;
}

type Timings = StageTimings & { next?: Timings };

/** The entry answered something else than 200: `status` 504 when a later stage did not answer within the forward's limit. */
export class AnswerError extends Error {
  constructor(
    readonly endpoint: string,
    readonly status: number,
  ) {
    super(`${endpoint} answered ${status}`);
  }
}

export class BenchClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
  constructor(
    private readonly endpoint: string,
    private readonly shape: number[],
    private readonly input: Buffer,
  ) {}

  infer(): Promise<Sample> {
    const [host, port] = [this.endpoint.slice(0, this.endpoint.lastIndexOf(":")), Number(this.endpoint.slice(this.endpoint.lastIndexOf(":") + 1))];
    const t0 = performance.now();
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host,
          port,
          agent: this.agent,
          method: "POST",
          path: "/v1/infer",
          headers: { "content-type": "application/octet-stream", accept: "application/octet-stream", "x-eiaas-shape": this.shape.join(",") },
        },
        (res) => {
          res.resume();
          res.on("error", reject);
          res.on("end", () => {
            const totalMs = performance.now() - t0;
            if (res.statusCode !== 200) return reject(new AnswerError(this.endpoint, res.statusCode ?? 0));
            const t = JSON.parse(String(res.headers["x-eiaas-timings"])) as Timings;
            const next = t.next;
            resolve({
              totalMs,
              headWorkMs: stageWorkMs(t),
              headRunMs: t.runMs,
              ...(next ? { wireMs: (t.transferMs ?? 0) + next.totalMs - (next.receiveMs ?? 0) - stageWorkMs(next), tailWorkMs: stageWorkMs(next) } : {}),
            });
          });
        },
      );
      req.on("error", reject);
      req.end(this.input);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
