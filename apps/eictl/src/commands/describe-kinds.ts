// Spec and status summaries of each kind for `describe`.
import { DEFAULT_LOST_DEADLINE_SECONDS } from "@eiaas/api";
import type { AnyObject } from "@eiaas/client";
import { age } from "../output/age.js";
import { DescribeWriter, pairs, selectorText, type Field } from "../output/describe-writer.js";
import { sparkline } from "../output/sparkline.js";
import { bytes, clientLatencyTable, inferencePlanTable, trainingPlanLines } from "../output/plan.js";

function num(v: unknown, unit = ""): string | undefined {
  return typeof v === "number" && Number.isFinite(v) ? `${Number.isInteger(v) ? v : Number(v.toFixed(3))}${unit}` : undefined;
}

function resources(r: any): string | undefined {
  if (!r) return undefined;
  return `cpu ${r.cpu ?? 0}m, memory ${r.memoryMiB ?? 0}Mi, gpu ${r.gpu ?? 0}`;
}

function when(ts: string | undefined): string | undefined {
  return ts ? `${ts} (${age(ts)} ago)` : undefined;
}

function tolerations(list: any[] | undefined): string | undefined {
  if (!list?.length) return undefined;
  return list.map((t) => `${t.key ?? "<all>"}${t.operator === "Exists" ? "" : `=${t.value ?? ""}`}${t.effect ? `:${t.effect}` : ""}`).join("\n");
}

function edgeNode(w: DescribeWriter, o: AnyObject): void {
  const s = o.spec ?? {};
  const st = o.status ?? {};
  w.title("Spec").fields(
    [
      ["Tier", s.tier],
      ["Parent", s.parent ?? "<none>"],
      ["Hardware", s.hardware ?? "<none>"],
      ["Capacity", `cpu ${s.capacity?.cpu ?? 0}m, memory ${s.capacity?.memoryMiB ?? 0}Mi, gpu ${s.capacity?.gpu ?? 0}, accelerator ${s.capacity?.acceleratorTops ?? 0} TOPS`],
      ["Compute", `${s.compute?.gflops ?? 0} GFLOPS`],
      ["Power", `compute ${s.power?.computeW ?? 0} W, transmit ${s.power?.transmitW ?? 0} W, idle ${s.power?.idleW ?? 0} W`],
      ["Network", `uplink ${s.network?.uplinkMbps ?? 0} Mbit/s, downlink ${s.network?.downlinkMbps ?? 0} Mbit/s, rtt ${s.network?.rttMs ?? 0} ms`],
      ["Taints", s.taints?.length ? s.taints.map((t: any) => `${t.key}${t.value ? `=${t.value}` : ""}:${t.effect}`).join("\n") : "<none>"],
      ["Unschedulable", String(s.unschedulable === true)],
    ],
    1,
  );
  const a = st.allocated ?? {};
  w.title("Status").fields(
    [
      ["Phase", st.phase ?? "<unknown>"],
      [
        "Allocated",
        `cpu ${a.cpu ?? 0}/${s.capacity?.cpu ?? 0}m, memory ${a.memoryMiB ?? 0}/${s.capacity?.memoryMiB ?? 0}Mi, gpu ${a.gpu ?? 0}/${s.capacity?.gpu ?? 0}, load ${(a.load ?? 0).toFixed(2)}`,
      ],
      ["Last heartbeat", when(st.lastHeartbeatTime) ?? "<never>"],
      ["Measured", st.measured ? `uplink ${st.measured.uplinkMbps ?? "-"} Mbit/s, rtt ${st.measured.rttMs ?? "-"} ms` : undefined],
      ["Agent", st.agent ? `${st.agent.version ?? "?"} (${st.agent.runtime ?? "?"} runtime)` : undefined],
    ],
    1,
  );
}

