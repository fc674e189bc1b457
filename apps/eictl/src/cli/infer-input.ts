// The input tensor of `eictl infer`: read from a file (.npy, .json, or raw float32 bytes) or made
// up from a seed, and checked against the model's input shape before anything is sent.
import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import { CliError } from "./errors.js";

export interface InputTensor {
  shape: number[];
  data: Float32Array;
}

/** A dim the model fixes (a positive number) or leaves open (a name, -1, 0). */
export type ModelDim = number | string;

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const shapeText = (shape: readonly ModelDim[]) => `[${shape.join(",")}]`;
/** Larger inputs than this are refused before being read (4 × 64 Mi elements). */
const MAX_INPUT_BYTES = 256 * 2 ** 20;

/** Whether every dim is fixed (the shape `--random` and a raw file need). */
export function fixedShape(dims: readonly ModelDim[] | undefined): number[] | undefined {
  return dims && dims.length > 0 && dims.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d > 0) ? (dims as number[]) : undefined;
}

/** `1x3x224x224` (the Model's eiaas.io/onnx-input-shape annotation) → dims, or undefined. */
export function parseShapeAnnotation(text: string | undefined): number[] | undefined {
  if (!text) return undefined;
  const dims = text.split(/[x,]/).map(Number);
  return fixedShape(dims);
}

/** Values uniform in [0, 1) from `seed` (mulberry32): the same seed gives the same tensor everywhere. */
export function randomTensor(shape: number[], seed: number): InputTensor {
  let a = seed >>> 0;
  const data = new Float32Array(elements(shape));
  for (let i = 0; i < data.length; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    data[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return { shape: [...shape], data };
}

/**
 * Reads `-f FILE`: `.npy` (float32 or float64, C order; its shape is the tensor's), `.json`
 * (`{"shape":[…],"data":[…]}` with data flat or nested, or a bare nested array), anything else raw
 * float32 little-endian values of the model's input shape. The result must fit the model's input.
 */
export async function readInputFile(file: string, modelDims: readonly ModelDim[] | undefined): Promise<InputTensor> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (bytes.length > MAX_INPUT_BYTES) throw new CliError(`${file} has ${bytes.length} bytes; inputs of at most ${MAX_INPUT_BYTES} are sent`);
  const ext = extname(file).toLowerCase();
  const tensor = ext === ".npy" ? parseNpy(file, bytes) : ext === ".json" ? parseJson(file, bytes) : parseRaw(file, bytes, modelDims);
  checkFits(file, tensor, modelDims);
  return tensor;
}

/** A bad input shape is refused here, in one line, rather than by the server. */
export function checkFits(what: string, t: InputTensor, modelDims: readonly ModelDim[] | undefined): void {
  if (!modelDims) return;
  const fits = t.shape.length === modelDims.length && modelDims.every((d, i) => typeof d !== "number" || d <= 0 || d === t.shape[i]);
  if (!fits) throw new CliError(`bad input shape: ${what} is ${shapeText(t.shape)}, the model's input is ${shapeText(modelDims)}`);
}

function parseRaw(file: string, bytes: Buffer, modelDims: readonly ModelDim[] | undefined): InputTensor {
  const shape = fixedShape(modelDims);
  if (!shape) throw new CliError(`${file}: a raw float32 file needs the model's input shape, which has open dims ${shapeText(modelDims ?? [])}: use a .npy or .json file`);
  if (bytes.length % 4 !== 0 || bytes.length / 4 !== elements(shape)) {
    throw new CliError(`bad input shape: ${file} holds ${bytes.length} bytes (${bytes.length / 4} float32 values), the model's input ${shapeText(shape)} takes ${elements(shape) * 4}`);
  }
  const data = new Float32Array(bytes.length / 4);
  new Uint8Array(data.buffer).set(bytes);
  return { shape, data };
}

/** NumPy's .npy format, versions 1-3: magic, version, header length, a Python dict literal header. */
function parseNpy(file: string, bytes: Buffer): InputTensor {
  const bad = (why: string): never => {
    throw new CliError(`${file}: not a usable .npy file: ${why}`);
  };
  if (bytes.length < 10 || bytes.subarray(0, 6).toString("latin1") !== "\x93NUMPY") bad("no NUMPY magic");
  const major = bytes[6]!;
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) bad("its header runs past the end");
  const header = bytes.subarray(start, start + headerLen).toString("latin1");
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1] ?? bad("no descr in the header");
  if (/'fortran_order':\s*True/.test(header)) bad("Fortran order (save it C-ordered)");
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1] ?? bad("no shape in the header");
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  if (shape.length === 0 || shape.some((d) => !Number.isSafeInteger(d) || d < 1)) bad(`shape (${shapeText})`);
  const n = elements(shape);
  const body = bytes.subarray(start + headerLen);
  const size = descr === "<f4" ? 4 : descr === "<f8" ? 8 : bad(`dtype ${descr} (float32 '<f4' or float64 '<f8' only)`);
  if (body.length !== n * size) bad(`${body.length} data bytes for shape (${shapeText}) of ${descr}`);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = size === 4 ? body.readFloatLE(i * 4) : body.readDoubleLE(i * 8);
  return { shape, data };
}

function parseJson(file: string, bytes: Buffer): InputTensor {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch (err) {
    throw new CliError(`${file}: not JSON: ${(err as Error).message}`);
  }
  const values: number[] = [];
  const dims: number[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (Array.isArray(v)) {
      if (dims[depth] === undefined) dims[depth] = v.length;
      else if (dims[depth] !== v.length) throw new CliError(`${file}: a ragged array (rows of ${dims[depth]} and ${v.length} values at depth ${depth + 1})`);
      for (const x of v) walk(x, depth + 1);
    } else if (typeof v === "number" && Number.isFinite(v)) {
      if (depth !== dims.length) throw new CliError(`${file}: a ragged array (a number at depth ${depth})`);
      values.push(v);
    } else throw new CliError(`${file}: ${JSON.stringify(v)?.slice(0, 40)} is not a finite number`);
  };
  const obj = doc as { shape?: unknown; data?: unknown };
  if (obj && typeof obj === "object" && !Array.isArray(obj)) {
    if (!Array.isArray(obj.shape) || !obj.shape.every((d) => Number.isSafeInteger(d) && (d as number) > 0)) throw new CliError(`${file}: "shape" must be a list of positive integers`);
    walk(obj.data, 0);
    const shape = obj.shape as number[];
    if (values.length !== elements(shape)) throw new CliError(`bad input shape: ${file} has ${values.length} values for shape ${shapeText(shape)}`);
    return { shape, data: Float32Array.from(values) };
  }
  walk(doc, 0);
  if (dims.length === 0 || values.length === 0 || values.length !== elements(dims)) throw new CliError(`${file}: expected {"shape":[…],"data":[…]} or a nested array of numbers`);
  return { shape: dims, data: Float32Array.from(values) };
}
