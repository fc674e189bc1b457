import { createHash } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { NextFunction, Request, Response } from "express";
import type { Principal, TokenStore } from "@eiaas/db";
import { addressKey, clientAddress } from "./client-address.js";
import { ApiError } from "./errors.js";
import { RateLimiter, type RateLimitOptions } from "./rate-limit.js";

declare module "express-serve-static-core" {
  interface Request {
    principal?: Principal;
  }
}

/**
 * The live Tenant of a name, by uid (null: there is none, or it is being deleted), as this process
 * knows it: `peek` without waiting (undefined: cannot tell, e.g. before the watch cache's list),
 * `get` as of a moment after the call (a consistent read).
 */
export interface LiveTenants {
  peek(name: string): string | null | undefined;
  get(name: string): Promise<string | null>;
}

export interface AuthOptions {
  tokens: TokenStore;
  limiter: RateLimiter;
  /** Rate-limit admin tokens too. Default false (admins are exempt). */
  limitAdmins?: boolean;
  /** How long a verified token is trusted without a lookup. Default {@link TOKEN_CACHE_MS}. */
  cacheMs?: number;
  /**
   * Where a tenant token's tenant is checked on every request: it speaks for the Tenant object it
   * was minted for (its uid), only while that is the live tenant of its name. Default none (the
   * token lookup alone decides).
   */
  tenants?: LiveTenants;
  /**
   * Lookups of unknown tokens that fail, per client address (an IPv6 /64): past the burst, a
   * client's unknown tokens answer 429 without a lookup until the bucket refills. Default burst
   * 20, then 1 a second. Tokens already verified are still admitted.
   */
  failedAuth?: RateLimitOptions;
  /** Proxies whose `X-Forwarded-For` names the client (EIAAS_TRUSTED_PROXIES). Default none: the socket's peer is the client. */
  trustedProxies?: ReadonlySet<string>;
  /** The clock of the caches, the failure buckets and tokens' expiry. Default Date.now. */
  now?: () => number;
}

/** Most verified tokens kept; past it the cache starts again (only valid tokens get there). */
const MAX_VERIFIED = 100_000;
/** Most rejected tokens remembered; past it they are forgotten (never the verified ones). */
const MAX_REJECTED = 10_000;
/** How long a rejected token is answered 401 without a lookup: it cannot become valid (secrets are minted fresh). */
const REJECTED_MS = 30_000;

const NO_PROXIES: ReadonlySet<string> = new Set();

/**
 * How long each API process trusts a verified token without looking it up again (the default of
 * `AuthOptions.cacheMs`): a token revoked elsewhere (another API process, the namespace
 * controller) still works here for at most this long. The namespace controller waits this out
 * after revoking a deleted tenant's tokens, before the tenant goes and its name is free again.
 */
export const TOKEN_CACHE_MS = 2_000;

/** The secret of an `Authorization: Bearer …` header, or undefined. */
export function bearerSecret(authorization: string | undefined): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? "")?.[1];
}

/** The one answer for a token that is unknown, expired, revoked or used up: callers learn nothing more. */
export function unauthorized(): ApiError {
  return new ApiError("Unauthorized", "Unauthorized: the token is invalid, expired or revoked");
}

/**
 * Bearer-token authentication with a short verification cache (a lookup per request would make
 * the token table the hottest in the database), then the per-token rate limit. Unknown tokens
 * cost a lookup each, so their failures are limited per client address, and rejected tokens are
 * remembered apart from the verified ones: a flood of bad tokens neither costs a lookup each nor
 * pushes good tokens out of the cache.
 */
export class Authenticator {
  private readonly verified = new Map<string, { principal: Principal; until: number }>();
  /** Digests of rejected secrets (a guess may be a header's worth of bytes) → until when. */
  private readonly rejected = new Map<string, number>();
  /** Lookups in flight: a burst of requests with one token at cache expiry makes one query. */
  private readonly verifying = new Map<string, Promise<Principal | null>>();
  private readonly failures: RateLimiter;

  constructor(private readonly options: AuthOptions) {
    this.failures = new RateLimiter(options.failedAuth ?? { qps: 1, burst: 20 });
  }

