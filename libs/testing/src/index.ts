export { createTestDatabase, testRedisUrl, type TestDatabase } from "./database.js";
export { startRedis, waitForRedis, type RunningRedis } from "./redis.js";
export { freePort } from "./ports.js";
export { useTestStore, type TestStore } from "./store.js";
export { docker, dockerAvailability, projectImage, run, testImages, type DockerAvailability, type Run, type TestImages } from "./docker.js";
export { startTcpProxy, type TcpProxy, type OutageMode } from "./tcp-proxy.js";
export { tinyCnn, randomInput, type TinyCnn } from "./onnx-models.js";
export { call, inferBinary, inferJson, floats, maxDiff, type Reply } from "./serving-client.js";
export { tinyCnnOnnx, type TinyCnnOptions } from "./onnx.js";
