import { createHash, randomBytes } from "node:crypto";
import { API_PREFIX, retry } from "@eiaas/api";
import { ApiRequestError, ConnectionError, EiaasClient, retryAfterMs, type ConnectionOptions } from "@eiaas/client";
import type { Logger } from "@eiaas/telemetry";
import { EXIT_BAD_CONFIG } from "./config.js";
import type { CredentialStore } from "./credentials.js";

/** What the API answers a registration (`POST .../edgenodes/{name}/register`), with the node's token. */
export interface Registration {
  token: string;
  queue: { url: string; username?: string; password?: string };
}

/** The answer on the wire: no token when the agent chose its own (it holds it already). */
type RegistrationAnswer = Omit<Registration, "token"> & { token?: string };

/** Which credential a registration used: the node's own (a renewal) or a bootstrap token (a new node). */
export type RegisteredWith = "credential" | "bootstrap";

export interface RegisterOptions {
  nodeName: string;
  /** The register request's body: the node's labels and what the agent detected. */
  body: unknown;
  /** The API server; its `token`, if any, is the bootstrap token. */
  connection: ConnectionOptions;
  /** Supplies the bootstrap token when needed, instead of `connection.token`. */
  bootstrapToken?: () => Promise<string | undefined>;
  /** The node's own credential across restarts. Absent: every start spends the bootstrap token. */
  credentials?: CredentialStore;
  logger: Logger;
  /** Stops retrying (the agent is stopping). */
  signal?: AbortSignal;
  /** Pauses between attempts. */
  backoff?: RetryBackoff;
}

/**
 * An answer that no retry changes (a refused token, a spec or name the API refuses, a node taken by
 * another agent, a CA that does not match): the agent stops and says what to fix. `main.ts` exits
 * with {@link EXIT_REGISTRATION_REFUSED}.
 */
export class RegistrationRefused extends Error {
  override readonly name = "RegistrationRefused";
}

/** The agent's exit code when the API refused its registration for good (main.ts): as for bad flags, something to fix, not to restart. */
export const EXIT_REGISTRATION_REFUSED = EXIT_BAD_CONFIG;

/**
 * Registration failures worth another try: the API not up yet or unreachable (refused, reset,
 * timeout, a name not resolving yet while its Service comes up), overloaded (429), failing (5xx), or
 * a concurrent write of the node (409 Conflict). Not: a 4xx that only the operator or an admin can
 * change (401, 403, 404, 409 AlreadyExists, 422) or a TLS certificate that does not verify.
 */
export function retryable(err: unknown): boolean {
  if (err instanceof ApiRequestError) return err.reason === "Conflict" || err.code === 408 || err.code === 429 || err.code >= 500;
  if (err instanceof ConnectionError) return err.problem !== "tls";
  return false;
}

/** Why a registration attempt failed, in one line for the log. */
export function failureReason(err: unknown): string {
  if (err instanceof ApiRequestError) return `${err.code} ${err.reason}: ${err.message}`;
  if (err instanceof ConnectionError) {
    const cause = err.cause as NodeJS.ErrnoException | undefined;
    return `${err.problem}${cause?.code ? ` (${cause.code})` : ""}: ${err.server}`;
  }
  return (err as Error)?.message ?? String(err);
}

/** Backoff between registration attempts: exponential from `baseMs` up to `maxMs`, full jitter. */
export interface RetryBackoff {
  /** @defaultValue 500 */
  baseMs?: number;
  /** @defaultValue 30000 */
  maxMs?: number;
}

/**
 * One registration request, tried until it is answered (as the kubelet keeps trying to register):
 * retryable failures are logged at warn with their reason and tried again after a jittered
 * exponential backoff (a server's Retry-After honoured); any other failure, or the agent stopping, ends it with the last error.
 */
async function post(o: RegisterOptions, token: string, body: unknown = o.body): Promise<RegistrationAnswer> {
  const client = new EiaasClient({ ...o.connection, token });
  try {
    return await retry(() => client.request<RegistrationAnswer>({ method: "POST", path: `${API_PREFIX}/edgenodes/${o.nodeName}/register`, body }), {
      initialMs: o.backoff?.baseMs ?? 500,
      maxMs: o.backoff?.maxMs ?? 30_000,
      retryable,
      minDelayMs: retryAfterMs,
      ...(o.signal ? { signal: o.signal } : {}),
      onRetry: (err, r) => o.logger.warn({ reason: failureReason(err), node: o.nodeName, attempt: r.attempt + 1, retryInMs: Math.round(r.delayMs) }, "registration failed: retrying"),
    });
  } finally {
    client.close();
  }
}

/**
 * Renews the registration with the node's own agent token (`token`): the same token back and fresh
 * queue credentials — what an agent does when its queue refuses the credentials it has (a Redis
 * that lost its user and did not get it back).
 */
export async function renewRegistration(o: RegisterOptions, token: string): Promise<Registration> {
  return renewWith(o, token);
}

/** A registration with the node's own token: the API answers that token (or none: the same). */
async function renewWith(o: RegisterOptions, token: string): Promise<Registration> {
  const answer = await post(o, token);
  return { ...answer, token: answer.token ?? token };
}

