import { Router, type NextFunction, type Request, type Response } from "express";
import { API_VERSION, dnsSubdomain } from "@eiaas/api";
import type { ObjectStore, TokenInfo, TokenStore } from "@eiaas/db";
import { z } from "zod";
import { ApiError, invalidFromZod } from "../http/errors.js";
import { formatTime } from "@eiaas/db";
import { TENANT } from "../resources/validate.js";
import { param } from "./resources.js";

const mintBody = z
  .strictObject({
    apiVersion: z.string().optional(),
    kind: z.literal("Token").optional(),
    metadata: z.strictObject({ name: dnsSubdomain.optional() }).optional(),
    expiresAt: z.iso.datetime({ offset: true }).optional(),
  })
  .optional();

function tokenView(t: { name: string; expiresAt?: Date; createdAt?: Date }, secret?: string) {
  return {
    apiVersion: API_VERSION,
    kind: "Token",
    metadata: { name: t.name, ...(t.createdAt ? { creationTimestamp: formatTime(t.createdAt) } : {}) },
    ...(secret ? { token: secret } : {}),
    ...(t.expiresAt ? { expiresAt: t.expiresAt.toISOString() } : {}),
  };
}

function wrap(h: (req: Request, res: Response) => Promise<void>) {
  return (req: Request, res: Response, next: NextFunction) => void h(req, res).catch(next);
}

function requireAdmin(req: Request): void {
  if (req.principal?.role !== "admin") throw new ApiError("Forbidden", `${req.principal?.role} tokens cannot manage tokens`);
}

/**
 * Token API of DESIGN §3 (admin only): tenant tokens under `tenants/{tenant}/tokens`, agent
 * bootstrap tokens under `bootstraptokens`. Secrets are shown once, at creation.
 */
export function tokenRouter(deps: { tokens: TokenStore; store: ObjectStore; onRevoke: () => void }): Router {
  const r = Router();

  const mint = async (req: Request, res: Response, scope: { role: "tenant" | "bootstrap"; tenant?: string }) => {
    const parsed = mintBody.safeParse(req.body === undefined || (typeof req.body === "object" && req.body !== null && Object.keys(req.body).length === 0) ? undefined : req.body);
    if (!parsed.success) throw invalidFromZod("Token", undefined, parsed.error);
    const expiresAt = parsed.data?.expiresAt ? new Date(parsed.data.expiresAt) : undefined;
    if (expiresAt && expiresAt.getTime() <= Date.now()) {
      throw new ApiError("Invalid", "Token is invalid: expiresAt: must be in the future", { kind: "Token", causes: [{ field: "expiresAt", message: "must be in the future" }] });
    }
    const minted = await deps.tokens.mint({
      role: scope.role,
      ...(scope.tenant ? { tenant: scope.tenant } : {}),
      ...(parsed.data?.metadata?.name ? { name: parsed.data.metadata.name } : {}),
      ...(expiresAt ? { expiresAt } : {}),
    });
    res.status(201).json(tokenView({ name: minted.name, ...(minted.expiresAt ? { expiresAt: minted.expiresAt } : {}), createdAt: new Date() }, minted.token));
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
    if (!(await deps.store.get(TENANT, undefined, tenant))) throw new ApiError("NotFound", `tenants "${tenant}" not found`, { name: tenant, kind: "tenants" });
    return { role: "tenant" as const, tenant };
  };

  r.post("/tenants/:tenant/tokens", wrap(async (req, res) => mint(req, res, await tenantScope(req))));
  r.get("/tenants/:tenant/tokens", wrap(async (req, res) => list(res, await deps.tokens.list(await tenantScope(req)))));
  r.delete("/tenants/:tenant/tokens/:name", wrap(async (req, res) => revoke(res, await tenantScope(req), param(req, "name"))));
  const boot = (req: Request) => {
    requireAdmin(req);
    return { role: "bootstrap" as const };
  };
  r.post("/bootstraptokens", wrap(async (req, res) => mint(req, res, boot(req))));
  r.get("/bootstraptokens", wrap(async (req, res) => list(res, await deps.tokens.list(boot(req)))));
  r.delete("/bootstraptokens/:name", wrap(async (req, res) => revoke(res, boot(req), param(req, "name"))));
  return r;
}
