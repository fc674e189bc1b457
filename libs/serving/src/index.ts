export { startServing, serve, STREAM_HEADER, type ServingOptions, type ServingServer } from "./server.js";
export { ResultCache, InputFilter, meanAbsDiff, type ResultCacheOptions, type InputFilterOptions, type ReuseCounts, type ReusableAnswer } from "./reuse.js";
export { Pipeline, topConfidence, type PipelineOptions, type PipelineAnswer } from "./pipeline.js";
export { SegmentModel, type ModelValue, type SegmentModelOptions } from "./session.js";
export { measureOnnxSpeed, type OnnxSpeed, type OnnxSpeedOptions } from "./calibrate.js";
export { NextStage, nextStageUrl, TIMINGS_HEADER, EXIT_HEADER, type NextStageOptions, type ForwardResult } from "./forward.js";
export { ResolvedNextStage, type Forwarder, type NextStageSource } from "./next-resolver.js";
export { Admission } from "./admission.js";
export { RunLog, fetchRunTimings, RUN_LOG_SIZE, type RunTimings } from "./run-log.js";
export { serverTiming, parseTimings, stageWorkMs, type StageTimings, type ExitOutcome } from "./timings.js";
export {
  SHAPE_HEADER,
  BINARY_TYPE,
  JSON_TYPE,
  ServingError,
  decodeBinary,
  decodeJson,
  encodeBinary,
  type Tensor,
  type Encoding,
} from "./wire.js";
