// Samples every check every `sampleMs` for the whole run: each sample reads the agents' runtimes,
// then one Postgres snapshot, then evaluates. Keeps the history (for recovery times), every safety
// violation ever seen (any one fails the run), and each process' peak resident memory.
import { createWriteStream, type WriteStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { readAgentView } from "./agent-view.js";
import { CONVERGENCE, evaluate, LEDGER, newCheckState, SAFETY, type Findings } from "./checks.js";
import type { Deployment } from "./deployment.js";
import type { Ledger } from "./ledger.js";
import { readSnapshot } from "./snapshot.js";

export interface Sample {
  at: number;
  /** Every check held. */
  ok: boolean;
  findings?: Findings;
  /** Why the checks could not run (Postgres away). */
  error?: string;
}

/** A kind of safety violation over the whole run. */
export interface Violation {
  samples: number;
  first: number;
  examples: Set<string>;
}

/** Every finding of a sample as `check: text` pairs (for reports and the violation record). */
export function findingList(f: Findings): Array<[string, string[]]> {
  return [...SAFETY.map((k) => [k, f[k]] as [string, string[]]), ...LEDGER.map((k) => [k, f.ledger[k]] as [string, string[]]), ...CONVERGENCE.map((k) => [k, f[k]] as [string, string[]])];
}

export class Sampler {
  readonly history: Sample[] = [];
  readonly violations = new Map<string, Violation>();
  readonly peakRss = new Map<string, number>();
  /** The most task attempts seen running at once, by runtime (fleet, standalone processes). */
  readonly peakRuns = new Map<string, number>();
  private readonly pool: pg.Pool;
  private readonly state = newCheckState();
  private running = false;
  /**
   * Workloads written this recently need not have settled yet: `settleS` under traffic; 0 once
   * the traffic stopped (at the end every workload must have settled).
   */
  settleMs: number;
  private loop?: Promise<void>;
  /**
   * `timeline.log` in the run's log directory: one line a sample (counts of every check, tasks by
   * phase, nodes not Ready) and the findings that counted — what tells a defect from a starved
   * machine, beside the processes' logs.
   */
  private readonly timeline: WriteStream;

  constructor(
    private readonly d: Deployment,
    private readonly ledger: Ledger,
    private readonly trafficNamespaces: Set<string>,
  ) {
    this.pool = new pg.Pool({ connectionString: d.pg.url(), max: 2, connectionTimeoutMillis: 3_000, statement_timeout: 10_000 });
    this.pool.on("error", () => undefined);
    this.settleMs = d.config.settleS * 1000;
    this.timeline = createWriteStream(join(d.logDir, "timeline.log"), { flags: "a" });
  }

  /** Appends a line to the timeline (the run's own events too: faults, their ends). */
  note(line: string): void {
    this.timeline.write(`${new Date().toISOString()} ${line}\n`);
  }

  start(): void {
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const t0 = Date.now();
        const sample = await this.sample();
        this.history.push(sample);
        this.record(sample);
        await this.memory();
        await new Promise((r) => setTimeout(r, Math.max(0, this.d.config.sampleMs - (Date.now() - t0))));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
    await this.pool.end();
    await new Promise<void>((r) => this.timeline.end(() => r()));
  }

  get last(): Sample | undefined {
    return this.history.at(-1);
  }

  async sample(): Promise<Sample> {
    const at = Date.now();
    try {
      const view = await readAgentView(this.d);
      const snapshot = await readSnapshot(this.pool);
      const findings = evaluate({ snapshot, view, ledger: this.ledger, startedAt: at, config: this.d.config, state: this.state, trafficNamespaces: this.trafficNamespaces, settleMs: this.settleMs });
      for (const [source, n] of Object.entries(findings.stats.runs)) this.peakRuns.set(source, Math.max(n, this.peakRuns.get(source) ?? 0));
      let ok = true;
      for (const [check, items] of findingList(findings)) {
        if (!items.length) continue;
        ok = false;
        if ((SAFETY as readonly string[]).includes(check) || (LEDGER as readonly string[]).includes(check)) {
          const v = this.violations.get(check) ?? { samples: 0, first: at, examples: new Set<string>() };
          v.samples++;
          for (const x of items) if (v.examples.size < 10) v.examples.add(x);
          this.violations.set(check, v);
        }
      }
      return { at, ok, findings };
    } catch (err) {
      return { at, ok: false, error: (err as Error).message };
    }
  }

  private record(sample: Sample): void {
    if (sample.error) return this.note(`sample: checks could not run: ${sample.error}`);
    const f = sample.findings!;
    const counts = findingList(f)
      .filter(([, items]) => items.length)
      .map(([k, items]) => `${k} ${items.length}`);
    const tasks = Object.entries(f.stats.tasks)
      .map(([k, v]) => `${k} ${v}`)
      .join(" ");
    this.note(
      `sample: ${sample.ok ? "ok" : counts.join(", ")}; in flight ${f.inFlight}; load ${loadavg()[0]!.toFixed(1)}; tasks ${tasks}${f.notReady.length ? `; not Ready: ${f.notReady.join(" ")}` : ""}`,
    );
    for (const [k, items] of findingList(f)) for (const x of items.slice(0, 5)) this.note(`  ${k}: ${x}`);
  }

  private async memory(): Promise<void> {
    for (const p of this.d.processes()) {
      const pid = p.pid;
      if (pid === undefined) continue;
      const status = await readFile(`/proc/${pid}/status`, "utf8").catch(() => "");
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      if (kb * 1024 > (this.peakRss.get(p.name) ?? 0)) this.peakRss.set(p.name, kb * 1024);
    }
  }

  /**
   * How long every check must hold for a recovery to count: a finding is only seen once it is
   * older than its threshold (the grace period, a stuck task's `stuckS`, a workload's `settleS`),
   * so a shorter clean stretch could hide a divergence not yet old enough to show.
   */
  get holdMs(): number {
    const c = this.d.config;
    return Math.max(c.graceS, c.stuckS, this.settleMs / 1000) * 1000;
  }

  /**
   * Waits for recovery after `after`: the first sample taken after it from which every sample for
   * {@link Sampler.holdMs} held every check. Resolves with that sample's time, or undefined when
   * no such stretch began by `deadline`.
   */
  async waitRecovered(after: number, deadline: number): Promise<number | undefined> {
    const graceMs = this.holdMs;
    for (;;) {
      const samples = this.history.filter((s) => s.at >= after);
      let streak: number | undefined;
      for (const s of samples) {
        if (!s.ok) streak = undefined;
        else if (streak !== undefined || s.at <= deadline) {
          streak ??= s.at;
          if (s.at - streak >= graceMs) return streak;
        }
      }
      if (Date.now() > deadline + graceMs) return undefined;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
