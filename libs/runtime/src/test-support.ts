// Helpers for this package's tests (not exported from index.ts).
import type { LogStream, TaskHooks, TaskRunSpec } from "./types.js";

export function spec(overrides: Partial<TaskRunSpec> = {}): TaskRunSpec {
  return {
    namespace: "acme",
    name: "cam-1-serve",
    uid: "0b7c6a2e-uid",
    attempt: 2,
    nodeName: "edge-1",
    role: "serve",
    template: {},
    env: {},
    resources: { cpu: 0, memoryMiB: 0, gpu: 0 },
    ...overrides,
  };
}

export interface RecordingHooks extends TaskHooks {
  lines: Array<{ line: string; stream: LogStream }>;
  started: Array<{ endpoint?: string }>;
  controller: AbortController;
  /** Output lines of one stream. */
  out(stream?: LogStream): string[];
}

export function hooks(): RecordingHooks {
  const controller = new AbortController();
  const lines: Array<{ line: string; stream: LogStream }> = [];
  const started: Array<{ endpoint?: string }> = [];
  return {
    lines,
    started,
    controller,
    signal: controller.signal,
    onLog: (line, stream) => void lines.push({ line, stream }),
    onStarted: (info) => void started.push(info),
    out: (stream = "stdout") => lines.filter((l) => l.stream === stream).map((l) => l.line),
  };
}

/** Polls `check` until truthy (or throws after `timeoutMs`). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
