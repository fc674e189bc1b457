import type { NextFunction, Request, Response } from "express";
import type { Principal, TokenStore } from "@eiaas/db";
import { ApiError } from "./errors.js";
import type { RateLimiter } from "./rate-limit.js";

declare module "express-serve-static-core" {
  interface Request {
    principal?: Principal;
  }
}

export interface AuthOptions {
  tokens: TokenStore;
  limiter: RateLimiter;
  /** Rate-limit admin tokens too. Default false (admins are exempt). */
  limitAdmins?: boolean;
  /** How long a verified token is trusted without a lookup. Default 2000 ms. */
  cacheMs?: number;
  now?: () => number;
}

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
 * the token table the hottest in the database), then the per-token rate limit.
 */
export class Authenticator {
  private readonly cache = new Map<string, { principal: Principal | null; until: number }>();
  /** Lookups in flight: a burst of requests with one token at cache expiry makes one query. */
  private readonly verifying = new Map<string, Promise<Principal | null>>();

  constructor(private readonly options: AuthOptions) {}

  /** Forgets cached verifications (after a revoke in this process). */
  invalidate(): void {
    this.cache.clear();
    this.verifying.clear();
  }

  async principalOf(secret: string): Promise<Principal | null> {
    const now = (this.options.now ?? Date.now)();
    const hit = this.cache.get(secret);
    if (hit && hit.until > now) return hit.principal;
    let pending = this.verifying.get(secret);
    if (!pending) {
      pending = this.options.tokens.verify(secret).finally(() => this.verifying.delete(secret));
      this.verifying.set(secret, pending);
    }
    const principal = await pending;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(secret, { principal, until: now + (this.options.cacheMs ?? 2_000) });
    return principal;
  }

  /**
   * The principal of an `Authorization` header, rate limit taken; throws the ApiError to answer
   * (401 without a valid token, 429 over the limit).
   */
  async admit(authorization: string | undefined): Promise<Principal> {
    const secret = bearerSecret(authorization);
    if (!secret) throw new ApiError("Unauthorized", "Unauthorized: a bearer token is required");
    const principal = await this.principalOf(secret);
    if (!principal) throw unauthorized();
    if (principal.role !== "admin" || this.options.limitAdmins) {
      const wait = this.options.limiter.take(`${principal.scope}/${principal.name}`, (this.options.now ?? Date.now)());
      if (wait > 0) {
        throw new ApiError("TooManyRequests", `Too many requests for token "${principal.name}", please try again later`, { retryAfterSeconds: wait });
      }
    }
    return principal;
  }

  middleware() {
    return async (req: Request, _res: Response, next: NextFunction): Promise<void> => {
      try {
        req.principal = await this.admit(req.headers.authorization);
        next();
      } catch (err) {
        next(err);
      }
    };
  }
}