function tenant(w: DescribeWriter, o: AnyObject): void {
  const q = o.spec?.quota ?? {};
  const u = o.status?.usage ?? {};
  const used = (k: string, unit: string) => `${u[k] ?? 0}${q[k] !== undefined ? `/${q[k]}` : ""}${unit}${q[k] === undefined ? " (no quota)" : ""}`;
  w.title("Spec").fields(
    [
      ["Weight", num(o.spec?.weight ?? 1)],
      ["Max priority", num(o.spec?.maxPriority) ?? "<server default>"],
      ...(["models", "inferenceservices", "trainingjobs"] as const).map((r): [string, string] => [`Max ${r}`, num(q[`count/${r}`]) ?? "<server default>"]),
    ],
    1,
  );
  w.title("Usage").fields(
    [
      ["CPU", used("cpu", "m")],
      ["Memory", used("memoryMiB", "Mi")],
      ["GPU", used("gpu", "")],
      ["Tasks", used("tasks", "")],
      ["Dominant share", (o.status?.dominantShare ?? 0).toFixed(3)],
    ],
    1,
  );
  w.fields([["Status", o.metadata.deletionTimestamp ? "Terminating" : "Active"]]);
}

function model(w: DescribeWriter, o: AnyObject): void {
  const s = o.spec ?? {};
  const layers: any[] = s.layers ?? [];
  const gflop = layers.reduce((t, l) => t + (l.flops ?? 0), 0) / 1e9;
  const mib = layers.reduce((t, l) => t + (l.memoryMiB ?? 0), 0);
  w.title("Spec").fields(
    [
      ["Input", bytes(s.inputBytes)],
      ["Accuracy", num(s.accuracy)],
      ["Layers", `${layers.length} (${gflop.toFixed(2)} GFLOP, ${mib.toFixed(2)} MiB of weights)`],
      ["Exits", s.exits?.length ? s.exits.map((e: any) => `after layer ${e.afterLayer}: accuracy ${e.accuracy}`).join("\n") : "<none>"],
      ["Variants", s.variants?.length ? s.variants.map((v: any) => `${v.name}: accuracy ${v.accuracy}, ${v.layers?.length ?? 0} layers`).join("\n") : "<none>"],
      ["Profiles", s.profiles?.length ? s.profiles.map((p: any) => p.hardware).join(", ") : "<none> (latency from flops / node GFLOPS)"],
      ["Capabilities", s.capabilities?.length ? s.capabilities.join(", ") : "<none>"],
      ["Image", s.image ?? "<none>"],
    ],
    1,
  );
}

/** `part of requests (rate%)`, the rate as the status states it (hits or skips / requests). */
function share(count: unknown, rate: unknown): string | undefined {
  if (typeof count !== "number") return undefined;
  return `${count}${typeof rate === "number" && Number.isFinite(rate) ? ` (${(rate * 100).toFixed(1)}%)` : ""}`;
}

/** `status.serving`: what the service's entries answered and how much of it was reused (caching, input filter). */
function servingFields(sv: any): Field[] {
  if (!sv || typeof sv !== "object") return [];
  return [
    ["Requests", num(sv.requests)],
    ["Cache hits", share(sv.cacheHits, sv.cacheHitRate)],
    ["Cache misses", num(sv.cacheMisses)],
    ["Filter skips", share(sv.filterSkips, sv.filterSkipRate)],
  ];
}

