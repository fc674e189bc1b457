import { SchedulingError } from "../errors.js";

type UndoEntry = { arr: Float64Array | number[]; idx: number; old: number } | { fn: () => void };

/**
 * The Snapshot's change log: every change placement makes is recorded so `rollback(mark())` undoes
 * a tentative placement (a gang, a whole InferenceService) without copying anything.
 */
export class UndoLog {
  private readonly entries: UndoEntry[] = [];

  /** Sets `arr[idx]`, recording the old value. */
  set(arr: Float64Array | number[], idx: number, value: number): void {
    this.entries.push({ arr, idx, old: arr[idx]! });
    arr[idx] = value;
  }

  /** Records how to undo a change made by other means (a list edit, a tenant added). */
  onRollback(fn: () => void): void {
    this.entries.push({ fn });
  }

  /** A position in the log; pass it to `rollback` to undo everything recorded since. */
  mark(): number {
    return this.entries.length;
  }

  rollback(mark: number): void {
    if (mark < 0 || mark > this.entries.length) throw new SchedulingError(`invalid snapshot mark ${mark}`);
    while (this.entries.length > mark) {
      const e = this.entries.pop()!;
      if ("fn" in e) e.fn();
      else e.arr[e.idx] = e.old;
    }
  }

  /** Forgets the log: the current state becomes the base no rollback goes below. */
  clear(): void {
    this.entries.length = 0;
  }
}
