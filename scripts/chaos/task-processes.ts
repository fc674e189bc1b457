// The standalone agents' task processes (process runtime) of this run, found in /proc by the run's
// marker in their environment (every workload's template sets CHAOS_RUN).
import { readdir, readFile } from "node:fs/promises";

/** Task processes of this run: /proc/<pid>/environ holding CHAOS_RUN=<runId>. */
export async function taskProcesses(runId: string): Promise<Array<{ pid: number; env: Record<string, string> }>> {
  const marker = `CHAOS_RUN=${runId}`;
  const out: Array<{ pid: number; env: Record<string, string> }> = [];
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const raw = await readFile(`/proc/${entry}/environ`, "latin1").catch(() => "");
    if (!raw.includes(marker)) continue;
    const env: Record<string, string> = {};
    for (const kv of raw.split("\0")) {
      const i = kv.indexOf("=");
      if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    // A zombie or exiting process has no environment left; the marker matched, so it is ours.
    if (env.CHAOS_RUN === runId) out.push({ pid: Number(entry), env });
  }
  return out;
}
