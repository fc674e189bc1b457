import type { ClientPlan, ModelSpec } from "@eiaas/api";
import { compileModel, type ChainTiming } from "../cost/chains.js";
import type { ModelMeasurements } from "../cost/measurements.js";
import type { SnapshotNode } from "../snapshot/types.js";
import type { Snapshot } from "../snapshot/snapshot.js";
import { networkPath, transferMs } from "../snapshot/network.js";

/**
 * Re-evaluates the latency of an existing client plan on the snapshot as it is now (Edgent's
 * dynamic mode: measured links change under a running plan). Same cost model as the planner
 * (design.md §5). Infinity when a node of the plan or a path between them is gone; undefined when the
 * plan's chain no longer exists in the model. `measured`: what serving tasks measured of the model
 * (`Snapshot.measurementsOf`), used where present as the planner uses it.
 */
export function predictClientLatency(snapshot: Snapshot, model: ModelSpec, plan: ClientPlan, measured?: ModelMeasurements): number | undefined {
  const chain = compileModel(model).chains.find((c) => c.variant === plan.variant && c.exitAfterLayer === plan.exitAfterLayer);
  if (!chain) return undefined;
  const node = (name: string | undefined) => (name === undefined ? undefined : snapshot.nodes[snapshot.nodeIndex(name)]);
  const client = node(plan.client);
  if (!client) return Infinity;
  const j = plan.split;
  const n = chain.length;
  const timing = (node: SnapshotNode): ChainTiming => chain.timing(node, measured?.get(node.name));
  const move = (bytes: number, from: string, to: string) => {
    const p = networkPath(snapshot, from, to);
    return p ? transferMs(bytes, p.bandwidthMbps, p.rttMs) : Infinity;
  };
  const tail = node(plan.tailNode);
  if (plan.architecture === "device") return timing(client).prefixT[n]!;
  if (plan.architecture === "edge-cloud") {
    const head = node(plan.headNode);
    if (!head || !tail) return Infinity;
    return move(chain.splitBytes[0]!, client.name, head.name) + timing(head).prefixT[j]! + move(chain.splitBytes[j]!, head.name, tail.name) + timing(tail).suffixT[j]!;
  }
  if (!tail) return Infinity;
  return (j === 0 ? 0 : timing(client).prefixT[j]!) + move(chain.splitBytes[j]!, client.name, tail.name) + timing(tail).suffixT[j]!;
}
