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
  constructor(
    readonly reason: OnnxErrorReason,
    message: string,
    /** The node concerned, when there is one. */
    readonly node?: { name: string; opType: string },
  ) {
    super(message);
  }
}

/** `node "name" (OpType)` for messages; unnamed nodes are called by their position. */
export function nodeLabel(node: { name: string; opType: string }): string {
  return `node "${node.name}" (${node.opType})`;
}