function inferenceService(w: DescribeWriter, o: AnyObject): void {
  const s = o.spec ?? {};
  const slo: string[] = [];
  if (s.slo?.latencyMs !== undefined) slo.push(`latency <= ${s.slo.latencyMs}ms`);
  if (s.slo?.minAccuracy !== undefined) slo.push(`accuracy >= ${s.slo.minAccuracy}`);
  if (s.slo?.maxDeviceEnergyMj !== undefined) slo.push(`device energy <= ${s.slo.maxDeviceEnergyMj}mJ`);
  w.title("Spec").fields(
    [
      ["Model", s.model],
      ["Clients", `${selectorText(s.clients?.selector)} (${s.clients?.requestsPerSecond ?? 0} req/s each)`],
      ["Architecture", s.architecture ?? "auto"],
      ["Objective", s.objective ?? "latency"],
      ["SLO", slo.length ? slo.join(", ") : "<none>"],
      ["Raw data", `stays within ${s.privacy?.rawDataBoundary ?? "cloud"}`],
      ["Resources", resources(s.resources)],
      ["Node selector", Object.keys(s.nodeSelector ?? {}).length ? pairs(s.nodeSelector) : undefined],
      ["Tolerations", tolerations(s.tolerations)],
      ["Priority", num(s.priority ?? 0)],
      ["Image", s.template?.image],
      ["Caching", s.caching ? `${s.caching.maxEntries ?? "-"} answers for ${s.caching.ttlSeconds ?? "-"}s` : "<none>"],
      ["Input filter", s.inputFilter ? `below ${s.inputFilter.threshold} mean absolute difference` : "<none>"],
    ],
    1,
  );
  w.fields([["Phase", o.status?.phase ?? "Pending"]]);
  const serving = servingFields(o.status?.serving);
  if (serving.length) w.title("Serving").fields(serving, 1);
  const plan = inferencePlanTable(o);
  if (plan) {
    w.title("Plan").block(plan, 1);
    w.title("Latency").block(clientLatencyTable(o), 1);
  } else w.fields([["Plan", "<none>"]]);
  const eps: any[] = o.status?.endpoints ?? [];
  if (eps.length)
    w.table(
      "Endpoints",
      ["NODE", "ROLE", "TASK", "ADDRESS", "LATENCY"],
      eps.map((e) => [e.node, e.role, e.task, e.address ?? "<none>", num(e.predicted?.latencyMs, "ms") ?? "-"]),
    );
}

function trainingJob(w: DescribeWriter, o: AnyObject): void {
  const s = o.spec ?? {};
  const agg = s.aggregation ?? {};
  const comp = s.compression ?? {};
  w.title("Spec").fields(
    [
      ["Model", s.model],
      ["Mode", s.mode],
      ["Data", `${selectorText(s.data?.selector)}${s.data?.sizeBytes !== undefined ? ` (${bytes(s.data.sizeBytes)} per node)` : ""}`],
      ["Participants", `min ${s.participants?.min ?? 1}, max ${s.participants?.max ?? "unlimited"}, lost deadline ${s.participants?.lostDeadlineSeconds ?? DEFAULT_LOST_DEADLINE_SECONDS}s`],
      ["Rounds", num(s.rounds ?? 1)],
      ["Local steps", `${agg.localSteps ?? 1}${agg.localSteps === "auto" ? ` (at most ${agg.maxLocalSteps ?? 100})` : ""}`],
      ["Budget", agg.budget?.seconds !== undefined ? `${agg.budget.seconds}s` : undefined],
      ["Compression", comp.type && comp.type !== "none" ? `${comp.type}${comp.ratio !== undefined ? ` ratio ${comp.ratio}` : ""}${comp.bits !== undefined ? ` ${comp.bits} bits` : ""}` : "none"],
      ["Raw data", s.mode === "centralized" ? `stays within ${s.privacy?.rawDataBoundary ?? "cloud"}` : undefined],
      ["Resources", resources(s.resources)],
      ["Priority", num(s.priority ?? 0)],
    ],
    1,
  );
  w.fields([
    ["Phase", o.status?.phase ?? "Pending"],
    ["Round", o.status?.round !== undefined ? `${o.status.round}/${s.rounds ?? 1}` : undefined],
  ]);
  const plan: Field[] = trainingPlanLines(o);
  if (plan.length) w.title("Plan").fields(plan, 1);
  else w.fields([["Plan", "<none>"]]);
  trainingProgress(w, s.training, o.status?.training);
}

