// `npm run chaos`: the chaos suite of the issue "Converge after every fault". Starts the
// multi-process deployment on this machine, drives three tenants' traffic, injects each fault in
// turn, checks after each and at the end, prints each fault's time to recover and exits non-zero
// when any check failed. Options: the head of ./config.ts (CHAOS_PRESET=short or ci for the
// shorter forms, CHAOS_FAULTS, CHAOS_NODES, CHAOS_SEED, ...).
import { loadConfig } from "./config.js";
import { abandonRun } from "./processes.js";
import { formatReport } from "./report.js";
import { passed, runChaos } from "./scenario.js";

const t0 = Date.now();
const log = (line: string) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);

let config;
try {
  config = loadConfig();
} catch (err) {
  console.error(`error: ${(err as Error).message}`);
  process.exit(2);
}
// Interrupted: nothing of the run is left behind (processes, Postgres, its files).
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the deployment`);
    void abandonRun().finally(() => process.exit(130));
  });
}
log(`preset ${config.preset}, seed ${config.seed} (CHAOS_SEED=${config.seed} repeats this run's choices)`);
try {
  const result = await runChaos(config, log);
  console.log(`\n${formatReport(result)}`);
  process.exit(passed(result) ? 0 : 1);
} catch (err) {
  console.error(`error: the chaos run could not complete: ${(err as Error).message}`);
  process.exit(2);
}
