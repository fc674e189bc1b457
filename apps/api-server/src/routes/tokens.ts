import { Router, type NextFunction, type Request, type Response } from "express";
import { API_VERSION, dnsSubdomain } from "@eiaas/api";
import type { ObjectStore, TokenInfo, TokenStore } from "@eiaas/db";
import { z } from "zod";
import { ApiError, invalidFromZod, notFound } from "../http/errors.js";
import { formatTime } from "@eiaas/db";
import { TENANT } from "../resources/validate.js";
import { param } from "./resources.js";

/** kubeadm's default lifetime of a join token. */
const BOOTSTRAP_DEFAULT_TTL_SECONDS = 24 * 3600;
/** Ten years: a longer lifetime is a mistake (and past what a Date holds for huge numbers). */
const MAX_TTL_SECONDS = 10 * 365 * 24 * 3600;

const mintBody = z
  .strictObject({
    apiVersion: z.string().optional(),
    kind: z.literal("Token").optional(),
    metadata: z.strictObject({ name: dnsSubdomain.optional() }).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
    /** Lifetime from now; 0: never expires. Bootstrap tokens default to 24 h (kubeadm's). */
    ttlSeconds: z.number().int().nonnegative().max(MAX_TTL_SECONDS).optional(),
    /** Bootstrap tokens only: registrations the token may make; 0: no limit. Default 1. */
    maxUses: z.number().int().nonnegative().max(1_000_000).optional(),
  })
  .optional();

type MintBody = NonNullable<z.infer<typeof mintBody>>;

function tokenView(t: { name: string; expiresAt?: Date; createdAt?: Date; maxUses?: number; uses?: number }, secret?: string) {
  return {
    apiVersion: API_VERSION,
    kind: "Token",
    metadata: { name: t.name, ...(t.createdAt ? { creationTimestamp: formatTime(t.createdAt) } : {}) },
    ...(secret ? { token: secret } : {}),
    ...(t.expiresAt ? { expiresAt: t.expiresAt.toISOString() } : {}),
    ...(t.maxUses !== undefined ? { maxUses: t.maxUses } : {}),
    ...(t.uses !== undefined ? { uses: t.uses } : {}),
  };
}

/** When a token minted with `body` expires: its expiresAt, its ttlSeconds, or the role's default. */
function expiryOf(body: MintBody | undefined, role: "tenant" | "bootstrap"): Date | undefined {
  const invalidField = (field: string, message: string) => new ApiError("Invalid", `Token is invalid: ${field}: ${message}`, { kind: "Token", causes: [{ field, message }] });
  if (body?.expiresAt !== undefined && body.ttlSeconds !== undefined) throw invalidField("ttlSeconds", "give expiresAt or ttlSeconds, not both");
  if (body?.expiresAt !== undefined) {
    const at = new Date(body.expiresAt);
    if (at.getTime() <= Date.now()) throw invalidField("expiresAt", "must be in the future");
    return at;
  }
  const ttl = body?.ttlSeconds ?? (role === "bootstrap" ? BOOTSTRAP_DEFAULT_TTL_SECONDS : 0);
  return ttl > 0 ? new Date(Date.now() + ttl * 1000) : undefined;
}

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

function requireAdmin(req: Request): void {
  if (req.principal?.role !== "admin") throw new ApiError("Forbidden", `${req.principal?.role} tokens cannot manage tokens`);
}

/**
 * Token API of design.md §3 (admin only): tenant tokens under `tenants/{tenant}/tokens`, agent
 * bootstrap tokens under `bootstraptokens`. Secrets are shown once, at creation. A bootstrap token
 * is single-use and lives 24 h unless created otherwise (`maxUses`, 0 = no limit; `ttlSeconds`,
 * 0 = never expires; or `expiresAt`), as kubeadm's join tokens; a tenant token never expires
 * unless asked.
 */
