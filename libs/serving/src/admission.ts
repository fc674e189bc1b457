import { ServingError } from "./wire.js";

/**
 * Bounds what a server holds: at most `maxRunning` model runs at once (a run already uses the
 * session's threads; more at once only share the cores), and at most `maxRunning + maxWaiting`
 * requests admitted (their bodies read, queued, running or forwarding). Beyond that a request is
 * refused with 429 before its body is read, so memory stays under (admitted × largest body).
 */
export class Admission {
  private admitted = 0;
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly maxRunning: number,
    readonly maxWaiting: number,
  ) {}

  /** Admits one request or throws 429. Call the returned `leave` exactly once when it is answered. */
  enter(): () => void {
    if (this.admitted >= this.maxRunning + this.maxWaiting) {
      throw new ServingError(429, `busy: ${this.admitted} requests in progress, the most this server holds; retry later`, { "retry-after": "1" });
    }
    this.admitted++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      this.admitted--;
    };
  }

  /** Waits for a run slot (FIFO). Call the returned `release` exactly once when the run is over. */
  async slot(): Promise<() => void> {
    if (this.running < this.maxRunning) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve)); // the slot is handed over as is
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    };
  }

  /** Requests admitted and not yet answered. */
  get inProgress(): number {
    return this.admitted;
  }
}
