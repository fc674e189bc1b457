// When a Model's base graph is replaced, the heads of its early exits were checked against the old
// graph's cut tensors (exit-check.ts), not the new one's. Each stored head is checked again, as its
// upload was; one that no longer reads its cut tensor is deleted with its `status.exitArtifacts`
// entry, and a Warning Event on the Model says which and why. Kept, it would be handed to serve
// tasks and fail every request that reaches its exit, while the status claimed a usable head.
import type { ExitArtifactStatus } from "@eiaas/api";
import type { ArtifactStore, EventRecorder, StoredObject } from "@eiaas/db";
import { ApiError } from "../http/errors.js";
import { ExitHeadCheck, ExitHeadMismatch, type CutTensors } from "./exit-check.js";
import { declaredExits, type ExitHeadJanitor } from "./exit-heads.js";
import { OnnxCheckError } from "./onnx-check.js";

export interface StaleHead {
  afterLayer: number;
  /** The version found stale: a head uploaded since is another one, and stays. */
  sha256: string;
  reason: string;
}

export interface StaleHeadDeps {
  artifacts: ArtifactStore;
  cutTensors: CutTensors;
  exitHeads: ExitHeadJanitor;
  events: EventRecorder;
}

/**
 * The Model's stored heads that do not read the cut tensors of its current base graph. None when
 * the base graph cannot be analysed (there is nothing to check against; an upload of a head is
 * refused alike, 409, until a base graph that can be is stored).
 */
export async function staleHeads(d: Pick<StaleHeadDeps, "artifacts" | "cutTensors">, model: StoredObject): Promise<StaleHead[]> {
  const out: StaleHead[] = [];
  for (const exit of [...declaredExits(model)].sort((a, b) => a - b)) {
    const record = await d.artifacts.head(model.metadata.uid, exit);
    if (!record) continue;
    let check: ExitHeadCheck;
    try {
      check = new ExitHeadCheck(await d.cutTensors.of(model, exit));
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.reason === "Conflict") return [];
      // Invalid: the layer names no cut tensor of the new graph, so there is nothing the head could read.
      out.push({ afterLayer: exit, sha256: record.sha256, reason: err.details?.causes?.[0]?.message ?? err.message });
      continue;
    }
    const reason = await refusal(d.artifacts, model.metadata.uid, exit, check);
    if (reason) out.push({ afterLayer: exit, sha256: record.sha256, reason });
  }
  return out;
}

/** Why the stored head fails `check`, undefined when it passes (or went meanwhile). */
async function refusal(artifacts: ArtifactStore, modelUid: string, exit: number, check: ExitHeadCheck): Promise<string | undefined> {
  const opened = await artifacts.open(modelUid, exit);
  if (!opened) return undefined;
  try {
    for await (const chunk of opened.stream) check.update(chunk as Uint8Array);
    check.finish();
    return undefined;
  } catch (err) {
    opened.stream.destroy();
    if (err instanceof ExitHeadMismatch || err instanceof OnnxCheckError) return err.message;
    throw err;
  }
}

/**
 * Deletes the Model's heads that its new base graph made stale, their status entries, and says so
 * in a Warning Event per head (reason `ExitHeadRemoved`). Answers the Model as stored afterwards.
 */
export async function dropStaleHeads(d: StaleHeadDeps, model: StoredObject, onError: (err: unknown) => void): Promise<StoredObject> {
  const stale = await staleHeads(d, model);
  if (!stale.length) return model;
  const { namespace, name, uid } = model.metadata;
  for (const s of stale) await d.artifacts.removeExit(uid, s.afterLayer, s.sha256);
  const isStale = (e: ExitArtifactStatus) => stale.some((s) => s.afterLayer === e.afterLayer && s.sha256 === e.sha256);
  const updated = await d.exitHeads.forgetInStatus(namespace!, name, uid, (e, declared) => !declared.has(e.afterLayer) || isStale(e));
  for (const s of stale) {
    await d.events
      .record({
        involved: { kind: "Model", name, namespace: namespace!, uid },
        type: "Warning",
        reason: "ExitHeadRemoved",
        message: `the head of the early exit after layer ${s.afterLayer} does not read the new base graph, so it was deleted: ${s.reason}; upload one that does (eictl model import --exit-head ${s.afterLayer}=HEAD.onnx)`,
      })
      .catch(onError);
  }
  return updated ?? model;
}
