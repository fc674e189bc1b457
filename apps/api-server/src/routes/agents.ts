import { Router, type NextFunction, type Request, type Response } from "express";
import { API_VERSION, kindInfo } from "@eiaas/api";
import { StoreError, type ObjectStore, type StoredObject, type TokenStore } from "@eiaas/db";
import { withTimeout } from "@eiaas/telemetry";
import { z } from "zod";
import { bearerSecret } from "../http/auth.js";
import { ApiError, invalid, invalidFromZod, notFound } from "../http/errors.js";
import { createRegisteredNode, nodeNameParam, parseRegistration, registrationMode, undoBootstrapRegistration, updateRegisteredNode } from "./registration.js";
import { param } from "./resources.js";

const NODE = kindInfo("EdgeNode");
/** How long a heartbeat waits for its lease renewal. */
const LEASE_RENEW_TIMEOUT_MS = 2_000;

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

/**
 * A running task as `<namespace>/<name>` (tasks of two tenants may share a name on one node). A
 * bare name is what agents before this format sent: still accepted, so a node does not go
 * NotReady while its agent is upgraded after the API.
 */
const runningTask = z
  .string()
  .max(320)
  .regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, "must be <namespace>/<name> of a task");

const heartbeatBody = z.strictObject({
  uplinkMbps: z.number().nonnegative().optional(),
  rttMs: z.number().nonnegative().optional(),
  runningTasks: z.array(runningTask).max(10_000).optional(),
  /** Whether the agent can consume its queue (absent: not the agent's to tell, e.g. a simulated fleet's shared transport). */
  queue: z.strictObject({ ready: z.boolean(), message: z.string().max(512).optional() }).optional(),
  agent: z.strictObject({ version: z.string().max(64).optional(), runtime: z.string().max(64).optional() }).optional(),
});

/**
 * The node's Ready condition as its heartbeat says: True while the agent posts heartbeats and can
 * consume its queue; False (reason QueueUnavailable) while it cannot — as kubelet reports
 * Ready=False while its container runtime is down — so the scheduler places nothing there.
 */
function readyCondition(queue: { ready: boolean; message?: string } | undefined): { status: "True" | "False"; reason: string; message: string } {
  if (queue && !queue.ready) return { status: "False", reason: "QueueUnavailable", message: `the node agent ${queue.message ?? "cannot consume its queue"}` };
  return { status: "True", reason: "AgentHeartbeat", message: "the node agent is posting heartbeats" };
}

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

/** A measured link differs enough from the recorded one to be worth a write (and a re-plan check). */
function linkChanged(prev: number | undefined, next: number | undefined): boolean {
  if (next === undefined) return false;
  if (prev === undefined) return true;
  return Math.abs(next - prev) > Math.max(0.05 * Math.abs(prev), 1e-6);
}

/** Mints the node's agent token from the hash of the secret its agent chose; a hash in use is the agent's 422. */
async function mintChosenToken(deps: AgentRouteDeps, name: string, tokenSha256: string): Promise<void> {
  try {
    await deps.tokens.mintWithHash({ role: "agent", nodeName: name, name: `agent-${name}`.slice(0, 253) }, tokenSha256);
  } catch (err) {
    if (!(err instanceof StoreError && err.reason === "Invalid")) throw err;
    throw invalid("EdgeNode", name, [{ field: "credential.tokenSha256", reason: "FieldValueInvalid", message: err.message }]);
  }
}

/**
 * The agent endpoints of design.md §3. `register`: with a bootstrap token, a node that does not exist
 * yet (409 for an existing name, which stays untouched), an agent token scoped to it and credentials
 * for its own queue; with the node's own agent token, a renewal (same token, fresh queue
 * credentials, tier and capacity no higher than allowed: `renewalCeiling`); with an admin token,
 * anything (a new agent token, the old ones revoked). `heartbeat` (agent token of that node):
 * lease renewal, Ready status (False while the agent cannot consume its queue), measured link,
 * running tasks.
 */
export function agentRouter(deps: AgentRouteDeps): Router {
  const r = Router();
  r.post(
    "/edgenodes/:name/register",
    wrap((req, res) => registerNode(deps, req, res)),
  );
  r.post(
    "/edgenodes/:name/heartbeat",
    wrap((req, res) => heartbeat(deps, req, res)),
  );
  return r;
}

