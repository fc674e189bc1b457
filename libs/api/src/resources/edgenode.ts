import { z } from "zod";
import { condition, dnsSubdomain, listMap, taint } from "../meta.js";
import { baseStatusShape, objectSchema, type ApiObject } from "./object.js";
import { gflopsByOperator } from "../operators.js";

export const nodeTier = z.enum(["device", "edge", "cloud"]);
export type NodeTier = z.infer<typeof nodeTier>;

const nonneg = z.number().nonnegative();

export const edgeNodeSpec = z.strictObject({
  tier: nodeTier,
  /** The node this one reaches the network through: device → edge → cloud (a node name). */
  parent: dnsSubdomain.optional(),
  /** Hardware class matched against model profiles (e.g. `jetson-nano`). */
  hardware: z.string().optional(),
  capacity: z
    .strictObject({
      cpu: nonneg.default(0).describe("millicores"),
      memoryMiB: nonneg.default(0),
      gpu: z.number().int().nonnegative().default(0),
      acceleratorTops: nonneg.default(0),
      /** Most unfinished tasks at once: the agent's slots (Kubernetes' `pods` capacity). Unset: no limit. */
      tasks: z.number().int().positive().optional().describe("most unfinished tasks at once (the agent's --slots); unset: no limit"),
    })
    .default({ cpu: 0, memoryMiB: 0, gpu: 0, acceleratorTops: 0 }),
  /** Effective DNN speed, used when the model has no measured profile for this hardware. */
  compute: z.strictObject({ gflops: nonneg.default(0), gflopsByOperator: gflopsByOperator.optional() }).default({ gflops: 0 }),
  power: z.strictObject({ computeW: nonneg.default(0), transmitW: nonneg.default(0), idleW: nonneg.default(0) }).default({ computeW: 0, transmitW: 0, idleW: 0 }),
  /** The link to the parent node. */
  network: z.strictObject({ uplinkMbps: nonneg.default(0), downlinkMbps: nonneg.default(0), rttMs: nonneg.default(0) }).default({ uplinkMbps: 0, downlinkMbps: 0, rttMs: 0 }),
  taints: z.array(taint).meta(listMap("key", "effect")).default([]),
  unschedulable: z.boolean().default(false),
});
export type EdgeNodeSpec = z.infer<typeof edgeNodeSpec>;
export type EdgeNodeSpecInput = z.input<typeof edgeNodeSpec>;

export const nodeAllocation = z.strictObject({
  cpu: nonneg.default(0),
  memoryMiB: nonneg.default(0),
  gpu: nonneg.default(0),
  /** Busy fraction of the server from the clients whose tails it runs. */
  load: nonneg.default(0),
});
export type NodeAllocation = z.infer<typeof nodeAllocation>;

export const edgeNodeStatus = z.strictObject({
  ...baseStatusShape,
  phase: z.enum(["Ready", "NotReady"]).optional(),
  conditions: z.array(condition).optional(),
  allocated: nodeAllocation.optional(),
  lastHeartbeatTime: z.string().optional(),
  measured: z.strictObject({ uplinkMbps: nonneg.optional(), rttMs: nonneg.optional() }).optional(),
  agent: z.strictObject({ version: z.string().optional(), runtime: z.string().optional() }).optional(),
  /** The tasks the agent reported running at its last heartbeat, as `<namespace>/<name>` (admins and the node's agent only). */
  runningTasks: z.array(z.string()).optional(),
  /**
   * How many tasks the agent reported running: what tenants see instead of `runningTasks`, whose
   * names (workload names included) belong to every tenant's workloads on the node. Set by the API
   * server in tenants' answers (what the agent reports is the list).
   */
  runningTaskCount: z.number().int().nonnegative().optional(),
});
export type EdgeNodeStatus = z.infer<typeof edgeNodeStatus>;

export const edgeNodeObject = objectSchema("EdgeNode", edgeNodeSpec, edgeNodeStatus);
export type EdgeNode = ApiObject<EdgeNodeSpec, EdgeNodeStatus>;
