import { createHash, randomBytes, randomUUID } from "node:crypto";
import type { PrismaClient } from "./client.js";
import { StoreError, isUniqueViolation } from "./errors.js";

export type TokenRole = "admin" | "tenant" | "agent" | "bootstrap";

/** Who a bearer token speaks for. */
export interface Principal {
  role: TokenRole;
  /** Token name within its scope. */
  name: string;
  scope: string;
  tenant?: string;
  /**
   * Tenant tokens: the uid of the Tenant object the token was minted for. The token speaks for
   * that tenant only while it is the live tenant of its name (see the API's authentication).
   */
  tenantUid?: string;
  nodeName?: string;
}

export interface MintOptions {
  role: TokenRole;
  tenant?: string;
  /**
   * Tenant tokens: the uid of the live Tenant named `tenant` (the caller read it). Absent: read
   * here; either way a tenant token is only minted for a live tenant (NotFound otherwise).
   */
  tenantUid?: string;
  nodeName?: string;
  /** Generated (`<role>-<random>`) when absent. */
  name?: string;
  expiresAt?: Date;
  /**
   * Bootstrap tokens only: how many registrations the token may make. Absent: 1 (a bootstrap
   * token is single-use unless created otherwise, as a kubeadm join token is good for one join);
   * null: no limit.
   */
  maxUses?: number | null;
}

export interface TokenInfo {
  name: string;
  role: TokenRole;
  tenant?: string;
  nodeName?: string;
  createdAt: Date;
  expiresAt?: Date;
  /** Bootstrap tokens: registrations allowed (absent: no limit) and made. */
  maxUses?: number;
  uses?: number;
}

/** SHA-256 of a secret: the only form in which tokens are stored. */
export function hashToken(secret: string): string {
  return createHash("sha256").update(secret).digest("hex");
}

/** A fresh secret: 32 random bytes, base64url. */
export function generateTokenSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function scopeOf(o: { role: TokenRole; tenant?: string; nodeName?: string }): string {
  switch (o.role) {
    case "tenant":
      return `tenant:${o.tenant}`;
    case "agent":
      return `agent:${o.nodeName}`;
    default:
      return o.role;
  }
}

/** Bearer tokens, kept as SHA-256 hashes; the secret is returned once, at minting. */
export class TokenStore {
  constructor(private readonly prisma: PrismaClient) {}

  async mint(options: MintOptions): Promise<{ name: string; token: string; expiresAt?: Date; maxUses?: number }> {
    const token = generateTokenSecret();
    return { ...(await this.insert(options, hashToken(token))), token };
  }

  /**
   * Mints an agent token whose secret the agent chose and keeps (only its SHA-256 is sent): the
   * agent then holds its credential before the answer arrives, so an answer lost on the way back
   * cannot strand the node it registered. A hash some token already has is refused (Invalid).
   */
  async mintWithHash(options: MintOptions & { role: "agent" }, tokenSha256: string): Promise<{ name: string }> {
    if (!/^[0-9a-f]{64}$/.test(tokenSha256)) throw new StoreError("Invalid", "a token hash is 64 lowercase hex digits");
    if (await this.prisma.apiToken.findUnique({ where: { tokenHash: tokenSha256 }, select: { id: true } })) throw new StoreError("Invalid", "this credential is already in use: generate a new secret");
    return this.insert(options, tokenSha256);
  }

