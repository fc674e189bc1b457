import { Router, type NextFunction, type Request, type Response } from "express";
import { API_VERSION, edgeNodeSpec, kindInfo, labels as labelsSchema } from "@eiaas/api";
import { StoreError, type ObjectStore, type StoredObject, type TokenStore } from "@eiaas/db";
import { z } from "zod";
import { ApiError, invalidFromZod } from "../http/errors.js";
import { param } from "./resources.js";

const NODE = kindInfo("EdgeNode");

/** What a registering agent receives to reach its own queue. */
export interface QueueCredentials {
  url: string;
  username?: string;
  password?: string;
}

export interface LeaseRenewer {
  renew(nodeName: string, holder: string, now: Date): Promise<void>;
}

export interface AgentRouteDeps {
  store: ObjectStore;
  tokens: TokenStore;
  leases: LeaseRenewer;
  /** Redis ACL credentials limited to `bull:node.<name>:*`; absent in the embedded (Postgres queue) mode. */
  queueCredentials?: (nodeName: string) => Promise<QueueCredentials>;
  onRevoke: () => void;
  /** Heartbeats only rewrite lastHeartbeatTime this often (the lease carries liveness). Default 30 s. */
  heartbeatStatusEveryMs?: number;
}

const registerBody = z.union([
  z.strictObject({ metadata: z.strictObject({ labels: labelsSchema.optional() }).optional(), spec: edgeNodeSpec }),
  edgeNodeSpec,
]);

const heartbeatBody = z.strictObject({
  uplinkMbps: z.number().nonnegative().optional(),
  rttMs: z.number().nonnegative().optional(),
  runningTasks: z.array(z.string()).max(10_000).optional(),
  agent: z.strictObject({ version: z.string().optional(), runtime: z.string().optional() }).optional(),
});

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

/** A measured link differs enough from the recorded one to be worth a write (and a re-plan check). */
function linkChanged(prev: number | undefined, next: number | undefined): boolean {
  if (next === undefined) return false;
  if (prev === undefined) return true;
  return Math.abs(next - prev) > Math.max(0.05 * Math.abs(prev), 1e-6);
}

/**
 * The agent endpoints of DESIGN §3: `register` (bootstrap token → the node's EdgeNode, a fresh agent
 * token scoped to it and credentials for its own queue) and `heartbeat` (agent token of that node →
 * lease renewal, Ready status, measured link).
 */
export function agentRouter(deps: AgentRouteDeps): Router {
  const r = Router();

  r.post(
    "/edgenodes/:name/register",
    wrap(async (req, res) => {
      const p = req.principal!;
      if (p.role !== "bootstrap" && p.role !== "admin") throw new ApiError("Forbidden", `${p.role} tokens cannot register nodes: use a bootstrap token`);
      const name = param(req, "name");
      const parsed = registerBody.safeParse(req.body ?? {});
      if (!parsed.success) throw invalidFromZod("EdgeNode", name, parsed.error, "spec");
      const body = parsed.data as { metadata?: { labels?: Record<string, string> }; spec?: z.infer<typeof edgeNodeSpec> } & Partial<z.infer<typeof edgeNodeSpec>>;
      const spec = (body.spec ?? body) as z.infer<typeof edgeNodeSpec>;
      const labels = body.metadata?.labels ?? {};
      const current = await deps.store.get(NODE, undefined, name);
      let node: StoredObject;
      if (!current) {
        node = await deps.store.create(NODE, { apiVersion: API_VERSION, metadata: { name, labels }, spec, status: {} }).catch(async (err) => {
          const raced = await deps.store.get(NODE, undefined, name);
          if (!raced) throw err;
          return raced;
        });
      } else {
        // What the agent detects replaces the hardware description; what admins decide stays.
        const merged = { ...spec, taints: current.spec.taints ?? [], unschedulable: current.spec.unschedulable ?? false };
        node = await deps.store.update(NODE, current, { ...current, metadata: { ...current.metadata, labels: { ...current.metadata.labels, ...labels } }, spec: merged });
      }
      await deps.tokens.revokeAll({ role: "agent", nodeName: name });
      deps.onRevoke();
      const minted = await deps.tokens.mint({ role: "agent", nodeName: name, name: `agent-${name}`.slice(0, 253) });
      const queue = deps.queueCredentials ? await deps.queueCredentials(name) : { url: "" };
      res.status(201).json({
        apiVersion: API_VERSION,
        kind: "AgentRegistration",
        metadata: { name },
        node: { name: node.metadata.name, uid: node.metadata.uid },
        token: minted.token,
        queue,
      });
    }),
  );

  r.post(
    "/edgenodes/:name/heartbeat",
    wrap(async (req, res) => {
      const p = req.principal!;
      const name = param(req, "name");
      if (p.role !== "admin" && !(p.role === "agent" && p.nodeName === name)) {
        throw new ApiError("Forbidden", `${p.role} token "${p.name}" cannot heartbeat for node "${name}"`);
      }
      const parsed = heartbeatBody.safeParse(req.body ?? {});
      if (!parsed.success) throw invalidFromZod("Heartbeat", name, parsed.error);
      const hb = parsed.data;
      const now = new Date();
      const node = await deps.store.get(NODE, undefined, name);
      if (!node) throw new ApiError("NotFound", `edgenodes "${name}" not found`, { name, kind: "edgenodes" });
      await deps.leases.renew(name, p.name, now);
      const status = { ...(node.status ?? {}) };
      const wasReady = status.phase === "Ready";
      const measured = { ...(status.measured ?? {}) };
      const changedLink = linkChanged(measured.uplinkMbps, hb.uplinkMbps) || linkChanged(measured.rttMs, hb.rttMs);
      if (hb.uplinkMbps !== undefined) measured.uplinkMbps = hb.uplinkMbps;
      if (hb.rttMs !== undefined) measured.rttMs = hb.rttMs;
      const last = Date.parse(status.lastHeartbeatTime ?? "") || 0;
      const tasksChanged = hb.runningTasks !== undefined && JSON.stringify([...hb.runningTasks].sort()) !== JSON.stringify(status.runningTasks ?? []);
      const stale = now.getTime() - last >= (deps.heartbeatStatusEveryMs ?? 30_000);
      if (!wasReady || changedLink || tasksChanged || stale || (hb.agent && JSON.stringify(hb.agent) !== JSON.stringify(status.agent))) {
        const ts = now.toISOString();
        const conditions = (status.conditions ?? []).filter((c: { type: string }) => c.type !== "Ready");
        const prevReady = (status.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
        conditions.push({
          type: "Ready",
          status: "True",
          reason: "AgentHeartbeat",
          message: "the node agent is posting heartbeats",
          lastTransitionTime: prevReady?.status === "True" ? (prevReady.lastTransitionTime ?? ts) : ts,
        });
        const next = {
          ...status,
          phase: "Ready",
          conditions,
          lastHeartbeatTime: ts,
          ...(Object.keys(measured).length ? { measured } : {}),
          ...(hb.runningTasks !== undefined ? { runningTasks: [...hb.runningTasks].sort() } : {}),
          ...(hb.agent ? { agent: hb.agent } : {}),
        };
        // A concurrent status write (the lifecycle controller) wins; the next heartbeat retries.
        // A status over the object size limit is the agent's to hear of (413), not a race.
        await deps.store.updateStatus(NODE, node, next).catch((err: unknown) => {
          if (err instanceof StoreError && err.reason === "RequestEntityTooLarge") throw err;
        });
      }
      res.status(204).end();
    }),
  );
  return r;
}
