import { isStatus, type Status, type StatusCause, type StatusReason } from "@eiaas/api";

/** Reason of a status code when the server answered without a `Status` body (a proxy, say). */
const REASON_BY_CODE: Record<number, Exclude<StatusReason, "">> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  406: "NotAcceptable",
  409: "Conflict",
  410: "Gone",
  413: "RequestEntityTooLarge",
  415: "UnsupportedMediaType",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

/** The API answered with an error: carries the server's `Status` (message, reason, code, causes). */
export class ApiRequestError extends Error {
  readonly status: Status;

  constructor(status: Status) {
    super(status.message);
    this.name = "ApiRequestError";
    this.status = status;
  }

  get code(): number {
    return this.status.code;
  }

  get reason(): StatusReason {
    return this.status.reason;
  }

  get causes(): StatusCause[] {
    return this.status.details?.causes ?? [];
  }

  /** Seconds the server asked to wait before retrying (429 and 503), if it said. */
  get retryAfterSeconds(): number | undefined {
    return this.status.details?.retryAfterSeconds;
  }
}

/** What an API answer asked a retry to wait (its Retry-After), in ms: for `retry`'s `minDelayMs`. */
export function retryAfterMs(err: unknown): number | undefined {
  const seconds = err instanceof ApiRequestError ? err.retryAfterSeconds : undefined;
  return seconds === undefined ? undefined : seconds * 1000;
}

/**
 * Builds the error of a non-2xx answer. The body is the server's Status when it sent one; anything
 * else (HTML from a proxy, an empty body) becomes a Status with the code's usual reason so callers
 * handle one shape.
 */
export function errorFromResponse(code: number, body: string, retryAfter?: string): ApiRequestError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    parsed = undefined;
  }
  if (isStatus(parsed)) {
    const status = { ...parsed, code: parsed.code || code };
    if (retryAfter && status.details?.retryAfterSeconds === undefined && /^\d+$/.test(retryAfter)) {
      status.details = { ...status.details, retryAfterSeconds: Number(retryAfter) };
    }
    return new ApiRequestError(status);
  }
  const reason = REASON_BY_CODE[code] ?? (code >= 500 ? "InternalError" : "BadRequest");
  const text = body.trim().split("\n")[0]?.slice(0, 200) ?? "";
  return new ApiRequestError({
    apiVersion: "v1",
    kind: "Status",
    metadata: {},
    status: "Failure",
    reason,
    code,
    message: text ? `the server answered ${code}: ${text}` : `the server answered ${code} with no explanation`,
  });
}

/** Kinds of transport failure, so callers (and the CLI) can say what to do next. */
export type ConnectionProblem = "refused" | "unresolved" | "timeout" | "reset" | "tls" | "other";

/**
 * The server could not be reached, or the connection broke. The message names the URL and suggests
 * the next step; `problem` classifies it and `cause` keeps the socket error.
 */
export class ConnectionError extends Error {
  constructor(
    message: string,
    readonly server: string,
    readonly problem: ConnectionProblem,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_GET_ISSUER_CERT",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "CERT_SIGNATURE_FAILURE",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "EPROTO",
]);

/** Turns a socket error into a {@link ConnectionError} whose message says what to do next. */
export function connectionError(server: string, err: unknown): ConnectionError {
  const e = err as NodeJS.ErrnoException & { reason?: string };
  const code = e?.code ?? "";
  const detail = (e?.message ?? String(err)).split("\n")[0];
  const check = "start one with 'npm run demo', or check --server and the context ('eictl config get-contexts')";
  if (code === "ECONNREFUSED") {
    return new ConnectionError(`the connection to the server ${server} was refused - is it running? ${check}`, server, "refused", { cause: err });
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    return new ConnectionError(`unable to resolve the host of the server ${server} (${code}): check --server and the context ('eictl config get-contexts')`, server, "unresolved", { cause: err });
  }
  if (code === "ETIMEDOUT" || code === "ESOCKETTIMEDOUT" || code === "ERR_CLIENT_TIMEOUT") {
    return new ConnectionError(`the server ${server} did not answer in time - is it running and reachable? ${check}`, server, "timeout", { cause: err });
  }
  if (code === "ECONNRESET" || code === "EPIPE" || code === "ECONNABORTED" || code === "UND_ERR_SOCKET") {
    return new ConnectionError(`the connection to the server ${server} was closed unexpectedly (${code}) - is it running? ${check}`, server, "reset", { cause: err });
  }
  // A reset during the handshake ("socket disconnected before secure TLS connection") is a
  // connection problem (a server restarting), handled above; only certificate errors are TLS ones.
  if (TLS_CODES.has(code) || (!code && /certificate|SSL|TLS/i.test(detail ?? ""))) {
    const hint =
      code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "EPROTO"
        ? "the server does not speak TLS at this address: check the scheme of --server (http:// or https://)"
        : "give the server's CA with 'eictl config set-context NAME --certificate-authority FILE' (the demo writes it to .eiaas/pki/ca.crt), or use --insecure-skip-tls-verify";
    return new ConnectionError(`unable to verify the TLS connection to the server ${server}: ${detail}: ${hint}`, server, "tls", { cause: err });
  }
  return new ConnectionError(`unable to connect to the server ${server}: ${detail}${code ? ` (${code})` : ""} - ${check}`, server, "other", { cause: err });
}

/** kubeconfig is missing a piece, is malformed, or names an entry that is not there. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfigError";
  }
}
