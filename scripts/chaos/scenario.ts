// The run: the deployment up, the tenants set up, steady traffic, then each fault in turn with its
// time to recover, then the traffic stopped and the final state checked.
import { cpus, loadavg } from "node:os";
import type { ChaosConfig, FaultName } from "./config.js";
import { startDeployment, type Deployment } from "./deployment.js";
import { FAULTS } from "./faults.js";
import { ApiClient } from "./http.js";
import { Ledger, type LedgerCounts } from "./ledger.js";
import { Rng } from "./rng.js";
import { Sampler, type Sample, type Violation } from "./sampler.js";
import { TENANTS, Traffic, type AnswerRecord } from "./traffic.js";
import type { UnexpectedExit } from "./processes.js";

export interface FaultResult {
  name: FaultName;
  injectedAt: number;
  endedAt?: number;
  /** Undefined: not recovered within the deadline. */
  recoveredAt?: number;
  notes: string[];
  /** The fault could not be injected as specified (why). */
  error?: string;
  /** The last sample before giving up, when not recovered. */
  lastSample?: Sample;
  /** Whether every check held at the last sample before the injection (else findings may be older). */
  healthyBefore: boolean;
}

export interface RunResult {
  config: ChaosConfig;
  startedAt: number;
  faults: FaultResult[];
  /** After the traffic stopped: when every check held, and the last sample. */
  final: { settledAt?: number; stoppedAt: number; sample?: Sample };
  violations: Map<string, Violation>;
  unexpected: UnexpectedExit[];
  ledger: LedgerCounts;
  /** Answers with a 5xx other than 503 (a server error the API must never give). */
  serverErrors: AnswerRecord[];
  peakRss: Map<string, number>;
  peakRuns: Map<string, number>;
  logDir: string;
  fleetNodes: number;
  /** The machine: its cores and CPU model, and the 1-minute load average at the start and the end. */
  machine: { cores: number; cpu: string; loadAtStart: number; loadAtEnd: number };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runChaos(config: ChaosConfig, print: (line: string) => void): Promise<RunResult> {
  // What the run says goes to the timeline too, once there is one, between the samples.
  let sampler: Sampler | undefined;
  const log = (line: string) => {
    print(line);
    sampler?.note(line.trim());
  };
  const startedAt = Date.now();
  const loadAtStart = loadavg()[0]!;
  const d: Deployment = await startDeployment(config, log);
  let ok = false;
  let traffic: Traffic | undefined;
  try {
    const rng = new Rng(config.seed);
    const client = new ApiClient(d.url, d.caPem, 32);
    const ledger = new Ledger();
    traffic = new Traffic({ client, adminToken: d.adminToken, ledger, rng, config, layout: d.layout, runId: d.runId });
    for (const t of traffic.tenants) await traffic.setupTenant(t, Date.now() + 60_000);
    sampler = new Sampler(d, ledger, new Set(TENANTS));
    sampler.start();
    traffic.start();
    log(`traffic: 3 tenants, ${config.opsPerTenantPerSecond} writes/s each; warm-up ${config.warmupS} s`);
    await sleep(config.warmupS * 1000);

    const faults: FaultResult[] = [];
    for (const name of config.faults) {
      const injectedAt = Date.now();
      log(`fault ${name}`);
      const r: FaultResult = { name, injectedAt, notes: [], healthyBefore: sampler.last?.ok === true };
      faults.push(r);
      try {
        const out = await FAULTS[name]({ d, client, config, traffic, ledger, rng, sampler, log });
        r.endedAt = out.endedAt;
        r.notes = out.notes;
      } catch (err) {
        r.error = (err as Error).message;
        r.endedAt = Date.now();
      }
      const recovered = await sampler.waitRecovered(r.endedAt!, r.endedAt! + config.recoverS * 1000);
      if (recovered !== undefined) r.recoveredAt = recovered;
      else r.lastSample = sampler.last;
      log(
        `  ${recovered !== undefined ? `recovered in ${((recovered - injectedAt) / 1000).toFixed(1)} s` : `NOT recovered within ${config.recoverS} s of its end`}${r.notes.length ? `; ${r.notes.join("; ")}` : ""}${r.error ? `; could not inject: ${r.error}` : ""}`,
      );
      await sleep(config.gapS * 1000);
    }
    const soak = startedAt + config.minDurationS * 1000 - Date.now();
    if (soak > 0) await sleep(soak);

    log(`traffic stopped; every check must hold within ${config.finalSettleS} s`);
    await traffic.stop();
    sampler.settleMs = 0;
    const stoppedAt = Date.now();
    const settledAt = await sampler.waitRecovered(stoppedAt, stoppedAt + config.finalSettleS * 1000);
    // The counts at the end: the last sample (of the clean streak when it settled).
    const finalSample = sampler.last;
    await sampler.stop();
    client.close();
    const result: RunResult = {
      config,
      startedAt,
      faults,
      final: { ...(settledAt !== undefined ? { settledAt } : {}), stoppedAt, ...(finalSample ? { sample: finalSample } : {}) },
      violations: sampler.violations,
      unexpected: [...d.unexpected],
      ledger: ledger.counts(),
      serverErrors: traffic.answers.filter((a) => a.status >= 500 && a.status !== 503),
      peakRss: sampler.peakRss,
      peakRuns: sampler.peakRuns,
      logDir: d.logDir,
      fleetNodes: d.layout.fleet.length,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? "unknown", loadAtStart, loadAtEnd: loadavg()[0]! },
    };
    ok = passed(result);
    return result;
  } finally {
    await traffic?.stop().catch(() => undefined);
    await sampler?.stop().catch(() => undefined);
    await d.close(!ok);
  }
}

/** Whether the run passes: every fault recovered, no safety violation, nothing died, a clean end. */
export function passed(r: RunResult): boolean {
  return (
    r.faults.every((f) => f.recoveredAt !== undefined && !f.error) &&
    r.violations.size === 0 &&
    r.unexpected.length === 0 &&
    r.serverErrors.length === 0 &&
    r.final.settledAt !== undefined &&
    r.final.sample?.ok === true
  );
}
