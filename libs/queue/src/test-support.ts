// Helpers for this package's tests (not exported from index.ts).
import { Redis } from "ioredis";
import type { TaskJob } from "./backend.js";

/** The test Redis at a database of its own, so test files do not see each other's keys. */
export function withDb(url: string, db: number): string {
  const u = new URL(url);
  u.pathname = `/${db}`;
  return u.toString();
}

export async function flushDb(url: string): Promise<void> {
  const r = new Redis(url);
  try {
    await r.flushdb();
  } finally {
    r.disconnect();
  }
}

/** Polls `check` until it returns a truthy value (or throws after `timeoutMs`). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface Deferred<T = void> {
  promise: Promise<T>;
  resolve(v: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A dispatch of task `name` (uid `<name>-uid`) to `node`; `spec` goes into its Task spec. */
export function taskJob(node: string, name: string, attempt = 0, spec: Record<string, unknown> = {}): TaskJob {
  return {
    node,
    payload: { namespace: "acme", name, uid: `${name}-uid`, attempt, spec: { nodeName: node, role: "serve", ...spec } },
  };
}