export function tokenRouter(deps: { tokens: TokenStore; store: ObjectStore; onRevoke: () => void }): Router {
  const r = Router();

  const mint = async (req: Request, res: Response, scope: { role: "tenant" | "bootstrap"; tenant?: string; tenantUid?: string }) => {
    const parsed = mintBody.safeParse(req.body === undefined || (typeof req.body === "object" && req.body !== null && Object.keys(req.body).length === 0) ? undefined : req.body);
    if (!parsed.success) throw invalidFromZod("Token", undefined, parsed.error);
    const body = parsed.data;
    if (body?.maxUses !== undefined && scope.role !== "bootstrap") {
      throw new ApiError("Invalid", "Token is invalid: maxUses: only bootstrap tokens have a use count", {
        kind: "Token",
        causes: [{ field: "maxUses", message: "only bootstrap tokens have a use count" }],
      });
    }
    const expiresAt = expiryOf(body, scope.role);
    const minted = await deps.tokens.mint({
      role: scope.role,
      ...(scope.tenant ? { tenant: scope.tenant } : {}),
      ...(scope.tenantUid ? { tenantUid: scope.tenantUid } : {}),
      ...(body?.metadata?.name ? { name: body.metadata.name } : {}),
      ...(expiresAt ? { expiresAt } : {}),
      // 0 asks for no limit; absent, the store's default (single-use).
      ...(scope.role === "bootstrap" && body?.maxUses !== undefined ? { maxUses: body.maxUses === 0 ? null : body.maxUses } : {}),
    });
    const uses = scope.role === "bootstrap" ? { uses: 0, ...(minted.maxUses !== undefined ? { maxUses: minted.maxUses } : {}) } : {};
    res.status(201).json(tokenView({ name: minted.name, ...(minted.expiresAt ? { expiresAt: minted.expiresAt } : {}), createdAt: new Date(), ...uses }, minted.token));
  };
  const list = async (res: Response, items: TokenInfo[]) => {
    res.json({ apiVersion: API_VERSION, kind: "TokenList", metadata: {}, items: items.map((t) => tokenView(t)) });
  };
  const revoke = async (res: Response, scope: { role: "tenant" | "bootstrap"; tenant?: string }, name: string) => {
    if (!(await deps.tokens.revoke(scope, name))) throw new ApiError("NotFound", `tokens "${name}" not found`, { name, kind: "tokens" });
    deps.onRevoke();
    res.json({ apiVersion: "v1", kind: "Status", metadata: {}, status: "Success", code: 200, details: { name, kind: "tokens" } });
  };
  const tenantScope = async (req: Request) => {
    requireAdmin(req);
    const tenant = param(req, "tenant");
    const object = await deps.store.get(TENANT, undefined, tenant);
    if (!object) throw notFound("tenants", tenant);
    return { role: "tenant" as const, tenant, object };
  };
  // A token belongs to this Tenant object (its uid), not to the name: one created again later
  // under the name is another tenant. None is minted for a tenant being deleted (its tokens are
  // being revoked), as nothing new is created in a terminating namespace.
  const tenantMintScope = async (req: Request) => {
    const { tenant, object } = await tenantScope(req);
    if (object.metadata.deletionTimestamp) throw new ApiError("Forbidden", `unable to create new tokens for tenant ${tenant} because it is being terminated`);
    return { role: "tenant" as const, tenant, tenantUid: object.metadata.uid };
  };

  r.post(
    "/tenants/:tenant/tokens",
    wrap(async (req, res) => mint(req, res, await tenantMintScope(req))),
  );
  r.get(
    "/tenants/:tenant/tokens",
    wrap(async (req, res) => list(res, await deps.tokens.list(await tenantScope(req)))),
  );
  r.delete(
    "/tenants/:tenant/tokens/:name",
    wrap(async (req, res) => revoke(res, await tenantScope(req), param(req, "name"))),
  );
  const boot = (req: Request) => {
    requireAdmin(req);
    return { role: "bootstrap" as const };
  };
  r.post(
    "/bootstraptokens",
    wrap(async (req, res) => mint(req, res, boot(req))),
  );
  r.get(
    "/bootstraptokens",
    wrap(async (req, res) => list(res, await deps.tokens.list(boot(req)))),
  );
  r.delete(
    "/bootstraptokens/:name",
    wrap(async (req, res) => revoke(res, boot(req), param(req, "name"))),
  );
  return r;
}
