/**
 * Why a workload was not placed, coded as kube-scheduler's framework codes a failed Filter, so
 * preemption knows when it can help without reading messages:
 *
 * - `Unschedulable`: only room was missing — every part that could not be placed was refused by
 *   an allocation check (cpu, memory, gpu, task slots, load: `FilterPlugin.dependsOnAllocation`,
 *   the inference planner's per-split fit). Evicting lower-priority tasks may make it fit.
 * - `UnschedulableAndUnresolvable`: something eviction cannot change — a node selector, taint,
 *   readiness, tier or privacy boundary, the network, an SLO, the architecture, a missing model,
 *   too few data nodes, or the tenant's quota (preemption never takes a tenant over it).
 */
export type UnschedulableCode = "Unschedulable" | "UnschedulableAndUnresolvable";

/** `Unschedulable` when every part failed for room alone, else `UnschedulableAndUnresolvable`. */
export function unschedulableCode(roomOnly: boolean): UnschedulableCode {
  return roomOnly ? "Unschedulable" : "UnschedulableAndUnresolvable";
}
