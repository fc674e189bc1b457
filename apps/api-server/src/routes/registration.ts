import { isDeepStrictEqual } from "node:util";
import type { Request } from "express";
import { API_VERSION, dnsSubdomain, edgeNodeSpec, issuesToCauses, kindInfo, labels as labelsSchema, retry, type EdgeNodeSpec, type RetryClock, type StatusCause } from "@eiaas/api";
import { StoreError, type ObjectStore, type StoredObject, type TokenStore } from "@eiaas/db";
import { z } from "zod";
import { ApiError, invalid, invalidFromZod, notFound } from "../http/errors.js";
import { bearerSecret, unauthorized } from "../http/auth.js";

const NODE = kindInfo("EdgeNode");

/**
 * The annotation in which registration keeps what a node's own registrations may reach and what
 * they sent. JSON: `{"allowed": Limits, "registered": Limits, "spec": AgentSpec, "pinned": [field]}`
 * — `allowed` is the ceiling, `registered` the tier and capacity and `spec` the description the
 * last registration sent (to tell an admin's later edit of a field apart from it), `pinned` the
 * fields found edited by an admin so far, which stay the admin's even once the agent sends the same
 * value (an admin hands one back by removing it here, or by registering the node). `spec` and
 * `pinned` are absent in records written before they existed.
 */
export const REGISTRATION_ANNOTATION = "eiaas.io/registration";

const TIER_RANK = { device: 0, edge: 1, cloud: 2 } as const;

const limitsSchema = z.object({
  tier: z.enum(["device", "edge", "cloud"]),
  capacity: z.object({
    cpu: z.number(),
    memoryMiB: z.number(),
    gpu: z.number(),
    acceleratorTops: z.number(),
    tasks: z.number().optional(),
  }),
});
/** The part of a node's spec its own registrations may not raise. */
type Limits = z.infer<typeof limitsSchema>;
const recordSchema = z.object({
  allowed: limitsSchema,
  registered: limitsSchema,
  spec: z.record(z.string(), z.unknown()).optional(),
  pinned: z.array(z.string()).optional(),
});
type RegistrationRecord = z.infer<typeof recordSchema>;

/**
 * The fields of a node's spec that its agent describes, each kept by itself: an admin's edit of one
 * survives the agent's later registrations. Taints and cordon are not among them: after creation
 * they belong to admins and the node lifecycle controller.
 */
const AGENT_FIELDS = [
  "tier",
  "parent",
  "hardware",
  "capacity.cpu",
  "capacity.memoryMiB",
  "capacity.gpu",
  "capacity.acceleratorTops",
  "capacity.tasks",
  "compute.gflops",
  "power.computeW",
  "power.transmitW",
  "power.idleW",
  "network.uplinkMbps",
  "network.downlinkMbps",
  "network.rttMs",
] as const;

type Fields = Record<string, unknown>;

function getField(spec: Fields, path: string): unknown {
  const [a, b] = path.split(".") as [string, string | undefined];
  const v = spec[a];
  return b === undefined ? v : (v as Fields | undefined)?.[b];
}

function setField(spec: Fields, path: string, value: unknown): void {
  const [a, b] = path.split(".") as [string, string | undefined];
  if (b === undefined) {
    if (value === undefined) delete spec[a];
    else spec[a] = value;
    return;
  }
  const section = { ...((spec[a] as Fields | undefined) ?? {}) };
  if (value === undefined) delete section[b];
  else section[b] = value;
  spec[a] = section;
}

