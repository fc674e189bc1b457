// The chaos run's options, from the environment (`CHAOS_*`), over a preset: `full` (the default,
// `npm run chaos`: the deployment and every fault), `short` (`CHAOS_PRESET=short`: a
// smaller fleet and shorter faults, ~10 minutes) or `ci` (`CHAOS_PRESET=ci`: the form
// `scripts/chaos/chaos.test.ts` runs in `npm test`, ~2.5 minutes of faults and checks: a 20-node
// fleet, one standalone agent, 2 s heartbeats and a subset of the faults that still has every
// kind of fault the issue names but the fleet kill and the burst).

/** Every fault the run knows, in the order a full run injects them. */
export const FAULT_NAMES = ["scheduler-leader-kill", "api-server-kill", "fleet-kill", "redis-kill", "postgres-stop", "agent-stop", "burst", "finalizers", "tenant-recreate"] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export interface ChaosConfig {
  preset: "full" | "short" | "ci";
  /** Seeds every random choice of the traffic and the faults (which objects, which agent, ...). */
  seed: number;
  /** Nodes of the simulated fleet (one process). */
  fleetNodes: number;
  /** Standalone agents (`apps/agent/src/main.ts`, one process each, process runtime). */
  agents: number;
  /** Writes per second of each of the three tenants. */
  opsPerTenantPerSecond: number;
  /** Live workloads each tenant keeps around (it creates below, deletes above). */
  workloadsPerTenant: number;
  faults: FaultName[];
  /** Traffic before the first fault, seconds. */
  warmupS: number;
  /** Traffic between a fault's recovery and the next fault, seconds. */
  gapS: number;
  /** Least run time (traffic included) in seconds: the run goes on without faults until then. */
  minDurationS: number;
  /** A fault not recovered this long after it ended fails the run (the "within 60 s"). */
  recoverS: number;
  /** After the last fault, traffic stops and every check must hold within this many seconds. */
  finalSettleS: number;
  /** A task Dispatched longer than this on a Ready node is stuck (the 60 s). */
  stuckS: number;
  /** A workload last written this long ago must be Running, Succeeded or explicitly Unschedulable. */
  settleS: number;
  /** A ghost, a lost run or an orphan seen for less than this is in flight, not yet counted. */
  graceS: number;
  /** Interval between two samples of every check, ms. */
  sampleMs: number;
  /** The agents' heartbeat period (`--heartbeat-seconds`; the fleet's nodes too). */
  heartbeatS: number;
  /** The scheduler's node grace and eviction periods (EIAAS_NODE_GRACE/EVICTION_SECONDS). */
  nodeGraceS: number;
  nodeEvictionS: number;
  /** How long Postgres stays stopped. */
  postgresOutageS: number;
  /** How long a SIGSTOPped agent stays stopped past its node's grace and eviction periods. */
  pastEvictionS: number;
  /** How long a killed process stays down before it is started again (API server, fleet, Redis). */
  restartAfterS: number;
  /** Objects created at once by the burst fault. */
  burst: number;
  /** Where every process' output goes; kept after the run. */
  logDir?: string;
}

function num(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const raw = env[key];
  if (raw === undefined || raw === "") return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0) throw new Error(`${key}: "${raw}" is not a non-negative number`);
  return v;
}

