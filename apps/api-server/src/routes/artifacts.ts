import { pipeline } from "node:stream/promises";
import { Router, type NextFunction, type Request, type Response } from "express";
import { kindInfo, type ExitArtifactStatus, type ModelArtifactStatus } from "@eiaas/api";
import { StoreError, type ArtifactRecord, type ArtifactStore, type ObjectStore, type StoredObject } from "@eiaas/db";
import { authorize, visible, type ModelRefs } from "../http/authz.js";
import { ApiError, notFound, sendError, toApiError } from "../http/errors.js";
import { mediaTypeOf } from "../http/json-body.js";
import { declaredExits, type ExitHeadJanitor } from "../artifacts/exit-heads.js";
import { ExitHeadCheck, ExitHeadMismatch } from "../artifacts/exit-check.js";
import { OnnxCheckError, OnnxStreamCheck } from "../artifacts/onnx-check.js";
import type { ResourceService } from "../resources/service.js";
import { param } from "./resources.js";

const MODEL = kindInfo("Model");
const ARTIFACT_MEDIA_TYPE = "application/octet-stream";
/**
 * How long a refused upload may go on sending after the answer before its connection is closed:
 * bounded by time only (discarding bytes costs little), so a client still sending its file reads
 * the answer instead of a reset.
 */
const DRAIN_LIMIT_MS = 5_000;

export interface ArtifactRouteDeps {
  service: ResourceService;
  store: ObjectStore;
  artifacts: ArtifactStore;
  /** Deletes an exit head stored while its exit was being removed from the Model. */
  exitHeads: ExitHeadJanitor;
  /** Which Models agents may read (their node's tasks'). */
  models: ModelRefs;
  /** Largest artifact accepted (413 beyond). */
  maxArtifactBytes: number;
  onInternal: (err: unknown) => void;
}

/** `status.artifact` of a Model from its stored artifact. */
export function artifactStatus(r: ArtifactRecord): ModelArtifactStatus {
  return { sha256: r.sha256, sizeBytes: r.sizeBytes, format: "onnx", uploadedAt: r.uploadedAt };
}

/**
 * Which of the Model's files a request names: its base graph (no `exit`, 0), or with `?exit=N` the
 * head of the early exit declared after layer N (spec.exits[].afterLayer). 400 for anything but a
 * whole number; 404 for an exit the Model does not declare, as for a file that does not exist.
 */
function exitOf(req: Request, model: StoredObject | undefined): number {
  const raw = req.query.exit;
  if (raw === undefined) return 0;
  if (typeof raw !== "string" || !/^[1-9][0-9]{0,5}$/.test(raw)) {
    throw new ApiError("BadRequest", `exit must be the layer an early exit of the Model follows (a whole number from 1), not ${JSON.stringify(String(raw).slice(0, 20))}`);
  }
  const exit = Number(raw);
  if (model) {
    const declared = ((model.spec?.exits ?? []) as Array<{ afterLayer?: unknown }>).some((e) => e.afterLayer === exit);
    if (!declared) {
      throw new ApiError("NotFound", `model "${model.metadata.name}" declares no early exit after layer ${exit} (spec.exits): declare it before uploading its head`, {
        name: model.metadata.name,
        kind: "models",
      });
    }
  }
  return exit;
}

/** `"<sha256>"`: the strong ETag of an artifact. */
function etagOf(r: ArtifactRecord): string {
  return `"${r.sha256}"`;
}

/** Whether `If-None-Match` names the current version (`*`, or one of its entity tags, weak or not). */
function notModified(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag === etag || tag === `W/${etag}`;
  });
}

/**
 * Answers a refused upload before its body has arrived. The rest of the body is read and dropped
 * for a moment (DRAIN_LIMIT_MS) so the client reads the answer rather than a connection reset;
 * past that the connection is closed.
 */
function refuseUpload(req: Request, res: Response, err: unknown, onInternal: (err: unknown) => void): void {
  if (!req.complete && !req.destroyed) {
    // No "Connection: close": Node would close the socket as soon as the answer is written, and
    // the client, still sending, would get a reset instead of reading it.
    const timer = setTimeout(() => req.socket.destroy(), DRAIN_LIMIT_MS).unref();
    req.once("end", () => clearTimeout(timer));
    req.once("close", () => clearTimeout(timer));
    req.resume();
  }
  sendError(res, err, onInternal);
}