  /** Forgets cached verifications (after a revoke in this process). */
  invalidate(): void {
    this.verified.clear();
    this.verifying.clear();
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /**
   * The principal of a secret, or null when it is unknown, expired or revoked. `client` is the
   * caller's address: each lookup of a secret not verified before takes one from its bucket of
   * failures (given back when the secret proves valid), so past its burst an unknown secret throws
   * 429 instead of being looked up — concurrent guesses included.
   */
  async principalOf(secret: string, client: string): Promise<Principal | null> {
    const now = this.now();
    const known = this.verified.get(secret);
    if (known && known.until > now) return known.principal;
    const digest = createHash("sha256").update(secret).digest("base64");
    const rejectedUntil = this.rejected.get(digest);
    if (rejectedUntil !== undefined && rejectedUntil > now) return null;
    // Requests joining a lookup already in flight cost no lookup and take nothing: a client's
    // burst of concurrent requests with one new, valid token is one lookup, not one per request.
    let pending = this.verifying.get(secret);
    // A token verified before is looked up again whatever its client did since.
    const key = known || pending ? undefined : addressKey(client);
    if (key !== undefined) {
      const wait = this.failures.take(key, now);
      if (wait > 0) {
        throw new ApiError("TooManyRequests", `Too many failed authentications from ${client}, please try again later`, { retryAfterSeconds: wait });
      }
    }
    if (!pending) {
      pending = this.options.tokens.verify(secret, new Date(now)).finally(() => this.verifying.delete(secret));
      this.verifying.set(secret, pending);
    }
    let principal: Principal | null;
    try {
      principal = await pending;
    } catch (err) {
      if (key !== undefined) this.failures.refund(key);
      throw err;
    }
    if (principal) {
      if (key !== undefined) this.failures.refund(key);
      this.rejected.delete(digest);
      if (this.verified.size >= MAX_VERIFIED) this.verified.clear();
      this.verified.set(secret, { principal, until: now + (this.options.cacheMs ?? TOKEN_CACHE_MS) });
    } else {
      this.verified.delete(secret);
      if (this.rejected.size >= MAX_REJECTED) this.rejected.clear();
      this.rejected.set(digest, now + REJECTED_MS);
    }
    return principal;
  }

  /**
   * The principal of a request's `Authorization` header; throws the ApiError to answer (401
   * without a valid token, 429 when its client failed too often). No rate limit taken.
   */
  async authenticate(req: IncomingMessage): Promise<Principal> {
    const secret = bearerSecret(req.headers.authorization);
    if (!secret) throw new ApiError("Unauthorized", "Unauthorized: a bearer token is required");
    // The hot path (a token verified within cacheMs) needs no client address.
    const known = this.verified.get(secret);
    const principal = known && known.until > this.now() ? known.principal : await this.principalOf(secret, clientAddress(req, this.options.trustedProxies ?? NO_PROXIES));
    if (!principal) throw unauthorized();
    // A tenant token speaks for the live tenant it was minted for only — not one being deleted,
    // nor another created since under the same name. The watch cache answers without waiting (a
    // map lookup per request); only when it disagrees is the tenant read consistently, so a
    // tenant and token created a moment ago on another API process are not refused because this
    // process's cache has not caught up yet.
    const tenants = principal.role === "tenant" ? this.options.tenants : undefined;
    const live = (uid: string | null | undefined) => uid !== undefined && uid === principal.tenantUid;
    if (tenants && !live(tenants.peek(principal.tenant ?? "")) && !live(await tenants.get(principal.tenant ?? ""))) {
      this.verified.delete(secret);
      throw unauthorized();
    }
    return principal;
  }

  /**
   * The principal of a request, rate limit taken; throws the ApiError to answer (401 without a
   * valid token, 429 over the limit or after too many failed authentications).
   */
  async admit(req: IncomingMessage): Promise<Principal> {
    const principal = await this.authenticate(req);
    if (principal.role !== "admin" || this.options.limitAdmins) {
      const wait = this.options.limiter.take(`${principal.scope}/${principal.name}`, this.now());
      if (wait > 0) {
        throw new ApiError("TooManyRequests", `Too many requests for token "${principal.name}", please try again later`, { retryAfterSeconds: wait });
      }
    }
    return principal;
  }

  middleware() {
    return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
      try {
        req.principal = await this.admit(req);
        next();
      } catch (err) {
        next(err);
      }
    };
  }
}
