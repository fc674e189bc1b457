import { OnnxImportError } from "./errors.js";

/**
 * Parses an input shape as eictl takes it (`1x3x224x224`, also `1,3,224,224`): positive integers,
 * batch included. The one parser for the CLI and the API's query parameter.
 */
export function parseShape(text: string): number[] {
  const parts = String(text).trim().split(/[x,]/i);
  const dims = parts.map((p) => (/^\d{1,9}$/.test(p.trim()) ? Number(p.trim()) : Number.NaN));
  if (parts.length > 16 || dims.some((d) => !(d > 0))) {
    throw new OnnxImportError("ShapeMismatch", `input shape "${String(text).slice(0, 64)}" must be positive integers separated by x, e.g. 1x3x224x224`);
  }
  return dims;
}
