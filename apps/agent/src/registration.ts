import { API_PREFIX } from "@eiaas/api";
import { ApiRequestError, EiaasClient, type ConnectionOptions } from "@eiaas/client";
import type { Logger } from "@eiaas/telemetry";
import type { CredentialStore } from "./credentials.js";

/** What the API answers a registration (`POST .../edgenodes/{name}/register`). */
export interface Registration {
  token: string;
  queue: { url: string; username?: string; password?: string };
}

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
  stopped?: () => boolean;
}

/** Registration answers worth another try: a concurrent write of the node, overload, a server or network fault. */
function retryable(err: unknown): boolean {
  if (!(err instanceof ApiRequestError)) return true;
  return err.reason === "Conflict" || err.code === 429 || err.code >= 500;
}

/** Most tries of one registration (~30 s of backoff). */
const ATTEMPTS = 10;

async function post(o: RegisterOptions, token: string): Promise<Registration> {
  const client = new EiaasClient({ ...o.connection, token });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        return await client.request<Registration>({ method: "POST", path: `${API_PREFIX}/edgenodes/${o.nodeName}/register`, body: o.body });
      } catch (err) {
        if (!retryable(err) || attempt + 1 >= ATTEMPTS || o.stopped?.()) throw err;
        const wait = err instanceof ApiRequestError && err.retryAfterSeconds !== undefined ? err.retryAfterSeconds * 1000 : Math.min(200 * 2 ** attempt, 5_000);
        o.logger.debug({ err: (err as Error).message, node: o.nodeName, attempt }, "registration: retrying");
        await new Promise((r) => setTimeout(r, wait));
      }
    }
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
  return post(o, token);
}

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
      const reg = await post(o, stored.token);
      if (reg.token !== stored.token) await o.credentials!.save({ server, nodeName: o.nodeName, token: reg.token });
      return { ...reg, with: "credential" };
    } catch (err) {
      if (!(err instanceof ApiRequestError && [401, 403, 404].includes(err.code))) throw err;
      o.logger.warn({ err: err.message, node: o.nodeName }, "the API refused the node's stored credential: registering with the bootstrap token");
    }
  }
  const bootstrap = (await o.bootstrapToken?.()) ?? o.connection.token;
  if (!bootstrap) {
    throw new Error(`node "${o.nodeName}" has no usable credential${o.credentials ? ` in ${o.credentials.locate(o.nodeName)}` : ""} and no bootstrap token was given`);
  }
  // Before spending the bootstrap token: a credential that cannot be kept would be lost at the
  // next restart, and the node with it (a bootstrap token cannot take an existing node back).
  await o.credentials?.assertWritable();
  let reg: Registration;
  try {
    reg = await post(o, bootstrap);
  } catch (err) {
    if (err instanceof ApiRequestError && err.reason === "AlreadyExists") {
      const where = o.credentials ? ` (looked in ${o.credentials.locate(o.nodeName)})` : "";
      throw new Error(
        `node "${o.nodeName}" already exists and this agent holds no credential for it${where}: a bootstrap token registers new nodes only; ` +
          `an admin can re-register the node or delete its EdgeNode`,
      );
    }
    throw err;
  }
  await o.credentials?.save({ server, nodeName: o.nodeName, token: reg.token });
  return { ...reg, with: "bootstrap" };
}
