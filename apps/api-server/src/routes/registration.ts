import { isDeepStrictEqual } from "node:util";
import type { Request } from "express";
import { API_VERSION, dnsSubdomain, edgeNodeSpec, issuesToCauses, kindInfo, labels as labelsSchema, type EdgeNodeSpec, type StatusCause } from "@eiaas/api";
import { StoreError, type ObjectStore, type StoredObject, type TokenStore } from "@eiaas/db";
import { z } from "zod";
import { ApiError, invalid, invalidFromZod, notFound } from "../http/errors.js";
import { bearerSecret, unauthorized } from "../http/auth.js";

const NODE = kindInfo("EdgeNode");

/**
 * The annotation in which registration keeps what a node's own registrations may reach. JSON:
 * `{"allowed": Limits, "registered": Limits}` — `allowed` is the ceiling, `registered` what the
 * last registration wrote (to tell an admin's later edit of the spec apart from it).
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
const recordSchema = z.object({ allowed: limitsSchema, registered: limitsSchema });

/** `{metadata: {labels}, spec}`, or the bare spec (as older agents send it). */
const registerBody = z.strictObject({ metadata: z.strictObject({ labels: labelsSchema.optional() }).optional(), spec: edgeNodeSpec });

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
 * recognised by the spec's tier or capacity differing from what the last registration wrote:
 * from then on the edited values are the ceiling. An admin may also raise the ceiling alone by
 * editing `allowed` in the annotation.
 */
export function renewalCeiling(node: StoredObject): Limits {
  const current = limitsOf(node.spec);
  let record: z.infer<typeof recordSchema> | undefined;
  try {
    const parsed = recordSchema.safeParse(JSON.parse(node.metadata.annotations?.[REGISTRATION_ANNOTATION] ?? "null"));
    if (parsed.success) record = parsed.data;
  } catch {
    // Not JSON (edited by hand): the spec as it stands is the ceiling.
  }
  return record && isDeepStrictEqual(limitsOf(record.registered), current) ? record.allowed : current;
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
}

export function parseRegistration(name: string, body: unknown): RegistrationRequest {
  const b = body ?? {};
  if (typeof b === "object" && !Array.isArray(b) && ("spec" in b || "metadata" in b)) {
    const parsed = registerBody.safeParse(b);
    if (!parsed.success) throw invalidFromZod("EdgeNode", name, parsed.error);
    return { name, spec: parsed.data.spec, labels: parsed.data.metadata?.labels ?? {} };
  }
  const parsed = edgeNodeSpec.safeParse(b);
  if (!parsed.success) throw invalidFromZod("EdgeNode", name, parsed.error, "spec");
  return { name, spec: parsed.data, labels: {} };
}

function recordAnnotation(allowed: Limits, registered: Limits): string {
  return JSON.stringify({ allowed, registered });
}

/**
 * Writes the registration of a node that does not exist (bootstrap token): one use of the token is
 * spent first (401 when none is left), and given back when the name turns out to be taken (409).
 * An existing node is never touched: its identity belongs to its own agent token and to admins.
 */
export async function createRegisteredNode(deps: { store: ObjectStore; tokens: TokenStore }, req: Request, r: RegistrationRequest): Promise<StoredObject> {
  const exists = () => new ApiError("AlreadyExists", `edgenodes "${r.name}" already exists: a bootstrap token registers new nodes only (the node renews with its own agent token)`, { name: r.name, kind: "edgenodes" });
  if (await deps.store.get(NODE, undefined, r.name)) throw exists();
  const secret = bearerSecret(req.headers.authorization);
  if (!secret || !(await deps.tokens.spendBootstrapUse(secret))) throw unauthorized();
  const limits = limitsOf(r.spec);
  try {
    return await deps.store.create(NODE, {
      apiVersion: API_VERSION,
      metadata: { name: r.name, labels: r.labels, annotations: { [REGISTRATION_ANNOTATION]: recordAnnotation(limits, limits) } },
      spec: r.spec,
      status: {},
    });
  } catch (err) {
    await deps.tokens.refundBootstrapUse(secret).catch(() => undefined);
    if (err instanceof StoreError && err.reason === "AlreadyExists") throw exists();
    throw err;
  }
}

/** Most attempts at an update that keeps meeting concurrent writers (lifecycle controller, heartbeats). */
const MAX_ATTEMPTS = 30;

/**
 * Re-registers an existing node (renewal: within its ceiling; admin: anything; an admin may also
 * create it). What the agent detects replaces the hardware description; admin-set taints and
 * cordon stay; labels are merged. The update is conditional on the version it read: on a conflict
 * (the node lifecycle controller, a heartbeat wrote meanwhile) it reads again and retries.
 */
export async function updateRegisteredNode(deps: { store: ObjectStore }, mode: "renewal" | "admin", r: RegistrationRequest): Promise<StoredObject> {
  const requested = limitsOf(r.spec);
  for (let attempt = 1; ; attempt++) {
    const current = await deps.store.get(NODE, undefined, r.name);
    try {
      if (!current) {
        if (mode === "renewal") throw notFound("edgenodes", r.name, `edgenodes "${r.name}" not found: it was deleted; register it anew with a bootstrap token`);
        return await deps.store.create(NODE, {
          apiVersion: API_VERSION,
          metadata: { name: r.name, labels: r.labels, annotations: { [REGISTRATION_ANNOTATION]: recordAnnotation(requested, requested) } },
          spec: r.spec,
          status: {},
        });
      }
      let allowed = requested;
      if (mode === "renewal") {
        allowed = renewalCeiling(current);
        const raised = raisedFields(requested, allowed);
        if (raised.length) {
          throw new ApiError("Forbidden", `edgenodes "${r.name}": ${raised.map((c) => `${c.field}: ${c.message}`).join("; ")}`, { name: r.name, kind: "edgenodes", causes: raised });
        }
      }
      const spec = { ...r.spec, taints: current.spec.taints ?? [], unschedulable: current.spec.unschedulable ?? false };
      const labels = { ...current.metadata.labels, ...r.labels };
      const annotations = { ...current.metadata.annotations, [REGISTRATION_ANNOTATION]: recordAnnotation(allowed, requested) };
      // An agent restarting with the same description changes nothing: no write, no watch event.
      if (isDeepStrictEqual(spec, current.spec) && isDeepStrictEqual(labels, current.metadata.labels ?? {}) && isDeepStrictEqual(annotations, current.metadata.annotations ?? {})) return current;
      return await deps.store.update(NODE, current, { ...current, metadata: { ...current.metadata, labels, annotations }, spec });
    } catch (err) {
      const raced = err instanceof StoreError && (err.reason === "Conflict" || (err.reason === "AlreadyExists" && !current));
      if (!raced || attempt >= MAX_ATTEMPTS) throw err;
      // Writers that keep colliding step apart a little.
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(5 * attempt, 50)));
    }
  }
}
