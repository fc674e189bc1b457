export { Rng, deriveSeed, hashString } from "./rng.js";
export { SYNTHETIC_CLASSES, SYNTHETIC_FEATURES, concat, generateShard, generateTestSplit, shardSize, type Dataset, type SyntheticSpec } from "./synthetic.js";
export { createModel, type Model, type ModelKind, type ModelSpec } from "./models.js";
export { BatchSampler, localSgd, type SgdOptions } from "./sgd.js";
export { fedAvg, weightedMean, type WeightedUpdate } from "./fedavg.js";
export { degreesOf, gossipMix, metropolisWeight, type NeighbourModel } from "./gossip.js";
export { CompressionError, decodeUpdate, encodeDense32, encodeUpdate, type Compression } from "./compress.js";
export { chooseTau, estimate, localSmoothness, type Estimates, type ParticipantEstimate, type TauControl, type TauCosts, type TauDecision } from "./adaptive-tau.js";
export { distance, norm, subtract } from "./vector.js";
