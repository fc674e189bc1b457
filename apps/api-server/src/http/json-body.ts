import type { IncomingMessage } from "node:http";
import type { Transform } from "node:stream";
import zlib from "node:zlib";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import YAML from "yaml";
import getRawBody from "raw-body";
import { ApiError } from "./errors.js";
import { checkJsonText } from "./json-guard.js";

/** The media types whose bodies are JSON (objects, merge patches, JSON patches). */
export const JSON_MEDIA_TYPES: ReadonlySet<string> = new Set(["application/json", "application/merge-patch+json", "application/json-patch+json"]);

/** `application/json` of `Application/JSON; charset=utf-8`. */
export function mediaTypeOf(req: IncomingMessage): string {
  return (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
}

function charsetOf(req: IncomingMessage): string | undefined {
  const m = /;\s*charset\s*=\s*"?([^";\s]*)"?/i.exec(req.headers["content-type"] ?? "");
  return m ? m[1]!.toLowerCase() : undefined;
}

/** As type-is: a body is announced by a Content-Length or a Transfer-Encoding. */
function hasBody(req: IncomingMessage): boolean {
  const length = req.headers["content-length"];
  return req.headers["transfer-encoding"] !== undefined || (length !== undefined && !Number.isNaN(Number(length)));
}

function inflaterFor(encoding: string): Transform | undefined {
  switch (encoding) {
    case "identity":
      return undefined;
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip();
    case "deflate":
      return zlib.createInflate();
    case "br":
      return zlib.createBrotliDecompress();
    default:
      throw new ApiError("UnsupportedMediaType", `unsupported content encoding "${encoding}": accepted are identity, gzip, deflate and br`);
  }
}

/** The Status for what went wrong while reading (raw-body's and zlib's errors are the client's doing). */
function readError(err: unknown, encoding: string, limit: number): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { type?: string; message?: string };
  switch (e?.type) {
    case "entity.too.large":
      // Kubernetes' words.
      return new ApiError("RequestEntityTooLarge", `Request entity too large: limit is ${limit}${encoding === "identity" ? "" : " (decoded)"}`);
    case "request.size.invalid":
      return new ApiError("BadRequest", "the request body's length does not match its Content-Length");
    case "request.aborted":
      return new ApiError("BadRequest", "the request was aborted");
  }
  if (encoding !== "identity") return new ApiError("BadRequest", `the request body is not valid ${encoding} data: ${e?.message ?? "unreadable"}`);
  return new ApiError("BadRequest", `the request body could not be read: ${e?.message ?? "unreadable"}`);
}

/** The body as UTF-8 text, its content encoding undone; at most `limit` bytes after decoding. */
async function readText(req: IncomingMessage, limit: number): Promise<string> {
  const charset = charsetOf(req);
  if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    throw new ApiError("UnsupportedMediaType", `unsupported charset "${charset}": request bodies are UTF-8`);
  }
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  try {
    const inflater = inflaterFor(encoding);
    if (!inflater) {
      const length = req.headers["content-length"];
      return await getRawBody(req, { limit, encoding: "utf-8", ...(length !== undefined ? { length } : {}) });
    }
    // A client that goes away mid-body must not leave the read waiting for the inflater's end.
    const onClose = () => {
      if (!req.complete) inflater.destroy(Object.assign(new Error("request aborted"), { type: "request.aborted" }));
    };
    req.once("close", onClose);
    req.pipe(inflater);
    try {
      return await getRawBody(inflater, { limit, encoding: "utf-8" });
    } finally {
      req.off("close", onClose);
      req.unpipe(inflater);
      inflater.destroy();
    }
  } catch (err) {
    throw readError(err, encoding, limit);
  }
}

/**
 * A JSON request body: read (see `readText`), parsed (an empty body is `{}`, as body-parser reads
 * it; the service then says what is missing) and checked by `checkJsonText`. Every failure is an
 * ApiError (400, 413 or 415).
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const text = await readText(req, limit);
  if (text.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError("BadRequest", `the request body is not valid JSON: ${(err as Error).message}`);
  }
  checkJsonText(text, value);
  return value;
}

/**
 * Server-side apply's media types. kube-apiserver takes YAML (`+yaml`, what kubectl and client-node
 * send, JSON being YAML too); `+json` is the same body announced as JSON.
 */
export const APPLY_MEDIA_TYPES: ReadonlySet<string> = new Set(["application/apply-patch+yaml", "application/apply-patch+json"]);

/**
 * Reads an apply body: YAML 1.2 core schema (no custom tags, no timestamps, no merge keys), at
 * most 100 aliases (no expansion bombs), duplicate keys refused; then held to the same checks as
 * JSON (depth, `__proto__`) by checking its JSON form.
 */
export async function readApplyBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const text = await readText(req, limit);
  if (text.length === 0) return {};
  let value: unknown;
  try {
    value = YAML.parse(text, { schema: "core", maxAliasCount: 100, uniqueKeys: true, merge: false });
  } catch (err) {
    throw new ApiError("BadRequest", `the request body is not valid YAML or JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  const json = JSON.stringify(value ?? {});
  if (json.length > limit) throw new ApiError("RequestEntityTooLarge", `the request body is larger than ${limit} bytes once its aliases are expanded`);
  const parsed: unknown = JSON.parse(json);
  checkJsonText(json, parsed);
  return parsed;
}

/** Parses JSON bodies of the JSON media types (and apply bodies) into `req.body`; leaves every other request alone. */
export function jsonBodyParser(limit: number): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    const type = mediaTypeOf(req);
    const apply = APPLY_MEDIA_TYPES.has(type);
    if ((!JSON_MEDIA_TYPES.has(type) && !apply) || !hasBody(req)) return next();
    (apply ? readApplyBody(req, limit) : readJsonBody(req, limit)).then((body) => {
      req.body = body;
      next();
    }, next);
  };
}
