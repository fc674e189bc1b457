import { sameOption } from "@eiaas/api";
import type { AnyObject } from "@eiaas/client";
import { formatTable } from "./table.js";

function num(v: unknown, digits: number, unit = ""): string {
  return typeof v === "number" && Number.isFinite(v) ? `${v.toFixed(digits)}${unit}` : "-";
}

/** Bytes as kubectl-ish binary units ("588Ki", "1.2Mi"). */
export function bytes(v: unknown): string {
  if (typeof v !== "number" || !Number.isFinite(v)) return "-";
  if (v < 1024) return `${v}B`;
  const units = ["Ki", "Mi", "Gi", "Ti"];
  let x = v / 1024;
  let u = 0;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return `${x >= 100 ? x.toFixed(0) : x.toFixed(1)}${units[u]}`;
}

/**
 * An InferenceService's plan, one row per client: the concrete architecture, split point, head and
 * tail nodes, exit, variant and the predicted KPIs. Empty when there is no plan yet.
 */
export function inferencePlanTable(isvc: AnyObject, indent = ""): string {
  const clients: any[] = isvc.status?.plan?.clients ?? [];
  if (clients.length === 0) return "";
  const rows = clients.map((c) => [
    String(c.client ?? ""),
    String(c.architecture ?? ""),
    String(c.split ?? ""),
    c.headNode ?? "-",
    c.tailNode ?? "-",
    String(c.exitAfterLayer ?? ""),
    String(c.variant ?? "base"),
    num(c.predicted?.latencyMs, 1, "ms"),
    num(c.predicted?.deviceEnergyMj, 1, "mJ"),
    num(c.predicted?.accuracy, 3),
    bytes(c.predicted?.uplinkBytes),
  ]);
  const header = ["CLIENT", "ARCHITECTURE", "SPLIT", "HEAD", "TAIL", "EXIT", "VARIANT", "LATENCY", "ENERGY", "ACCURACY", "UPLINK"];
  return formatTable(rows, { header })
    .split("\n")
    .map((l) => (l ? indent + l : l))
    .join("\n");
}

/** A TrainingJob's plan as `Label: value` lines (participants, aggregator, local steps, peers). */
export function trainingPlanLines(tj: AnyObject): Array<[string, string]> {
  const plan = tj.status?.plan;
  if (!plan) return [];
  const out: Array<[string, string]> = [["Participants", (plan.participants ?? []).join(", ") || "<none>"]];
  out.push(["Aggregator", plan.aggregator ?? "<none>"]);
  if (plan.localSteps !== undefined) out.push(["Local steps", String(plan.localSteps)]);
  for (const [node, peers] of Object.entries((plan.peers ?? {}) as Record<string, string[]>)) out.push([`Peers of ${node}`, peers.join(", ")]);
  return out;
}

/**
 * Per client of an InferenceService's plan: the latency the plan predicted, what the client
 * measured with that plan (median and requests, from `status.measured`) and how far apart they are.
 * Empty when there is no plan yet.
 */
export function clientLatencyTable(isvc: AnyObject, indent = ""): string {
  const clients: any[] = isvc.status?.plan?.clients ?? [];
  if (clients.length === 0) return "";
  const measured: any[] = isvc.status?.measured ?? [];
  const rows = clients.map((c) => {
    const m = measured.find((x) => sameOption(x, c));
    const predicted = c.predicted?.latencyMs;
    const off = m && typeof predicted === "number" && predicted > 0 ? `${m.latencyMs >= predicted ? "+" : ""}${(((m.latencyMs - predicted) / predicted) * 100).toFixed(0)}%` : "-";
    return [String(c.client ?? ""), num(predicted, 1, "ms"), m ? num(m.latencyMs, 1, "ms") : "-", off, m ? String(m.count) : "-", m?.observedTime ?? "-"];
  });
  return formatTable(rows, { header: ["CLIENT", "PREDICTED", "MEASURED", "OFF", "REQUESTS", "OBSERVED"] })
    .split("\n")
    .map((l) => (l ? indent + l : l))
    .join("\n");
}
