/** Why an ONNX file was refused; the API maps every reason to a 422 with the message. */
export type OnnxErrorReason =
  | "InvalidOnnx" // not an ONNX ModelProto, truncated, or structurally broken
  | "UnsupportedOperator" // an op type the shape inference does not know
  | "DynamicShape" // a symbolic or unknown dimension and no inputShape given
  | "ShapeMismatch" // shapes that cannot go together (or inputShape contradicting the file)
  | "ExternalData" // weights stored outside the file where they are needed
  | "InvalidRange"; // a layer range or cut tensor that is not in the model

/**
 * The one error type of `@eiaas/onnx`: a one-line message that names the offending node (and its op
 * type) where there is one, so a CLI can print it as is and an API can return it in a Status.
 */
export class OnnxImportError extends Error {
  override readonly name = "OnnxImportError";
  /** The node concerned, when there is one (names cut at 200 characters). */
  readonly node?: { name: string; opType: string };
  constructor(
    readonly reason: OnnxErrorReason,
    message: string,
    node?: { name: string; opType: string },
  ) {
    // Names come from the file: a hostile one must not make a megabyte of error message.
    super(clip(message.replace(/[\r\n]+/g, " "), MAX_MESSAGE));
    if (node) this.node = { name: clip(node.name, 200), opType: clip(node.opType, 200) };
  }
}

const MAX_MESSAGE = 600;
const clip = (s: string, max: number): string => (s.length > max ? `${s.slice(0, max - 1)}…` : s);

/** `node "name" (OpType)` for messages; unnamed nodes are called by their position. */
export function nodeLabel(node: { name: string; opType: string }): string {
  return `node "${node.name}" (${node.opType})`;
}