/** The agent-described fields of `spec`, flat (`capacity.cpu`: 4000): what the record keeps. */
function agentFields(spec: EdgeNodeSpec): Fields {
  const out: Fields = {};
  for (const f of AGENT_FIELDS) {
    const v = getField(spec, f);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

/** The record in a node's annotation, if it holds one that parses. */
function readRecord(node: StoredObject): RegistrationRecord | undefined {
  try {
    const parsed = recordSchema.safeParse(JSON.parse(node.metadata.annotations?.[REGISTRATION_ANNOTATION] ?? "null"));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined; // Not JSON (edited by hand).
  }
}

/**
 * The fields of `current` an admin set: those pinned before, and those that differ from what the
 * last registration sent. Without a record (an admin replaced or removed it) every field is the
 * admin's; a record from before `spec` was kept tells only tier and capacity apart.
 */
export function adminSetFields(current: StoredObject): Set<string> {
  const record = readRecord(current);
  if (!record) return new Set(AGENT_FIELDS);
  const sent: Fields = record.spec ?? Object.fromEntries([["tier", record.registered.tier], ...Object.entries(record.registered.capacity).map(([k, v]) => [`capacity.${k}`, v])]);
  const known = new Set(record.spec ? AGENT_FIELDS : Object.keys(sent));
  const pinned = new Set((record.pinned ?? []).filter((f) => (AGENT_FIELDS as readonly string[]).includes(f)));
  for (const f of AGENT_FIELDS) {
    if (known.has(f) && !isDeepStrictEqual(getField(current.spec, f), sent[f])) pinned.add(f);
  }
  return pinned;
}

/** `requested` with the fields an admin set kept as they are in `current`. */
function keepAdminSet(requested: EdgeNodeSpec, current: EdgeNodeSpec, edited: Set<string>): EdgeNodeSpec {
  // Field by field from the same type: each value written is one `current` holds at that path.
  const spec = structuredClone(requested);
  for (const f of edited) setField(spec, f, structuredClone(getField(current, f)));
  return spec;
}

/**
 * `{metadata: {labels}, spec, credential?: {tokenSha256}}`, or the bare spec (as older agents send
 * it). `credential`: the SHA-256 (hex) of the agent token the agent generated and already keeps;
 * the node's token is then that one, and the answer carries none (see `agentRouter`).
 */
const registerBody = z.strictObject({
  metadata: z.strictObject({ labels: labelsSchema.optional() }).optional(),
  spec: edgeNodeSpec,
  credential: z.strictObject({ tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, "must be the SHA-256 of the token, 64 lowercase hex digits") }).optional(),
});

function limitsOf(spec: Pick<EdgeNodeSpec, "tier" | "capacity">): Limits {
  const c = spec.capacity ?? { cpu: 0, memoryMiB: 0, gpu: 0, acceleratorTops: 0 };
  return {
    tier: spec.tier,
    capacity: { cpu: c.cpu ?? 0, memoryMiB: c.memoryMiB ?? 0, gpu: c.gpu ?? 0, acceleratorTops: c.acceleratorTops ?? 0, ...(c.tasks !== undefined ? { tasks: c.tasks } : {}) },
  };
}

/**
 * What a renewal of `node` may reach. The ceiling is the node's tier and capacity as an admin last
 * set them (created or edited the EdgeNode, or registered it with an admin token) or, failing
 * that, as its first registration (bootstrap token) wrote them. Renewals may lower them (what the
 * agent detects now) and raise them back up to the ceiling, never above it. An admin's edit is
 * recognised field by field (`adminSetFields`): an edited field's value is its ceiling (and, being
 * the admin's, what the node keeps). An admin may also raise the ceiling alone by editing
 * `allowed` in the annotation. Without a record (not JSON, edited by hand) the spec as it stands
 * is the ceiling.
 */
export function renewalCeiling(node: StoredObject, pinned: ReadonlySet<string> = adminSetFields(node)): Limits {
  const current = limitsOf(node.spec);
  const record = readRecord(node);
  if (!record) return current;
  const allowed: Limits = { tier: pinned.has("tier") ? current.tier : record.allowed.tier, capacity: { ...record.allowed.capacity } };
  for (const k of ["cpu", "memoryMiB", "gpu", "acceleratorTops", "tasks"] as const) {
    if (!pinned.has(`capacity.${k}`)) continue;
    const v = current.capacity[k];
    if (v === undefined) delete allowed.capacity[k];
    else allowed.capacity[k] = v;
  }
  return allowed;
}

/** The fields of `requested` above `allowed` (a higher tier, more of any capacity, unlimited tasks). */
export function raisedFields(requested: Limits, allowed: Limits): StatusCause[] {
  const causes: StatusCause[] = [];
  const above = (field: string, value: unknown, limit: unknown) =>
    causes.push({ field, reason: "FieldValueForbidden", message: `${String(value)} is above the ${String(limit)} this node was allowed; only an admin can raise it` });
  if (TIER_RANK[requested.tier] > TIER_RANK[allowed.tier]) above("spec.tier", requested.tier, allowed.tier);
  for (const k of ["cpu", "memoryMiB", "gpu", "acceleratorTops"] as const) {
    if (requested.capacity[k] > allowed.capacity[k]) above(`spec.capacity.${k}`, requested.capacity[k], allowed.capacity[k]);
  }
  const want = requested.capacity.tasks ?? Infinity;
  const limit = allowed.capacity.tasks ?? Infinity;
  if (want > limit) above("spec.capacity.tasks", requested.capacity.tasks ?? "unlimited", limit);
  return causes;
}

/** A node name from a URL: the object name rules (lowercase RFC 1123 subdomain), else 422. */
export function nodeNameParam(name: string): string {
  const r = dnsSubdomain.safeParse(name);
  if (!r.success) throw invalid("EdgeNode", name, issuesToCauses(r.error, "metadata.name"));
  return name;
}

/** How a register request is allowed: who asks decides what it may do. */
export type RegistrationMode =
  /** A bootstrap token: a node that does not exist yet, and one use of the token. */
  | "bootstrap"
  /** The node's own agent token: the existing node, within its ceiling; the token is kept. */
  | "renewal"
  /** An admin token: any node, any spec; a new agent token. */
  | "admin";

export function registrationMode(req: Request, name: string): RegistrationMode {
  const p = req.principal!;
  if (p.role === "admin") return "admin";
  if (p.role === "bootstrap") return "bootstrap";
  if (p.role === "agent") {
    if (p.nodeName === name) return "renewal";
    throw new ApiError("Forbidden", `agent token "${p.name}" cannot register node "${name}": an agent token renews its own node's registration only`);
  }
  throw new ApiError("Forbidden", `${p.role} tokens cannot register nodes: use a bootstrap token`);
}

export interface RegistrationRequest {
  name: string;
  spec: EdgeNodeSpec;
  labels: Record<string, string>;
  /** SHA-256 (hex) of the agent token the agent chose, when it chose one. */
  tokenSha256?: string;
}

export function parseRegistration(name: string, body: unknown): RegistrationRequest {
  const b = body ?? {};
  if (typeof b === "object" && !Array.isArray(b) && ("spec" in b || "metadata" in b)) {
    const parsed = registerBody.safeParse(b);
    if (!parsed.success) throw invalidFromZod("EdgeNode", name, parsed.error);
    return { name, spec: parsed.data.spec, labels: parsed.data.metadata?.labels ?? {}, ...(parsed.data.credential ? { tokenSha256: parsed.data.credential.tokenSha256 } : {}) };
  }
  const parsed = edgeNodeSpec.safeParse(b);
  if (!parsed.success) throw invalidFromZod("EdgeNode", name, parsed.error, "spec");
  return { name, spec: parsed.data, labels: {} };
}

/** The record of a registration that sent `sent`, under the ceiling `allowed`, with the fields an admin set. */
function recordAnnotation(allowed: Limits, sent: EdgeNodeSpec, pinned: ReadonlySet<string> = new Set()): string {
  return JSON.stringify({ allowed, registered: limitsOf(sent), spec: agentFields(sent), ...(pinned.size ? { pinned: AGENT_FIELDS.filter((f) => pinned.has(f)) } : {}) });
}

/**
 * Writes the registration of a node that does not exist (bootstrap token): one use of the token is
 * spent first (401 when none is left), and given back when the name turns out to be taken (409).
 * An existing node is never touched: its identity belongs to its own agent token and to admins.
 */
export async function createRegisteredNode(deps: { store: ObjectStore; tokens: TokenStore }, req: Request, r: RegistrationRequest): Promise<StoredObject> {
  const exists = () =>
    new ApiError("AlreadyExists", `edgenodes "${r.name}" already exists: a bootstrap token registers new nodes only (the node renews with its own agent token)`, { name: r.name, kind: "edgenodes" });
  if (await deps.store.get(NODE, undefined, r.name)) throw exists();
  const secret = bearerSecret(req.headers.authorization);
  if (!secret || !(await deps.tokens.spendBootstrapUse(secret))) throw unauthorized();
  const limits = limitsOf(r.spec);
  try {
    return await deps.store.create(NODE, {
      apiVersion: API_VERSION,
      metadata: { name: r.name, labels: r.labels, annotations: { [REGISTRATION_ANNOTATION]: recordAnnotation(limits, r.spec) } },
      spec: r.spec,
      status: {},
    });
  } catch (err) {
    await deps.tokens.refundBootstrapUse(secret).catch(() => undefined);
    if (err instanceof StoreError && err.reason === "AlreadyExists") throw exists();
    throw err;
  }
}

/** How long a failed registration keeps trying to take itself back (the fault may last). */
const UNDO_FOR_MS = 120_000;

/**
 * Takes back a bootstrap registration that failed after {@link createRegisteredNode} created its
 * node — the database or Redis away as the agent token was minted or the queue user provisioned.
 * No agent holds that node's token, so left in place the node answered every retry 409 and stayed
 * stranded until an admin deleted it. Revokes what was minted for it, deletes the node (the same
 * one: by uid, whoever wrote it since — no agent can have; its kept Redis user goes with it; a
 * provisioned Redis user is harmless, its password never handed out and reset by the next
 * registration) and gives the token's use back, so the agent's retry registers it again. The fault
 * that failed the registration may still be there: what fails is tried again in the background,
 * backing off, for {@link UNDO_FOR_MS}; the answer (the original error) does not wait for it.
 */
export async function undoBootstrapRegistration(deps: { store: ObjectStore; tokens: TokenStore }, req: Request, node: StoredObject): Promise<void> {
  const secret = bearerSecret(req.headers.authorization);
  let deleted = false;
  const undo = async () => {
    await deps.tokens.revokeAll({ role: "agent", nodeName: node.metadata.name });
    if (!deleted) {
      const current = await deps.store.get(NODE, undefined, node.metadata.name);
      if (current?.metadata.uid === node.metadata.uid) await deps.store.delete(NODE, current);
      deleted = true;
    }
    if (secret) await deps.tokens.refundBootstrapUse(secret);
  };
  await undo().catch(() => void retry(undo, { initialMs: 500, maxMs: 10_000, maxElapsedMs: UNDO_FOR_MS, clock: UNREF_CLOCK }).catch(() => undefined));
}

/** The system clock, whose pauses do not keep the process up (a background undo must not delay a shutdown). */
const UNREF_CLOCK: RetryClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
};