const PRESETS: Record<ChaosConfig["preset"], Omit<ChaosConfig, "preset" | "seed" | "logDir">> = {
  full: {
    fleetNodes: 200,
    agents: 3,
    opsPerTenantPerSecond: 1,
    workloadsPerTenant: 16,
    faults: [...FAULT_NAMES],
    warmupS: 30,
    gapS: 5,
    minDurationS: 0,
    recoverS: 60,
    finalSettleS: 60,
    stuckS: 60,
    settleS: 30,
    graceS: 10,
    sampleMs: 2_000,
    // The product's defaults.
    heartbeatS: 10,
    nodeGraceS: 40,
    nodeEvictionS: 60,
    postgresOutageS: 20,
    // The scheduler's resync (2 s) acts on both, with room to spare.
    pastEvictionS: 10,
    restartAfterS: 5,
    burst: 500,
  },
  short: {
    fleetNodes: 40,
    agents: 3,
    opsPerTenantPerSecond: 1,
    workloadsPerTenant: 6,
    faults: ["scheduler-leader-kill", "api-server-kill", "fleet-kill", "redis-kill", "postgres-stop", "burst", "finalizers", "tenant-recreate"],
    warmupS: 10,
    gapS: 1,
    minDurationS: 0,
    recoverS: 45,
    finalSettleS: 45,
    // Recovery counts once every check held for the longest of these: 15 s a fault at least.
    stuckS: 15,
    settleS: 15,
    graceS: 6,
    sampleMs: 1_000,
    // Agents heartbeat every 10 s: a grace under ~20 s would mark healthy nodes NotReady.
    heartbeatS: 10,
    nodeGraceS: 20,
    nodeEvictionS: 10,
    postgresOutageS: 8,
    pastEvictionS: 10,
    restartAfterS: 2,
    burst: 100,
  },
  ci: {
    fleetNodes: 20,
    agents: 1,
    opsPerTenantPerSecond: 0.5,
    workloadsPerTenant: 4,
    faults: ["scheduler-leader-kill", "api-server-kill", "redis-kill", "postgres-stop", "agent-stop", "finalizers", "tenant-recreate"],
    warmupS: 5,
    gapS: 1,
    minDurationS: 0,
    // Deadlines, not speeds: a loaded CI machine only makes recovery later, and each fault has
    // 90 s after its end before the run fails.
    recoverS: 90,
    finalSettleS: 90,
    // Recovery counts once every check held for 10 s.
    stuckS: 10,
    settleS: 10,
    graceS: 5,
    sampleMs: 1_000,
    // Heartbeats every 2 s: NotReady after 4 missed, eviction 4 s later (an agent stopped 17 s).
    heartbeatS: 2,
    nodeGraceS: 8,
    nodeEvictionS: 4,
    postgresOutageS: 10,
    pastEvictionS: 5,
    restartAfterS: 1,
    burst: 50,
  },
};

/** Reads the options; throws one message naming the variable on a bad value. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): ChaosConfig {
  const preset = (env.CHAOS_PRESET || "full") as ChaosConfig["preset"];
  if (!(preset in PRESETS)) throw new Error(`CHAOS_PRESET: "${preset}" is not one of ${Object.keys(PRESETS).join(", ")}`);
  const p = PRESETS[preset];
  let faults = p.faults;
  if (env.CHAOS_FAULTS !== undefined) {
    const names = env.CHAOS_FAULTS.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const unknown = names.filter((n) => !(FAULT_NAMES as readonly string[]).includes(n));
    if (unknown.length) throw new Error(`CHAOS_FAULTS: unknown fault ${unknown.join(", ")} (known: ${FAULT_NAMES.join(", ")})`);
    faults = names as FaultName[];
  }
  const c: ChaosConfig = {
    preset,
    seed: num(env, "CHAOS_SEED", Math.floor(Math.random() * 1e9)),
    fleetNodes: num(env, "CHAOS_NODES", p.fleetNodes),
    agents: num(env, "CHAOS_AGENTS", p.agents),
    opsPerTenantPerSecond: num(env, "CHAOS_RATE", p.opsPerTenantPerSecond),
    workloadsPerTenant: num(env, "CHAOS_WORKLOADS", p.workloadsPerTenant),
    faults,
    warmupS: num(env, "CHAOS_WARMUP_S", p.warmupS),
    gapS: num(env, "CHAOS_GAP_S", p.gapS),
    minDurationS: num(env, "CHAOS_DURATION_S", p.minDurationS),
    recoverS: num(env, "CHAOS_RECOVER_S", p.recoverS),
    finalSettleS: num(env, "CHAOS_FINAL_SETTLE_S", p.finalSettleS),
    stuckS: num(env, "CHAOS_STUCK_S", p.stuckS),
    settleS: num(env, "CHAOS_SETTLE_S", p.settleS),
    graceS: num(env, "CHAOS_GRACE_S", p.graceS),
    sampleMs: num(env, "CHAOS_SAMPLE_MS", p.sampleMs),
    heartbeatS: num(env, "CHAOS_HEARTBEAT_S", p.heartbeatS),
    nodeGraceS: num(env, "CHAOS_NODE_GRACE_S", p.nodeGraceS),
    nodeEvictionS: num(env, "CHAOS_NODE_EVICTION_S", p.nodeEvictionS),
    postgresOutageS: num(env, "CHAOS_PG_OUTAGE_S", p.postgresOutageS),
    pastEvictionS: num(env, "CHAOS_PAST_EVICTION_S", p.pastEvictionS),
    restartAfterS: num(env, "CHAOS_RESTART_AFTER_S", p.restartAfterS),
    burst: num(env, "CHAOS_BURST", p.burst),
    ...(env.CHAOS_LOG_DIR ? { logDir: env.CHAOS_LOG_DIR } : {}),
  };
  if (c.fleetNodes < 20) throw new Error("CHAOS_NODES: the fleet needs at least 20 nodes (clouds, edges and client groups)");
  if (c.agents < 1 && c.faults.includes("agent-stop")) throw new Error("CHAOS_AGENTS: the agent-stop fault needs a standalone agent");
  return c;
}
