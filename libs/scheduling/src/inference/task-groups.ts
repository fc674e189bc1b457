// Tasks being planned for a service: clients whose splits put layers of one chain on one node
// share a task, and what adding a client's split to it asks of the node.
import type { Chain } from "../cost/chains.js";
import type { ServiceContext } from "./service-context.js";

export const SIDE_HEAD = 0;
export const SIDE_TAIL = 1;

/** A task group's key in `ServiceContext.groups`. */
export function groupKey(ctx: ServiceContext, node: number, chain: number, side: number): number {
  return (node * ctx.chainTotal + chain) * 2 + side;
}

// The request delta of the last `groupFits` call, read by `applyGroup` (no allocation per option).
let dCpu = 0;
let dMem = 0;
let dGpu = 0;

/**
 * Whether adding the layers of split j (head side: 1..j; tail side: j+1..N) to the node's task
 * for this chain fits the node: a new task asks for the service's `resources` plus its layers'
 * memory; an existing one only for the memory of layers it does not run yet.
 */
export function groupFits(ctx: ServiceContext, node: number, chain: Chain, side: number, j: number): boolean {
  const g = ctx.groups.get(groupKey(ctx, node, chain.index, side));
  const r = ctx.resources;
  if (side === SIDE_HEAD) {
    if (!g) {
      dCpu = r.cpu;
      dGpu = r.gpu;
      dMem = r.memoryMiB + chain.memPrefix[j]!;
    } else {
      dCpu = 0;
      dGpu = 0;
      dMem = j > g.to ? chain.memPrefix[j]! - chain.memPrefix[g.to]! : 0;
    }
  } else if (!g) {
    dCpu = r.cpu;
    dGpu = r.gpu;
    dMem = r.memoryMiB + chain.memSuffix[j]!;
  } else {
    dCpu = 0;
    dGpu = 0;
    dMem = j + 1 < g.from ? chain.memSuffix[j]! - chain.memSuffix[g.from - 1]! : 0;
  }
  // A new group is a new task on the node: it needs a task slot beside those opened before it.
  return ctx.snapshot.fits(node, dCpu, dMem, dGpu, g ? 0 : 1 + (ctx.newTasksOn.get(node) ?? 0));
}

/** Adds a client's split to the node's task for the chain and reserves the difference in the snapshot. */
export function applyGroup(ctx: ServiceContext, node: number, chain: Chain, side: number, j: number, load: number, client: number): void {
  groupFits(ctx, node, chain, side, j);
  ctx.snapshot.adjustNode(node, dCpu, dMem, dGpu, load);
  const key = groupKey(ctx, node, chain.index, side);
  let g = ctx.groups.get(key);
  if (!g) {
    g = side === SIDE_HEAD ? { node, chain: chain.index, side, from: 1, to: j, load: 0, clients: [] } : { node, chain: chain.index, side, from: j + 1, to: chain.length, load: 0, clients: [] };
    ctx.groups.set(key, g);
    ctx.newTasksOn.set(node, (ctx.newTasksOn.get(node) ?? 0) + 1);
  } else if (side === SIDE_HEAD) g.to = Math.max(g.to, j);
  else g.from = Math.min(g.from, j + 1);
  g.load += load;
  g.clients.push(client);
}