/** The registration's error as the operator should read it: what was refused, and what to do. */
function refused(o: RegisterOptions, err: unknown, used: RegisteredWith): unknown {
  if (err instanceof ConnectionError && err.problem === "tls") return new RegistrationRefused(`node "${o.nodeName}": ${err.message.split(": give the server")[0]}: check --ca-file (EIAAS_CA_FILE)`);
  if (!(err instanceof ApiRequestError)) return err;
  const answer = `${err.code} ${err.reason}`;
  if (err.code === 401 && used === "bootstrap") {
    return new RegistrationRefused(`node "${o.nodeName}": the API refused the bootstrap token (${answer}): it is unknown, used up or expired; an admin creates one with 'eictl create bootstraptoken'`);
  }
  const causes = err.causes.map((c) => `${c.field ?? ""}${c.field ? ": " : ""}${c.message}`).join("; ");
  return new RegistrationRefused(`node "${o.nodeName}": the API refused the registration (${answer}): ${causes || err.message}`);
}

/** A stored credential the API no longer takes (revoked, its node deleted): not a spec it refused. */
const credentialRefused = (err: unknown): err is ApiRequestError => err instanceof ApiRequestError && (err.code === 401 || err.code === 404 || (err.code === 403 && err.causes.length === 0));

/**
 * Registers the node as kubelet does with its credentials: with the node's own agent token when
 * it holds one (a renewal: same token, fresh queue credentials), else with the bootstrap token,
 * whose answer's agent token is then kept for the next start. A stored credential the API refuses
 * (revoked, or its node deleted) is dropped for the bootstrap token, which creates the node anew
 * — or answers 409 when the node still exists, which only an admin can resolve.
 */
export async function registerNode(o: RegisterOptions): Promise<Registration & { with: RegisteredWith }> {
  const server = o.connection.server;
  const stored = await o.credentials?.load(o.nodeName, server);
  if (stored) {
    try {
      const reg = await renewWith(o, stored.token);
      if (reg.token !== stored.token) await o.credentials!.save({ server, nodeName: o.nodeName, token: reg.token });
      return { ...reg, with: "credential" };
    } catch (err) {
      if (!credentialRefused(err)) throw refused(o, err, "credential");
      o.logger.warn({ err, node: o.nodeName }, "the API refused the node's stored credential: registering with the bootstrap token");
    }
  }
  const bootstrap = (await o.bootstrapToken?.()) ?? o.connection.token;
  if (!bootstrap) {
    throw new RegistrationRefused(`node "${o.nodeName}" has no usable credential${o.credentials ? ` in ${o.credentials.locate(o.nodeName)}` : ""} and no bootstrap token was given`);
  }
  // Before spending the bootstrap token: a credential that cannot be kept would be lost at the
  // next restart, and the node with it (a bootstrap token cannot take an existing node back).
  await o.credentials?.assertWritable();
  // The node's token is one the agent makes and writes down before asking (only its hash is sent):
  // when the answer is lost on the way back (a reset, a timeout, the agent killed) after the API
  // registered the node, the retry finds the bootstrap token spent (401) or the name taken (409),
  // and the agent still holds the node's credential. Without it the node was stranded.
  const chosen = randomBytes(32).toString("base64url");
  await o.credentials?.save({ server, nodeName: o.nodeName, token: chosen });
  const body = withChosenToken(o.body, chosen);
  let reg: Registration;
  try {
    const answer = await post(o, bootstrap, body);
    // The answer carries no token: the node's is the one the agent chose.
    reg = { ...answer, token: answer.token ?? chosen };
  } catch (err) {
    const registeredByUs = err instanceof ApiRequestError && (err.code === 401 || err.reason === "AlreadyExists") ? await renewWith(o, chosen).catch(() => undefined) : undefined;
    if (registeredByUs) {
      o.logger.info({ node: o.nodeName }, "the node was registered by an earlier attempt whose answer was lost: renewed with the token it chose");
      return { ...registeredByUs, with: "bootstrap" };
    }
    if (err instanceof ApiRequestError && err.reason === "AlreadyExists") {
      const where = o.credentials ? ` (looked in ${o.credentials.locate(o.nodeName)})` : "";
      throw new RegistrationRefused(
        `node "${o.nodeName}" already exists and this agent holds no credential for it${where}: a bootstrap token registers new nodes only; ` +
          `an admin can re-register the node or delete its EdgeNode`,
      );
    }
    throw refused(o, err, "bootstrap");
  }
  if (reg.token !== chosen) await o.credentials?.save({ server, nodeName: o.nodeName, token: reg.token });
  return { ...reg, with: "bootstrap" };
}

/** The register body with the hash of the token the agent chose (`credential.tokenSha256`). */
function withChosenToken(body: unknown, token: string): unknown {
  const credential = { tokenSha256: createHash("sha256").update(token).digest("hex") };
  const b = body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  // A bare spec (the older form) becomes `{spec}`: the credential needs the object form.
  return "spec" in b || "metadata" in b ? { ...b, credential } : { spec: body, credential };
}