  private async insert(options: MintOptions, tokenHash: string): Promise<{ name: string; expiresAt?: Date; maxUses?: number }> {
    const name = options.name ?? `${options.role}-${randomBytes(4).toString("hex")}`;
    if (options.maxUses !== undefined && options.role !== "bootstrap") throw new StoreError("Invalid", "only bootstrap tokens have a use count");
    const maxUses = options.role === "bootstrap" ? (options.maxUses === undefined ? 1 : options.maxUses) : null;
    if (maxUses !== null && !(Number.isInteger(maxUses) && maxUses >= 1)) throw new StoreError("Invalid", `maxUses must be a positive integer or null, not ${maxUses}`);
    const tenantUid = options.role === "tenant" ? (options.tenantUid ?? (await this.liveTenantUid(options.tenant))) : null;
    if (options.role === "tenant" && !tenantUid) throw new StoreError("NotFound", `tenants "${options.tenant}" not found`);
    try {
      await this.prisma.apiToken.create({
        data: {
          id: randomUUID(),
          scope: scopeOf(options),
          name,
          role: options.role,
          tenant: options.tenant ?? null,
          tenantUid,
          nodeName: options.nodeName ?? null,
          tokenHash,
          expiresAt: options.expiresAt ?? null,
          maxUses,
        },
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new StoreError("AlreadyExists", `tokens "${name}" already exists`);
      throw err;
    }
    return { name, ...(options.expiresAt ? { expiresAt: options.expiresAt } : {}), ...(maxUses !== null ? { maxUses } : {}) };
  }

  /**
   * Makes `secret` a valid admin token (EIAAS_ADMIN_TOKEN): idempotent across restarts and
   * replicas, replacing an earlier bootstrap admin secret.
   */
  async ensureAdminToken(secret: string, name = "bootstrap-admin"): Promise<void> {
    const tokenHash = hashToken(secret);
    await this.prisma.apiToken.upsert({
      where: { scope_name: { scope: "admin", name } },
      update: { tokenHash },
      create: { id: randomUUID(), scope: "admin", name, role: "admin", tokenHash },
    });
  }

  /**
   * Makes `secret` a valid bootstrap token (EIAAS_BOOTSTRAP_TOKEN: a pre-shared secret the Helm
   * chart and compose hand to both the API server and every agent they start). Idempotent like the
   * admin one. It has no use limit and no expiry: the operator configured it for a whole fleet (it
   * still only creates nodes that do not exist).
   */
  async ensureBootstrapToken(secret: string, name = "preshared-bootstrap"): Promise<void> {
    const tokenHash = hashToken(secret);
    await this.prisma.apiToken.upsert({
      where: { scope_name: { scope: "bootstrap", name } },
      update: { tokenHash, maxUses: null, expiresAt: null },
      create: { id: randomUUID(), scope: "bootstrap", name, role: "bootstrap", tokenHash },
    });
  }

  async hasAdminToken(): Promise<boolean> {
    return (await this.prisma.apiToken.count({ where: { role: "admin" } })) > 0;
  }

  /** The uid of the live (not terminating) Tenant called `name`, or undefined. */
  private async liveTenantUid(name: string | undefined): Promise<string | undefined> {
    if (!name) return undefined;
    const t = await this.prisma.tenant.findFirst({ where: { namespace: "", name, deletionTimestamp: null }, select: { uid: true } });
    return t?.uid;
  }

  /**
   * The principal of a secret, or null when unknown, expired or used up — or a tenant token that
   * belongs to no tenant (minted before tokens carried their tenant's uid, for a tenant that was
   * already gone or being deleted then: migration `tenant_token_uid`).
   */
  async verify(secret: string, now = new Date()): Promise<Principal | null> {
    const row = await this.prisma.apiToken.findUnique({ where: { tokenHash: hashToken(secret) } });
    if (!row) return null;
    if (row.expiresAt && row.expiresAt <= now) return null;
    if (row.maxUses !== null && row.uses >= row.maxUses) return null;
    if (row.role === "tenant" && !row.tenantUid) return null;
    return {
      role: row.role as TokenRole,
      name: row.name,
      scope: row.scope,
      ...(row.tenant ? { tenant: row.tenant } : {}),
      ...(row.tenantUid ? { tenantUid: row.tenantUid } : {}),
      ...(row.nodeName ? { nodeName: row.nodeName } : {}),
    };
  }

  async list(filter: { role: TokenRole; tenant?: string; nodeName?: string }): Promise<TokenInfo[]> {
    const rows = await this.prisma.apiToken.findMany({ where: { scope: scopeOf(filter) }, orderBy: { name: "asc" } });
    return rows.map((r) => ({
      name: r.name,
      role: r.role as TokenRole,
      ...(r.tenant ? { tenant: r.tenant } : {}),
      ...(r.nodeName ? { nodeName: r.nodeName } : {}),
      createdAt: r.createdAt,
      ...(r.expiresAt ? { expiresAt: r.expiresAt } : {}),
      ...(r.role === "bootstrap" ? { uses: r.uses, ...(r.maxUses !== null ? { maxUses: r.maxUses } : {}) } : {}),
    }));
  }

  /**
   * Spends one use of a bootstrap token: false when it is unknown, expired or used up. One
   * conditional UPDATE, so concurrent registrations cannot both spend a single-use token (the
   * verification cache of the API may still hold a token spent a moment ago: this is the check
   * that counts).
   */
  async spendBootstrapUse(secret: string): Promise<boolean> {
    const n = await this.prisma.$executeRaw`
      UPDATE api_tokens SET uses = uses + 1
      WHERE token_hash = ${hashToken(secret)} AND role = 'bootstrap'
        AND (max_uses IS NULL OR uses < max_uses)
        AND (expires_at IS NULL OR expires_at > now())`;
    return n === 1;
  }

  /** Gives back a use spent by a registration that then failed (the name was taken meanwhile). */
  async refundBootstrapUse(secret: string): Promise<void> {
    await this.prisma.$executeRaw`UPDATE api_tokens SET uses = uses - 1 WHERE token_hash = ${hashToken(secret)} AND role = 'bootstrap' AND uses > 0`;
  }

  /** Revokes one token; false when there was none by that name. */
  async revoke(filter: { role: TokenRole; tenant?: string; nodeName?: string }, name: string): Promise<boolean> {
    const r = await this.prisma.apiToken.deleteMany({ where: { scope: scopeOf(filter), name } });
    return r.count > 0;
  }

  /** Revokes every token of a scope (a deleted tenant's, a re-registered node's). */
  async revokeAll(filter: { role: TokenRole; tenant?: string; nodeName?: string }): Promise<number> {
    const r = await this.prisma.apiToken.deleteMany({ where: { scope: scopeOf(filter) } });
    return r.count;
  }
}
