// `npm run models:reference -- [--out DIR] [--seed N] [--only resnet18,vgg16] [--shapes-only]`:
// writes the reference models (and the examples' exit heads) as ONNX files with seeded random
// weights. Same seed, same bytes.
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EXITS, MODELS, exitHead, type ReferenceModel } from "./reference.js";

/** Writes the models (and their exit heads) into `dir`; returns the files written. */
export function writeReferenceModels(dir: string, opts: { seed?: number; only?: ReferenceModel[]; shapesOnly?: boolean } = {}): string[] {
  mkdirSync(dir, { recursive: true });
  const build = { seed: opts.seed ?? 1, weights: opts.shapesOnly ? ("none" as const) : ("random" as const) };
  const names = opts.only ?? (Object.keys(MODELS) as ReferenceModel[]);
  const files: string[] = [];
  const write = (file: string, bytes: Uint8Array): void => {
    const path = join(dir, file);
    writeFileSync(path, bytes);
    files.push(path);
    const digest = createHash("sha256").update(bytes).digest("hex").slice(0, 16);
    console.log(`${path}  ${(bytes.byteLength / 2 ** 20).toFixed(1)} MiB  sha256:${digest}…`);
  };
  for (const name of names) {
    write(`${name}.onnx`, MODELS[name](build));
    for (const e of EXITS.filter((x) => x.model === name)) write(`${name}.exit${e.afterLayer}.onnx`, exitHead(`${name}-exit${e.afterLayer}`, e.shape, build));
  }
  return files;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: "models/reference" },
      seed: { type: "string", default: "1" },
      only: { type: "string" },
      "shapes-only": { type: "boolean", default: false },
    },
  });
  const seed = Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`--seed must be a non-negative integer, got ${values.seed}`);
  const only = values.only?.split(",").map((s) => s.trim()) as ReferenceModel[] | undefined;
  const unknown = only?.filter((n) => !(n in MODELS));
  if (unknown?.length) throw new Error(`unknown model(s) ${unknown.join(", ")}; known: ${Object.keys(MODELS).join(", ")}`);
  writeReferenceModels(values.out!, { seed, only, shapesOnly: values["shapes-only"] });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (e) {
    console.error(`models:reference: ${(e as Error).message}`);
    process.exit(1);
  }
}