/** Most attempts at an update that keeps meeting concurrent writers (lifecycle controller, heartbeats). */
const MAX_ATTEMPTS = 30;

/**
 * Re-registers an existing node (renewal: within its ceiling; admin: anything; an admin may also
 * create it). What the agent describes replaces the spec, field by field, except the fields an
 * admin edited since the agent's last registration (see `adminSetFields`) and taints and cordon,
 * which stay; labels are merged. The update is conditional on the version it read: on a conflict
 * (the node lifecycle controller, a heartbeat wrote meanwhile) it reads again and retries.
 */
export async function updateRegisteredNode(deps: { store: ObjectStore }, mode: "renewal" | "admin", r: RegistrationRequest): Promise<StoredObject> {
  const requested = limitsOf(r.spec);
  /** Whether the last try created the node (a concurrent create then answers AlreadyExists). */
  let creating = false;
  const raced = (err: unknown) => err instanceof StoreError && (err.reason === "Conflict" || (err.reason === "AlreadyExists" && creating));
  // Writers that keep colliding step apart a little: 5 ms doubling to 50 ms, jittered.
  return retry(
    async () => {
      const current = await deps.store.get(NODE, undefined, r.name);
      creating = !current;
      if (!current) {
        if (mode === "renewal") throw notFound("edgenodes", r.name, `edgenodes "${r.name}" not found: it was deleted; register it anew with a bootstrap token`);
        return await deps.store.create(NODE, {
          apiVersion: API_VERSION,
          metadata: { name: r.name, labels: r.labels, annotations: { [REGISTRATION_ANNOTATION]: recordAnnotation(requested, r.spec) } },
          spec: r.spec,
          status: {},
        });
      }
      let allowed = requested;
      // What the agent describes replaces the spec, but for the fields an admin set since its last
      // registration: those stay as the admin left them (renewals only: an admin's registration sets all).
      let described = r.spec;
      let pinned = new Set<string>();
      if (mode === "renewal") {
        pinned = adminSetFields(current);
        allowed = renewalCeiling(current, pinned);
        described = keepAdminSet(r.spec, current.spec, pinned);
        const raised = raisedFields(limitsOf(described), allowed);
        if (raised.length) {
          throw new ApiError("Forbidden", `edgenodes "${r.name}": ${raised.map((c) => `${c.field}: ${c.message}`).join("; ")}`, { name: r.name, kind: "edgenodes", causes: raised });
        }
      }
      const spec = { ...described, taints: current.spec.taints ?? [], unschedulable: current.spec.unschedulable ?? false };
      const labels = { ...current.metadata.labels, ...r.labels };
      const annotations = { ...current.metadata.annotations, [REGISTRATION_ANNOTATION]: recordAnnotation(allowed, r.spec, pinned) };
      // An agent restarting with the same description changes nothing: no write, no watch event.
      if (isDeepStrictEqual(spec, current.spec) && isDeepStrictEqual(labels, current.metadata.labels ?? {}) && isDeepStrictEqual(annotations, current.metadata.annotations ?? {})) return current;
      return await deps.store.update(NODE, current, { ...current, metadata: { ...current.metadata, labels, annotations }, spec });
    },
    { initialMs: 5, maxMs: 50, maxAttempts: MAX_ATTEMPTS, retryable: raced },
  );
}
