import type { LogStream } from "./types.js";

export interface LogTailOptions {
  /** Lines kept per task; older lines are dropped. @defaultValue 1000 */
  maxLines?: number;
  /** Tasks kept; the least recently written task's tail is dropped first. @defaultValue 1000 */
  maxTasks?: number;
}

class Ring {
  private readonly buf: string[] = [];
  private start = 0;
  constructor(private readonly capacity: number) {}
  push(line: string): void {
    if (this.buf.length < this.capacity) this.buf.push(line);
    else {
      this.buf[this.start] = line;
      this.start = (this.start + 1) % this.capacity;
    }
  }
  toArray(): string[] {
    return this.buf.length < this.capacity ? this.buf.slice() : [...this.buf.slice(this.start), ...this.buf.slice(0, this.start)];
  }
}

/**
 * The last lines of each task's output, which the agent serves for `GET .../tasks/{name}/log`.
 * Memory is bounded by `maxLines × maxTasks` lines (each at most 16 KiB).
 */
export class LogTail {
  private readonly maxLines: number;
  private readonly maxTasks: number;
  // A Map iterates in insertion order: re-inserting on write keeps it ordered by last write.
  private readonly tails = new Map<string, Ring>();

  constructor(options: LogTailOptions = {}) {
    this.maxLines = Math.max(1, options.maxLines ?? 1000);
    this.maxTasks = Math.max(1, options.maxTasks ?? 1000);
  }

  append(key: string, line: string, stream: LogStream = "stdout"): void {
    let ring = this.tails.get(key);
    if (ring) this.tails.delete(key);
    else ring = new Ring(this.maxLines);
    this.tails.set(key, ring);
    ring.push(stream === "stderr" ? line : stream === "system" ? `[eiaas] ${line}` : line);
    while (this.tails.size > this.maxTasks) {
      const oldest = this.tails.keys().next().value as string;
      this.tails.delete(oldest);
    }
  }

  /** A hook for {@link TaskHooks.onLog} writing into this tail. */
  writer(key: string): (line: string, stream: LogStream) => void {
    return (line, stream) => this.append(key, line, stream);
  }

  /** The kept lines of a task, oldest first; only the last `tail` of them when given. */
  lines(key: string, tail?: number): string[] {
    const all = this.tails.get(key)?.toArray() ?? [];
    return tail === undefined ? all : tail <= 0 ? [] : all.slice(-tail);
  }

  has(key: string): boolean {
    return this.tails.has(key);
  }

  delete(key: string): void {
    this.tails.delete(key);
  }

  keys(): string[] {
    return [...this.tails.keys()];
  }
}
