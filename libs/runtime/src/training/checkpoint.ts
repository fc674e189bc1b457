import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { TrainingRound } from "@eiaas/api";

/** What an aggregator needs to resume: the global model and its round, τ, what was spent and measured. */
export interface Checkpoint {
  round: number;
  tau: number;
  w: Float64Array;
  spentSeconds: number;
  bytesUp: number;
  bytesDown: number;
  history: TrainingRound[];
  stoppedBecause?: string;
}

/**
 * Checkpoints in a directory of the node (the agent's state dir): one file per job, keyed by the
 * job's uid — a re-planned aggregator (new revision, new task name) on the same node resumes too.
 * Written to a temporary file and renamed, so a crash mid-write leaves the previous checkpoint.
 * The model is float64, base64 in JSON: a few KB for these models.
 */
export class CheckpointStore {
  constructor(private readonly dir: string) {}

  private file(key: string): string {
    return join(this.dir, `${createHash("sha256").update(key).digest("hex").slice(0, 32)}.json`);
  }

  async save(key: string, c: Checkpoint): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const body = JSON.stringify({ ...c, w: Buffer.from(c.w.buffer, c.w.byteOffset, c.w.byteLength).toString("base64") });
    const path = this.file(key);
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, body, { mode: 0o600 });
    await rename(tmp, path);
  }

  /** The last checkpoint of `key` for a model of `size` parameters; undefined when none (or unreadable: start over). */
  async load(key: string, size: number): Promise<Checkpoint | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(key), "utf8");
    } catch {
      return undefined;
    }
    try {
      const raw = JSON.parse(text) as Omit<Checkpoint, "w"> & { w: string };
      const bytes = Buffer.from(raw.w, "base64");
      if (bytes.length !== size * 8) return undefined;
      const w = new Float64Array(size);
      Buffer.from(w.buffer).set(bytes);
      return { ...raw, w };
    } catch {
      return undefined;
    }
  }
}

/**
 * Writes one job's checkpoints one at a time, newest wins: a checkpoint given while a write is
 * under way replaces any other still waiting, so a slow disk delays the writes (and what waits on
 * them), never the caller. Each checkpoint's `then` runs once it has landed — or failed, logged —
 * and only for the checkpoints actually written.
 */
export class CheckpointWriter {
  private waiting?: { checkpoint: Checkpoint; then: () => void };
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: CheckpointStore,
    private readonly key: string,
    private readonly log: (line: string) => void,
  ) {}

  write(checkpoint: Checkpoint, then: () => void): void {
    const idle = this.waiting === undefined;
    this.waiting = { checkpoint, then };
    if (idle) this.loop = this.loop.then(() => this.drain());
  }

  /** Resolves when every checkpoint given so far was written (or replaced by a newer one that was). */
  drained(): Promise<void> {
    return this.loop;
  }

  private async drain(): Promise<void> {
    while (this.waiting) {
      const next = this.waiting;
      try {
        await this.store.save(this.key, next.checkpoint);
      } catch (err) {
        this.log(`checkpoint of round ${next.checkpoint.round} not written: ${(err as Error).message}`);
      }
      // Cleared only after the write, so a checkpoint given meanwhile joins this loop.
      if (this.waiting === next) this.waiting = undefined;
      next.then();
    }
  }
}
