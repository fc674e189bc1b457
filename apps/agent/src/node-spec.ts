// The EdgeNode spec an agent registers: the operator's (a spec file, flags over it), with what the
// agent detects filling the fields the operator left unset.
import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { edgeNodeSpec, formatPath, type EdgeNodeSpecInput } from "@eiaas/api";
import type { DetectedHost, DetectNeeds } from "./host/detect.js";

/** The agent's spec flags, as given (absent: not given). */
export interface SpecFlags {
  tier?: string;
  parent?: string;
  hardware?: string;
  cpu?: string;
  "memory-mib"?: string;
  gpu?: string;
  gflops?: string;
  "uplink-mbps"?: string;
  "downlink-mbps"?: string;
  "rtt-ms"?: string;
}

/** A spec the operator gave that cannot be used: the message names the file or flag. */
export class SpecError extends Error {}

type Raw = Record<string, any>;
const isObject = (v: unknown): v is Raw => typeof v === "object" && v !== null && !Array.isArray(v);

/** A spec file (YAML or JSON): an EdgeNode spec, or a manifest with one under `spec`. */
export function readSpecFile(path: string): Raw {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, "utf8"));
  } catch (err) {
    throw new SpecError(`--spec-file ${path}: ${(err as Error).message.split("\n")[0]}`);
  }
  const spec = isObject(doc) && isObject(doc.spec) ? doc.spec : doc;
  if (!isObject(spec)) throw new SpecError(`--spec-file ${path}: not an EdgeNode spec (a mapping of tier, capacity, compute, ...)`);
  return spec;
}

function number(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new SpecError(`--${flag}: "${v}" is not a number`);
  return n;
}

/**
 * The operator's spec: the spec file's fields, each flag given over them. Only what was set is
 * there (no defaults yet): the rest is the agent's to detect, then the schema's defaults.
 */
export function operatorSpec(file: Raw | undefined, f: SpecFlags): Raw {
  const spec: Raw = structuredClone(file ?? {});
  const section = (k: string): Raw => {
    spec[k] ??= {};
    if (!isObject(spec[k])) throw new SpecError(`spec.${k}: must be a mapping (the spec file's ${k})`);
    return spec[k];
  };
  const set = (target: () => Raw, key: string, v: unknown) => {
    if (v !== undefined) target()[key] = v;
  };
  set(() => spec, "tier", f.tier);
  set(() => spec, "parent", f.parent);
  set(() => spec, "hardware", f.hardware);
  set(() => section("capacity"), "cpu", number("cpu", f.cpu));
  set(() => section("capacity"), "memoryMiB", number("memory-mib", f["memory-mib"]));
  set(() => section("capacity"), "gpu", number("gpu", f.gpu));
  set(() => section("compute"), "gflops", number("gflops", f.gflops));
  set(() => section("network"), "uplinkMbps", number("uplink-mbps", f["uplink-mbps"]));
  set(() => section("network"), "downlinkMbps", number("downlink-mbps", f["downlink-mbps"]));
  set(() => section("network"), "rttMs", number("rtt-ms", f["rtt-ms"]));
  spec.tier ??= "device";
  return spec;
}

/** The values the operator left for the agent to detect. */
export function detectionNeeds(spec: Raw): DetectNeeds {
  const capacity = isObject(spec.capacity) ? spec.capacity : {};
  const compute = isObject(spec.compute) ? spec.compute : {};
  return { cpu: capacity.cpu === undefined, memory: capacity.memoryMiB === undefined, gpu: capacity.gpu === undefined, gflops: compute.gflops === undefined };
}

/** The operator's spec with the detected values in the fields it left unset, validated as an EdgeNode spec. */
export function nodeSpec(operator: Raw, detected: Omit<DetectedHost, "labels" | "sources" | "problems">): EdgeNodeSpecInput {
  const spec: Raw = structuredClone(operator);
  // A section that is not a mapping is left for the schema to refuse.
  const fill = (section: string, key: string, v: number | undefined) => {
    spec[section] ??= {};
    if (v !== undefined && isObject(spec[section])) spec[section][key] ??= v;
  };
  fill("capacity", "cpu", detected.cpu);
  fill("capacity", "memoryMiB", detected.memoryMiB);
  fill("capacity", "gpu", detected.gpu);
  // Measured together with gflops, so only where the operator left gflops (and them) unset.
  spec.compute ??= {};
  if (detected.gflopsByOperator && isObject(spec.compute) && spec.compute.gflops === undefined) spec.compute.gflopsByOperator ??= detected.gflopsByOperator;
  fill("compute", "gflops", detected.gflops);
  const parsed = edgeNodeSpec.safeParse(spec);
  if (!parsed.success) throw new SpecError(parsed.error.issues.map((i) => `spec.${formatPath(i.path)}: ${i.message}`).join("; "));
  return parsed.data;
}

/** The node's labels: the detected ones (architecture, OS, GPU product) under the operator's. */
export function nodeLabels(operator: Record<string, string>, detected: Record<string, string>): Record<string, string> {
  return { ...detected, ...operator };
}
