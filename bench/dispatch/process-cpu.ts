// Where the machine's CPU went during a latency stage, read from /proc: by process role (the API
// server, the scheduler, this process, Postgres, Redis) and for the machine as a whole.
import { readdirSync, readFileSync } from "node:fs";

/** One process as /proc showed it: its role in the run (if it has one), name and CPU so far. */
export interface ProcessCpu {
  role: string | undefined;
  name: string;
  /** user + system, in jiffies (1/100 s on Linux). */
  jiffies: number;
}

/** Every process by pid. */
export type ProcessSample = Map<number, ProcessCpu>;

/** The pids of the control plane's own processes. */
export interface Roles {
  api: number;
  scheduler: number;
}

/**
 * CPU used so far by every process, each with its role: the API server, the scheduler, this
 * process (the load generator and the simulated agents), Postgres (every backend), Redis.
 */
export function sampleProcesses(roles: Roles): ProcessSample {
  // Synchronous: read between two arrivals, an awaited read of every /proc entry on the busy
  // event loop took long enough to hold arrivals back and send them as one burst.
  const out: ProcessSample = new Map();
  let pids: string[] = [];
  try {
    pids = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const entry of pids) {
    if (!/^\d+$/.test(entry)) continue;
    let stat = "";
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // ended meanwhile
    }
    const pid = Number(entry);
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(pid, { role: roleOf(pid, name, roles), name, jiffies: Number(f[11]) + Number(f[12]) });
  }
  return out;
}

function roleOf(pid: number, name: string, roles: Roles): string | undefined {
  if (pid === roles.api) return "API";
  if (pid === roles.scheduler) return "scheduler";
  if (pid === process.pid) return "bench (load + agents)";
  if (name === "postgres") return "Postgres";
  if (name.startsWith("redis-server")) return "Redis";
  return undefined;
}

/**
 * Jiffies each role used between two samples, summed over its processes one by one: a process
 * that ended in between (a Postgres backend, an autovacuum worker) takes nothing away — a sum
 * per role would drop by all it had ever used — and one that started counts in full.
 */
export function roleDeltas(from: ProcessSample, to: ProcessSample): Map<string, number> {
  const out = new Map<string, number>();
  for (const [pid, p] of to) {
    if (!p.role) continue;
    const before = from.get(pid);
    const used = before && before.name === p.name ? Math.max(0, p.jiffies - before.jiffies) : p.jiffies;
    out.set(p.role, (out.get(p.role) ?? 0) + used);
  }
  return out;
}

/** The processes without a role (kernel threads too) that used at least `minJiffies` in between. */
export function busyOthers(from: ProcessSample, to: ProcessSample, minJiffies: number): Array<{ pid: number; name: string; jiffies: number }> {
  const out: Array<{ pid: number; name: string; jiffies: number }> = [];
  for (const [pid, p] of to) {
    if (p.role) continue;
    const before = from.get(pid);
    const used = before ? Math.max(0, p.jiffies - before.jiffies) : p.jiffies;
    // A kernel worker's name changes with its work item: named by its kind.
    if (used >= minJiffies) out.push({ pid, name: p.name.replace(/-.*/, ""), jiffies: used });
  }
  return out;
}

/** Busy and total jiffies of all CPUs so far (/proc/stat), for the machine's utilisation. */
export function machineCpu(): { busy: number; total: number } {
  let text = "";
  try {
    text = readFileSync("/proc/stat", "utf8");
  } catch {
    // No /proc: no utilisation figure.
  }
  const f = (text.split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}
