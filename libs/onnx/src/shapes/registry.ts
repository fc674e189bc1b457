import type { OpDef } from "./context.js";
import { batchNormalization, binary, dropout, lrn, sameAsInput, softmax } from "./elementwise.js";
import { concat, flatten, gemm, matMul, reshape } from "./linear.js";
import { averagePool, conv, globalPool, maxPool } from "./window.js";

/**
 * Operators of the default ONNX domain the importer understands. Anything else is refused with
 * the op type and node name: guessing a shape would put wrong numbers into a Model.
 */
export const OPERATORS: ReadonlyMap<string, OpDef> = new Map<string, OpDef>([
  ["Conv", conv],
  ["BatchNormalization", batchNormalization],
  ["Relu", sameAsInput],
  ["LeakyRelu", sameAsInput],
  ["Sigmoid", sameAsInput],
  ["Tanh", sameAsInput],
  ["HardSigmoid", sameAsInput],
  ["HardSwish", sameAsInput],
  ["Clip", sameAsInput],
  ["Identity", sameAsInput],
  ["LRN", lrn],
  ["MaxPool", maxPool],
  ["AveragePool", averagePool],
  ["GlobalAveragePool", globalPool],
  ["GlobalMaxPool", globalPool],
  ["Add", binary],
  ["Sub", binary],
  ["Mul", binary],
  ["Div", binary],
  ["Concat", concat],
  ["Flatten", flatten],
  ["Reshape", reshape],
  ["Gemm", gemm],
  ["MatMul", matMul],
  ["Softmax", softmax],
  ["Dropout", dropout],
]);
