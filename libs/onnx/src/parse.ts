import { OnnxImportError } from "./errors.js";
import { decodeModel, toInt, type ModelProto } from "./proto.js";

/** A decoded ONNX model that passed the structural checks. */
export interface OnnxModel {
  /** The decoded ModelProto (onnx-proto / protobufjs objects). */
  proto: ModelProto;
  /** Opset of the default (ai.onnx) domain. */
  opsetVersion: number;
  irVersion: number;
  producer: string;
}

/**
 * Decodes ONNX bytes. Truncated bytes, bytes that are not a ModelProto, a model without a graph or
 * without nodes, and models without an ai.onnx opset are refused with an `InvalidOnnx` error
 * (nothing is thrown but {@link OnnxImportError}).
 */
export function parseOnnx(bytes: Uint8Array): OnnxModel {
  if (!(bytes instanceof Uint8Array) || bytes.byteLength === 0) throw new OnnxImportError("InvalidOnnx", "empty file: not an ONNX model");
  const proto = decodeModel(bytes);
  const graph = proto.graph;
  if (!graph || !graph.node || graph.node.length === 0) {
    throw new OnnxImportError("InvalidOnnx", "not an ONNX model: no graph with nodes (is the file complete?)");
  }
  const irVersion = toInt(proto.irVersion, "ir_version");
  if (irVersion < 3) throw new OnnxImportError("InvalidOnnx", `not a supported ONNX model: ir_version ${irVersion} (3 or later needed)`);
  const opset = (proto.opsetImport ?? []).find((o) => !o.domain || o.domain === "ai.onnx");
  if (!opset) throw new OnnxImportError("InvalidOnnx", "not a supported ONNX model: it imports no ai.onnx opset");
  const opsetVersion = toInt(opset.version, "opset version");
  if (opsetVersion < 7) throw new OnnxImportError("InvalidOnnx", `opset ${opsetVersion} is too old (7 or later needed)`);
  return { proto, opsetVersion, irVersion, producer: proto.producerName ?? "" };
}
