// @eiaas/onnx: ONNX models in, Model layer tables and standalone segments out. Pure: bytes in,
// bytes or plain objects out; every refusal is an OnnxImportError with a one-line message.
export { OnnxImportError, type OnnxErrorReason } from "./errors.js";
export { parseOnnx, type OnnxModel } from "./parse.js";
export { importOnnxModel, type ImportOptions, type ImportedModel } from "./import.js";
export type { AnalyseOptions } from "./analysis.js";
export type { Coalesce } from "./layers.js";
export type { CutPoint } from "./cuts.js";
export { extractSegment, type SegmentRange } from "./extract.js";
export { attachExitHead, type AttachedExit, type ExitHeadOptions } from "./exit.js";
export { OPERATORS } from "./shapes/registry.js";
export { parseShape } from "./shape-text.js";
export { GraphBuilder, type BuildOptions, type Weights } from "./builder.js";
export { operatorClassOf, flopsByOperatorOf, elementOpsOf } from "./operators.js";
export { calibrationModels, speedsFromTimes, type CalibrationModel } from "./calibration.js";