/** Real training: what it trains, the latest KPIs and the loss and accuracy curves over the rounds kept. */
function trainingProgress(w: DescribeWriter, t: any, p: any): void {
  if (!t) return;
  w.title("Training").fields(
    [
      ["Data", `${t.dataset?.name}${t.dataset?.name === "synthetic" ? ` (α ${t.dataset.alpha}, β ${t.dataset.beta})` : ""}`],
      ["Model", `${t.model}${t.model === "mlp" ? ` (${t.hidden} hidden)` : ""}, η ${t.learningRate}, batch ${t.batchSize}`],
      ["Stop at", t.targetLoss !== undefined ? `loss ≤ ${t.targetLoss}` : undefined],
    ],
    1,
  );
  if (!p) return void w.fields([["Progress", "<no round yet>"]], 1);
  const h: any[] = p.history ?? [];
  const last = h[h.length - 1];
  w.fields(
    [
      ["Round", `${p.round}${p.stoppedBecause ? ` (stopped: ${p.stoppedBecause})` : ""}${p.resumedFrom !== undefined ? `, resumed from ${p.resumedFrom}` : ""}`],
      ["Loss", p.loss !== undefined ? p.loss.toFixed(4) : undefined],
      ["Accuracy", p.accuracy !== undefined ? `${(100 * p.accuracy).toFixed(1)}% held-out` : undefined],
      ["τ", num(p.tau)],
      ["Bytes", `${bytes(p.bytesUp ?? 0)} up, ${bytes(p.bytesDown ?? 0)} down`],
      ["Budget used", p.budgetUsedSeconds !== undefined ? `${p.budgetUsedSeconds.toFixed(1)}s` : undefined],
      [
        "Last round",
        last
          ? `${last.wallSeconds.toFixed(2)}s, ${last.participants} participant(s)${last.missed?.length ? `, missed ${last.missed.join(", ")}` : ""}${last.energyJoules !== undefined ? `, ${last.energyJoules.toFixed(2)} J` : ""}`
          : undefined,
      ],
    ],
    1,
  );
  if (h.length > 1) {
    const span = `rounds ${h[0].round}..${last.round}`;
    w.fields(
      [
        ["Loss curve", `${sparkline(h.map((r) => r.loss))}  ${h[0].loss?.toFixed(3)} → ${last.loss?.toFixed(3)} (${span})`],
        ["Accuracy curve", `${sparkline(h.map((r) => r.accuracy))}  ${h[0].accuracy?.toFixed(3)} → ${last.accuracy?.toFixed(3)}`],
      ],
      1,
    );
  }
}

function task(w: DescribeWriter, o: AnyObject): void {
  const s = o.spec ?? {};
  const st = o.status ?? {};
  const owner = (o.metadata.ownerReferences ?? []).map((r: any) => `${r.kind}/${r.name}`).join(", ");
  w.fields([
    ["Controlled by", owner || undefined],
    ["Node", s.nodeName ?? "<none>"],
    ["Role", s.role],
    ["Layers", s.layers ? `${s.layers.from}..${s.layers.to}` : undefined],
    ["Image", s.template?.image],
    ["Resources", resources(s.resources)],
    ["Phase", st.phase ?? "Pending"],
    ["Attempt", num(st.attempt)],
    ["Exit code", num(st.exitCode)],
    ["Reason", st.reason],
    ["Message", st.message],
    ["Endpoint", st.endpoint],
    ["Started", when(st.startTime)],
    ["Finished", when(st.finishTime)],
  ]);
}

function event(w: DescribeWriter, o: any): void {
  const io = o.involvedObject ?? {};
  w.fields([
    ["Involved object", `${io.kind}/${io.name}${io.namespace ? ` (namespace ${io.namespace})` : ""}`],
    ["Type", o.type],
    ["Reason", o.reason],
    ["Message", o.message],
    ["Count", num(o.count)],
    ["First seen", when(o.firstTimestamp)],
    ["Last seen", when(o.lastTimestamp)],
    ["From", o.source?.component],
  ]);
}

/** Writes the kind's spec and status summary. */
export function describeKind(w: DescribeWriter, o: AnyObject): void {
  switch (o.kind) {
    case "EdgeNode":
      return edgeNode(w, o);
    case "Tenant":
      return tenant(w, o);
    case "Model":
      return model(w, o);
    case "InferenceService":
      return inferenceService(w, o);
    case "TrainingJob":
      return trainingJob(w, o);
    case "Task":
      return task(w, o);
    case "Event":
      return event(w, o);
  }
}
