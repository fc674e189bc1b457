// What `eictl model import` makes of an ONNX file: the Model object to create or update, built
// client-side with @eiaas/onnx (so a dry run needs no server).
import { API_VERSION, ONNX_INPUT_SHAPE_ANNOTATION, type EarlyExit, type ModelLayer } from "@eiaas/api";
import type { AnyObject } from "@eiaas/client";
import { attachExitHead, importOnnxModel, OnnxImportError, type ImportedModel } from "@eiaas/onnx";
import { CliError } from "./errors.js";

/** An exit head given on the command line: `AFTER=HEAD.onnx[@ACCURACY]`. */
export interface ExitHeadArg {
  afterLayer: number;
  file: string;
  accuracy?: number;
}

/** Where the Model came from, kept as an annotation (the ONNX doc string: e.g. "seeded random weights"). */
export const ONNX_DOC_ANNOTATION = "eiaas.io/onnx-doc";
const MAX_DOC_CHARS = 1024;

/** `1x3x224x224` → [1, 3, 224, 224]. */
export function parseInputShape(text: string): number[] {
  const dims = text.split(/[x,]/).map((d) => d.trim());
  if (dims.length === 0 || dims.some((d) => !/^[1-9]\d{0,8}$/.test(d))) {
    throw new CliError(`invalid --input "${text}": expected positive dimensions separated by x, e.g. 1x3x224x224`);
  }
  return dims.map(Number);
}

/** `4=exit4.onnx` or `4=exit4.onnx@0.62`. */
export function parseExitHead(text: string): ExitHeadArg {
  const m = /^(\d+)=(.+?)(?:@([0-9.]+))?$/.exec(text);
  if (!m) throw new CliError(`invalid --exit-head "${text}": expected AFTER=HEAD.onnx[@ACCURACY], e.g. 4=exit4.onnx@0.62`);
  const accuracy = m[3] === undefined ? undefined : parseAccuracy(m[3], "--exit-head");
  return { afterLayer: Number(m[1]), file: m[2]!, ...(accuracy !== undefined ? { accuracy } : {}) };
}

export function parseAccuracy(text: string, flag = "--accuracy"): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v) || v < 0 || v > 1) throw new CliError(`invalid ${flag} accuracy "${text}": expected a number between 0 and 1`);
  return v;
}

/** Runs the import, turning the library's refusals into one-line CLI errors naming the file. */
export function importFile(file: string, bytes: Uint8Array, inputShape?: number[]): ImportedModel {
  try {
    return importOnnxModel(bytes, inputShape ? { inputShape } : {});
  } catch (err) {
    if (err instanceof OnnxImportError) throw new CliError(`${file}: ${err.message}`);
    throw err;
  }
}

function sameLayers(a: readonly ModelLayer[], b: readonly ModelLayer[] | undefined): boolean {
  return !!b && a.length === b.length && a.every((l, i) => l.name === b[i]!.name && l.flops === b[i]!.flops && l.outputBytes === b[i]!.outputBytes);
}

export interface ModelImportInput {
  name: string;
  namespace: string;
  imported: ImportedModel;
  /** The ONNX bytes (exit heads are checked against them). */
  bytes: Uint8Array;
  inputShape?: number[];
  exitHeads: Array<ExitHeadArg & { bytes: Uint8Array }>;
  accuracy?: number;
  /** The stored Model when it exists (its user-set fields are kept). */
  existing?: AnyObject;
}

/** The Model to write: a manifest (no server-set metadata but the resourceVersion it replaces). */
export interface ModelManifest {
  apiVersion: string;
  kind: "Model";
  metadata: { name: string; namespace: string; labels?: Record<string, string>; annotations?: Record<string, string>; resourceVersion?: string };
  spec: Record<string, unknown>;
}

export interface ModelImportResult {
  object: ModelManifest;
  /** What the import dropped from the existing Model, for a note on stderr. */
  notes: string[];
}

/**
 * The Model for an import: the file's layer table and input size; accuracy from `--accuracy`,
 * else the existing Model's (required for a new one: the file does not know it); capabilities,
 * image, variants, labels and annotations kept from the existing Model; its profiles and exits
 * kept only while the layer table is unchanged (they are per layer), and exits given on the
 * command line replacing those at the same position.
 */
export function buildModel(input: ModelImportInput): ModelImportResult {
  const { imported, existing } = input;
  const notes: string[] = [];
  const oldSpec = existing?.spec ?? {};
  const accuracy = input.accuracy ?? oldSpec.accuracy;
  if (accuracy === undefined) {
    throw new CliError(`--accuracy is required for a new model (the top-1 accuracy of the full model, 0..1: an ONNX file does not say)`);
  }
  const unchanged = sameLayers(imported.layers, oldSpec.layers);
  const keptExits: EarlyExit[] = unchanged ? [...(oldSpec.exits ?? [])] : [];
  if (!unchanged && oldSpec.exits?.length) notes.push(`the layer table changed: dropped ${oldSpec.exits.length} early exit(s) of the old table`);
  if (!unchanged && oldSpec.profiles?.length) notes.push(`the layer table changed: dropped ${oldSpec.profiles.length} measured profile(s) of the old table`);
  for (const e of input.exitHeads) {
    let attached;
    try {
      attached = attachExitHead(input.bytes, e.bytes, { afterLayer: e.afterLayer, ...(input.inputShape ? { inputShape: input.inputShape } : {}) });
    } catch (err) {
      if (err instanceof OnnxImportError) throw new CliError(`${e.file}: ${err.message}`);
      throw err;
    }
    const previous = keptExits.findIndex((x) => x.afterLayer === e.afterLayer);
    const exitAccuracy = e.accuracy ?? (previous >= 0 ? keptExits[previous]!.accuracy : undefined);
    if (exitAccuracy === undefined) throw new CliError(`--exit-head ${e.afterLayer}=${e.file}: give the exit's accuracy (${e.afterLayer}=${e.file}@0.62): an ONNX file does not say`);
    const exit: EarlyExit = { afterLayer: e.afterLayer, accuracy: exitAccuracy, head: { ...attached.head, profiles: [] } };
    if (previous >= 0) keptExits[previous] = exit;
    else keptExits.push(exit);
  }
  keptExits.sort((a, b) => a.afterLayer - b.afterLayer);
  const annotations: Record<string, string> = { ...(existing?.metadata?.annotations ?? {}) };
  delete annotations[ONNX_DOC_ANNOTATION];
  delete annotations[ONNX_INPUT_SHAPE_ANNOTATION];
  if (imported.docString) annotations[ONNX_DOC_ANNOTATION] = imported.docString.slice(0, MAX_DOC_CHARS);
  // The shape the layers were derived with: agents cut segments with it (a dynamic file needs it).
  if (input.inputShape) annotations[ONNX_INPUT_SHAPE_ANNOTATION] = input.inputShape.join("x");
  const spec = {
    ...oldSpec,
    inputBytes: imported.inputBytes,
    accuracy,
    layers: imported.layers,
    profiles: unchanged ? (oldSpec.profiles ?? []) : [],
    exits: keptExits,
  };
  const metadata = {
    name: input.name,
    namespace: input.namespace,
    ...(existing?.metadata?.labels && Object.keys(existing.metadata.labels).length ? { labels: existing.metadata.labels } : {}),
    ...(Object.keys(annotations).length ? { annotations } : {}),
    ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
  };
  return { object: { apiVersion: API_VERSION, kind: "Model", metadata, spec }, notes };
}
