// When a Model's base graph is replaced, the heads of its early exits were checked against the old
// graph's cut tensors (exit-check.ts), not the new one's. Each stored head is checked again, as its
// upload was; the janitor (exit-heads.ts) deletes one that no longer reads its cut tensor, with its
// `status.exitArtifacts` entry and a Warning Event. Kept, it would be handed to serve tasks and
// fail every request that reaches its exit, while the status claimed a usable head.
import type { ArtifactStore, StoredObject } from "@eiaas/db";
import { ApiError } from "../http/errors.js";
import { ExitHeadCheck, ExitHeadMismatch, type CutTensors } from "./exit-check.js";
import { OnnxCheckError } from "./onnx-check.js";

export interface CheckedHead {
  afterLayer: number;
  /** The version checked: a head uploaded since is another one. */
  sha256: string;
}

export interface StaleHead extends CheckedHead {
  reason: string;
}

export interface HeadCheck {
  /** sha256 of the base graph the heads were checked against. */
  base: string;
  stale: StaleHead[];
  fine: CheckedHead[];
}

/**
 * The stored heads of the Model's `exits` checked against the cut tensors of its stored base graph. Undefined
 * when there is nothing to check against: no head, no base graph, or one the import cannot analyse
 * (an upload of a head is refused alike, 409, until a graph that can be is stored).
 */
export async function staleHeads(artifacts: ArtifactStore, cutTensors: CutTensors, model: StoredObject, exits: Iterable<number>): Promise<HeadCheck | undefined> {
  const out: HeadCheck = { base: "", stale: [], fine: [] };
  for (const exit of [...exits].sort((a, b) => a - b)) {
    const record = await artifacts.head(model.metadata.uid, exit);
    if (!record) continue;
    const head = { afterLayer: exit, sha256: record.sha256 };
    let check: ExitHeadCheck;
    try {
      check = new ExitHeadCheck(await cutTensors.of(model, exit));
      out.base = check.cut.baseSha256;
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.reason === "Conflict") return undefined;
      // Invalid: the layer names no cut tensor of the graph, so there is nothing the head could read.
      out.stale.push({ ...head, reason: err.details?.causes?.[0]?.message ?? err.message });
      continue;
    }
    const reason = await refusal(artifacts, model.metadata.uid, exit, check);
    if (reason) out.stale.push({ ...head, reason });
    else out.fine.push(head);
  }
  if (!out.base) out.base = (await artifacts.head(model.metadata.uid, 0))?.sha256 ?? "";
  return out.base && out.stale.length + out.fine.length > 0 ? out : undefined;
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