/** The Status of a failed upload: the ONNX check's refusal is the body's fault (422). */
function uploadError(err: unknown, name: string): ApiError {
  if (err instanceof OnnxCheckError || err instanceof ExitHeadMismatch) {
    return new ApiError("Invalid", `Model "${name}" artifact is invalid: ${err.message}`, { name, kind: "models", causes: [{ reason: "FieldValueInvalid", field: "body", message: err.message }] });
  }
  if (err instanceof StoreError && err.reason === "NotFound") return notFound("models", name);
  const e = err as { code?: string };
  if (e?.code === "ECONNRESET" || e?.code === "ERR_STREAM_PREMATURE_CLOSE") return new ApiError("BadRequest", "the upload was aborted before its end");
  return toApiError(err);
}

/** The Model the path names, if the caller may `verb` it (404 otherwise, as for the Model itself). */
async function visibleModel(deps: ArtifactRouteDeps, req: Request, verb: "get" | "update"): Promise<StoredObject> {
  const ns = param(req, "ns");
  const name = param(req, "name");
  const access = authorize(req.principal!, verb, MODEL, ns, undefined, deps.models);
  const model = await deps.service.get(MODEL, ns, name);
  if (!visible(access, model)) throw notFound("models", name);
  return model;
}

/** Refuses an upload by its headers alone: another media type or encoding (415), too large (413), empty (422). */
function checkUploadHeaders(req: Request, maxBytes: number): void {
  const type = mediaTypeOf(req);
  if (type !== ARTIFACT_MEDIA_TYPE) {
    throw new ApiError("UnsupportedMediaType", `the artifact must be sent as ${ARTIFACT_MEDIA_TYPE} (got "${type || "none"}")`);
  }
  const encoding = (req.headers["content-encoding"] ?? "identity").trim().toLowerCase();
  if (encoding !== "identity") throw new ApiError("UnsupportedMediaType", `unsupported content encoding "${encoding}" for an artifact: send the file as it is`);
  const length = req.headers["content-length"];
  if (length !== undefined && Number(length) > maxBytes) {
    throw new ApiError("RequestEntityTooLarge", `the artifact (${length} bytes) is larger than the limit of ${maxBytes} bytes`);
  }
  if (length !== undefined && Number(length) === 0) throw new OnnxCheckError("the artifact is empty", 0);
}

/**
 * `PUT`: the file streamed to the ArtifactStore, checked as it arrives, then recorded in the Model's
 * status; a new base graph's exit heads are checked again against it (stale-heads.ts).
 */
async function upload(deps: ArtifactRouteDeps, req: Request, res: Response): Promise<void> {
  const name = param(req, "name");
  let model: StoredObject;
  let exit: number;
  let inspect: OnnxStreamCheck | ExitHeadCheck;
  try {
    checkUploadHeaders(req, deps.maxArtifactBytes);
    exitOf(req, undefined);
    model = await visibleModel(deps, req, "update");
    exit = exitOf(req, model);
    // A head must read the cut tensor its exit follows: checked while it streams, before it is kept.
    inspect = exit ? new ExitHeadCheck(await deps.exitHeads.cutTensors.of(model, exit)) : new OnnxStreamCheck();
  } catch (err) {
    return refuseUpload(req, res, uploadError(err, name), deps.onInternal);
  }
  try {
    // Not destroyed when the store stops reading (a refusal midway): the answer must still reach the client.
    const body = req.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
    await deps.artifacts.put(model.metadata.uid, body, { maxBytes: deps.maxArtifactBytes, inspect, exitAfter: exit });
  } catch (err) {
    return refuseUpload(req, res, uploadError(err, name), deps.onInternal);
  }
  const checkedAgainst = inspect instanceof ExitHeadCheck ? inspect.cut.baseSha256 : undefined;
  let updated = await recordArtifactStatus(deps, model, exit, checkedAgainst);
  // A new base graph: the heads checked against the one it replaces are checked again.
  if (!exit) updated = (await deps.exitHeads.checkAgainstBase(updated)).model;
  res.status(200).type("application/json").send(JSON.stringify(updated));
}

