// The run's report: per fault its time to recover, the counts at the end, every safety violation,
// and why the run failed.
import { findingList, type Sample } from "./sampler.js";
import { passed, type RunResult } from "./scenario.js";

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

function findingsSummary(sample: Sample | undefined, examples = 3): string[] {
  if (!sample) return ["  no sample"];
  if (sample.error) return [`  checks could not run: ${sample.error}`];
  const out: string[] = [];
  for (const [check, items] of findingList(sample.findings!)) {
    if (!items.length) continue;
    out.push(`  ${check}: ${items.length}`);
    for (const x of items.slice(0, examples)) out.push(`    - ${x}`);
  }
  return out.length ? out : ["  every check held"];
}

export function formatReport(r: RunResult): string {
  const c = r.config;
  const lines: string[] = [];
  lines.push(`chaos (${c.preset}, seed ${c.seed}): ${r.fleetNodes} simulated nodes + ${c.agents} standalone agents, 2 API servers behind a TCP balancer, 2 schedulers, Redis, Postgres`);
  const m = r.machine;
  lines.push(`machine: ${m.cores} cores (${m.cpu}); load average (1 min) ${m.loadAtStart.toFixed(1)} at the start, ${m.loadAtEnd.toFixed(1)} at the end`);
  lines.push("");
  lines.push(`time to recover: from the injection to the first sample, after the fault's end, from which every check held for ${Math.max(c.graceS, c.stuckS, c.settleS)} s`);
  lines.push("fault                    time to recover   (fault lasted)   notes");
  for (const f of r.faults) {
    const recover = f.recoveredAt !== undefined ? s(f.recoveredAt - f.injectedAt) : "NOT RECOVERED";
    const lasted = f.endedAt !== undefined ? s(f.endedAt - f.injectedAt) : "-";
    lines.push(`${f.name.padEnd(24)} ${recover.padEnd(17)} (${lasted})`.padEnd(60) + `${[...f.notes, ...(f.error ? [`could not inject: ${f.error}`] : [])].join("; ")}`);
    if (!f.healthyBefore) lines.push("  (some check already failed when it was injected: see the fault before)");
    if (f.recoveredAt === undefined) {
      lines.push(`  at the deadline (${c.recoverS} s after the fault ended):`);
      lines.push(...findingsSummary(f.lastSample).map((l) => `  ${l}`));
    }
  }
  lines.push("");
  const end = r.final.sample;
  lines.push(`at the end (traffic stopped, ${r.final.settledAt !== undefined ? `every check held ${s(r.final.settledAt - r.final.stoppedAt)} after` : `NOT settled within ${c.finalSettleS} s`}):`);
  if (end?.findings) {
    const f = end.findings;
    lines.push(
      `  ghost runs ${f.ghosts.length}, reported ghosts ${f.reportedGhosts.length}, lost runs ${f.lostRuns.length}, stuck Dispatched ${f.stuck.length}, orphans ${f.orphans.length}, unsettled workloads ${f.unsettled.length}`,
    );
    lines.push(
      `  over-commit ${f.overCommit.length}, quota breaches ${f.quotaBreach.length}, usage mismatches ${f.usageMismatch.length}, lost ${f.ledger.lost.length}, resurrected ${f.ledger.resurrected.length}, stale edits ${f.ledger.staleEdits.length}, phantoms ${f.ledger.phantoms.length}`,
    );
  }
  if (end?.findings) {
    const st = end.findings.stats;
    const fmt = (o: Record<string, number>) =>
      Object.entries(o)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ") || "none";
    lines.push(`  workloads: ${fmt(st.workloads)}; tasks: ${fmt(st.tasks)}; runs: ${fmt(st.runs)}`);
  }
  if (!end?.ok) lines.push(...findingsSummary(end, 5));
  lines.push("");
  lines.push(`safety at every sample: ${r.violations.size === 0 ? "held" : "VIOLATED"}`);
  for (const [check, v] of r.violations) {
    lines.push(`  ${check}: in ${v.samples} samples, first ${s(v.first - r.startedAt)} into the run`);
    for (const x of [...v.examples].slice(0, 5)) lines.push(`    - ${x}`);
  }
  const l = r.ledger;
  lines.push(
    `writes: ${l.ops} sent, ${l.acked} acknowledged (${Object.entries(l.byType)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}), ${l.rejected} refused, ${l.unknown} unanswered`,
  );
  lines.push(`server errors (5xx other than 503): ${r.serverErrors.length}`);
  for (const a of r.serverErrors.slice(0, 5)) lines.push(`  - ${a.status} ${s(a.at - r.startedAt)} in: ${a.what}`);
  lines.push(`processes that exited on their own: ${r.unexpected.length ? r.unexpected.map((u) => `${u.name} (${u.signal ?? `code ${u.code}`}, ${s(u.at - r.startedAt)} in)`).join(", ") : "none"}`);
  lines.push(`most task attempts running at once: ${[...r.peakRuns].map(([k, v]) => `${k} ${v}`).join(", ") || "none"}`);
  lines.push(`peak resident memory: ${[...r.peakRss].map(([n, b]) => `${n} ${Math.round(b / 2 ** 20)} MiB`).join(", ")}`);
  lines.push(`process logs: ${r.logDir}`);
  lines.push("");
  lines.push(passed(r) ? "PASSED" : "FAILED");
  return lines.join("\n");
}