/** `POST …/edgenodes/NAME/register`: the node created or updated, the agent's token and queue credentials. */
async function registerNode(deps: AgentRouteDeps, req: Request, res: Response): Promise<void> {
  const name = nodeNameParam(param(req, "name"));
  const mode = registrationMode(req, name);
  const registration = parseRegistration(name, req.body);
  const node: StoredObject = mode === "bootstrap" ? await createRegisteredNode(deps, req, registration) : await updateRegisteredNode(deps, mode, registration);
  let token: string | undefined;
  let queue: QueueCredentials;
  try {
    if (mode === "renewal") {
      // The node keeps its credential: a rotation would strand an agent that stopped between
      // this answer and writing the new token down.
      token = bearerSecret(req.headers.authorization)!;
    } else {
      await deps.tokens.revokeAll({ role: "agent", nodeName: name });
      deps.onRevoke();
      // A token the agent chose (only its hash sent) is not in the answer: the agent kept it
      // before asking, so losing this answer cannot strand the node (it renews with it).
      if (registration.tokenSha256) await mintChosenToken(deps, name, registration.tokenSha256);
      else token = (await deps.tokens.mint({ role: "agent", nodeName: name, name: `agent-${name}`.slice(0, 253) })).token;
    }
    queue = deps.queueCredentials ? await deps.queueCredentials(name) : { url: "" };
  } catch (err) {
    // A new node whose agent gets no token would be stranded (the bootstrap token cannot take
    // an existing node): it goes, and the agent's retry registers it. A renewal or an admin's
    // registration is simply tried again (the node's own token or the admin's still works).
    if (mode === "bootstrap") await undoBootstrapRegistration(deps, req, node);
    throw err;
  }
  res.status(201).json({
    apiVersion: API_VERSION,
    kind: "AgentRegistration",
    metadata: { name },
    node: { name: node.metadata.name, uid: node.metadata.uid },
    ...(token !== undefined ? { token } : {}),
    queue,
  });
}

/** `POST …/edgenodes/NAME/heartbeat`: the lease renewed; the node's status written when it changed or went stale. */
async function heartbeat(deps: AgentRouteDeps, req: Request, res: Response): Promise<void> {
  const p = req.principal!;
  const name = nodeNameParam(param(req, "name"));
  if (p.role !== "admin" && !(p.role === "agent" && p.nodeName === name)) {
    throw new ApiError("Forbidden", `${p.role} token "${p.name}" cannot heartbeat for node "${name}"`);
  }
  const parsed = heartbeatBody.safeParse(req.body ?? {});
  if (!parsed.success) throw invalidFromZod("Heartbeat", name, parsed.error);
  const hb = parsed.data;
  const now = new Date();
  const node = await deps.store.get(NODE, undefined, name);
  if (!node) throw notFound("edgenodes", name);
  // The lease store is Redis when configured: while it is away the lease cannot be renewed, but
  // the agent's news (its queue is unusable too, most likely) is still written below.
  // Bounded: a client that queues commands while Redis is away would hold the heartbeat until it returns.
  const leaseError = await withTimeout(deps.leases.renew(name, p.name, now), LEASE_RENEW_TIMEOUT_MS, "node lease").then(
    () => undefined,
    (err: unknown) => err,
  );
  const status = { ...(node.status ?? {}) };
  const ready = readyCondition(hb.queue);
  const prevReady = (status.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
  // Status and reason, not the message: an agent's error text may vary from one probe to the next.
  const readyChanged = status.phase !== (ready.status === "True" ? "Ready" : "NotReady") || prevReady?.reason !== ready.reason;
  const measured = { ...(status.measured ?? {}) };
  const changedLink = linkChanged(measured.uplinkMbps, hb.uplinkMbps) || linkChanged(measured.rttMs, hb.rttMs);
  if (hb.uplinkMbps !== undefined) measured.uplinkMbps = hb.uplinkMbps;
  if (hb.rttMs !== undefined) measured.rttMs = hb.rttMs;
  const last = Date.parse(status.lastHeartbeatTime ?? "") || 0;
  const tasksChanged = hb.runningTasks !== undefined && JSON.stringify([...hb.runningTasks].sort()) !== JSON.stringify(status.runningTasks ?? []);
  const stale = now.getTime() - last >= (deps.heartbeatStatusEveryMs ?? 30_000);
  if (readyChanged || changedLink || tasksChanged || stale || (hb.agent && JSON.stringify(hb.agent) !== JSON.stringify(status.agent))) {
    const ts = now.toISOString();
    const conditions = (status.conditions ?? []).filter((c: { type: string }) => c.type !== "Ready");
    conditions.push({ type: "Ready", ...ready, lastTransitionTime: prevReady?.status === ready.status ? (prevReady.lastTransitionTime ?? ts) : ts });
    const next = {
      ...status,
      phase: ready.status === "True" ? "Ready" : "NotReady",
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
  if (leaseError) throw new ApiError("ServiceUnavailable", "the node lease could not be renewed (its store is unavailable); retry later", { retryAfterSeconds: 1 });
  res.status(204).end();
}