/** `GET`/`HEAD`: the stored file, with its digest as ETag (`If-None-Match` → 304). */
async function download(deps: ArtifactRouteDeps, req: Request, res: Response): Promise<void> {
  const name = param(req, "name");
  exitOf(req, undefined);
  const model = await visibleModel(deps, req, "get");
  const exit = exitOf(req, model);
  const opened = await deps.artifacts.open(model.metadata.uid, exit);
  if (!opened) {
    const missing = exit ? `no head for its early exit after layer ${exit}: upload one with eictl model import --exit-head ${exit}=HEAD.onnx` : "no artifact: upload one with eictl model import";
    throw new ApiError("NotFound", `model "${name}" has ${missing}`, { name, kind: "models" });
  }
  const { record, stream } = opened;
  const etag = etagOf(record);
  res.setHeader("ETag", etag);
  res.setHeader("Cache-Control", "private, no-cache");
  if (notModified(req.headers["if-none-match"], etag) || req.method === "HEAD") {
    stream.destroy();
    if (req.method === "HEAD" && !notModified(req.headers["if-none-match"], etag)) {
      res.status(200).setHeader("Content-Type", ARTIFACT_MEDIA_TYPE);
      res.setHeader("Content-Length", String(record.sizeBytes));
      return void res.end();
    }
    return void res.status(304).end();
  }
  res.status(200).setHeader("Content-Type", ARTIFACT_MEDIA_TYPE);
  res.setHeader("Content-Length", String(record.sizeBytes));
  try {
    await pipeline(stream, res);
  } catch {
    // Replaced or deleted midway, or the client left: the short body tells the client (its
    // Content-Length and digest do not match), which fetches again.
    res.destroy();
  }
}

/**
 * The artifact subresource of Models: `PUT .../models/{name}/artifact` (the ONNX file,
 * `application/octet-stream`, streamed to the ArtifactStore and checked as it arrives) and `GET`/
 * `HEAD` of it (ETag = its sha256, `If-None-Match` → 304); with `?exit=N` the same for the head of
 * the early exit declared after layer N (recorded in `status.exitArtifacts`): a head must read the cut
 * tensor its exit follows (exit-check.ts; 422 otherwise, 409 before the base graph is stored), and
 * goes when its exit is removed from the spec (exit-heads.ts) or when a base graph it does not read
 * replaces the one it was checked against (stale-heads.ts, with a Warning Event). Tenants read and write their own
 * Models' artifacts; an agent reads those of the Models its node's unfinished tasks use, and no
 * other (404, as for the Models themselves); admins all. The upload records
 * `status.artifact` (digest, size, time) in the Model; the object itself stays small.
 */
export function artifactRouter(deps: ArtifactRouteDeps): Router {
  const r = Router();
  const path = "/namespaces/:ns/models/:name/artifact";
  r.put(path, (req: Request, res: Response, next: NextFunction) => {
    void upload(deps, req, res).catch(next);
  });
  r.get(path, (req: Request, res: Response, next: NextFunction) => {
    void download(deps, req, res).catch(next);
  });
  return r;
}

/**
 * Writes `status.artifact` of the Model from its stored artifact (`status.exitArtifacts[]` for an
 * exit head), read again each time, so concurrent uploads leave the status of the one that was
 * stored last. NotFound when the Model was deleted, or deleted and created again, meanwhile.
 */
async function recordArtifactStatus(deps: ArtifactRouteDeps, uploadedTo: StoredObject, exit: number, checkedAgainst?: string): Promise<StoredObject> {
  const { namespace, name, uid } = uploadedTo.metadata;
  for (let attempt = 0; ; attempt++) {
    const current = await deps.store.get(MODEL, namespace, name);
    if (!current || current.metadata.uid !== uid) throw notFound("models", name);
    if (exit && !declaredExits(current).has(exit)) {
      // The exit was removed from the spec during the upload: its head goes with it.
      await deps.exitHeads.prune(current);
      throw new ApiError("NotFound", `model "${name}" no longer declares an early exit after layer ${exit} (spec.exits): its head was not kept`, { name, kind: "models" });
    }
    const record = await deps.artifacts.head(uid, exit);
    if (!record) throw notFound("models", name);
    const status = exit
      ? withExitArtifact(current.status ?? {}, { afterLayer: exit, ...artifactStatus(record), ...(checkedAgainst ? { checkedAgainst } : {}) })
      : { ...(current.status ?? {}), artifact: artifactStatus(record) };
    try {
      return await deps.store.updateStatus(MODEL, current, status);
    } catch (err) {
      if (!(err instanceof StoreError && err.reason === "Conflict") || attempt >= 10) throw err;
    }
  }
}

/** The status with the exit head's entry put in `exitArtifacts` (replacing the same exit's), by afterLayer. */
function withExitArtifact(status: Record<string, unknown>, entry: ExitArtifactStatus): Record<string, unknown> {
  const others = ((status.exitArtifacts ?? []) as ExitArtifactStatus[]).filter((e) => e.afterLayer !== entry.afterLayer);
  return { ...status, exitArtifacts: [...others, entry].sort((a, b) => a.afterLayer - b.afterLayer) };
}
