export { createTestDatabase, testRedisUrl, type TestDatabase } from "./database.js";
export { startRedis, waitForRedis, type RunningRedis } from "./redis.js";
export { freePort } from "./ports.js";
export { useTestDatabase, useTestStore, type TestStore } from "./store.js";
export { docker, dockerAvailability, projectImage, run, testImages, type DockerAvailability, type Run, type TestImages } from "./docker.js";
export { startTcpProxy, type TcpProxy, type OutageMode } from "./tcp-proxy.js";
export { tinyCnn, randomInput, type TinyCnn } from "./onnx-models.js";
export { call, inferBinary, inferJson, floats, maxDiff, type Reply } from "./serving-client.js";
export { tinyCnnOnnx, type TinyCnnOptions } from "./onnx.js";
export { spawnApiServer, REPO_ROOT, type SpawnedApiServer } from "./api-process.js";
export { agentProcesses, deployedAgentQueues, type AgentProcess, type AgentProcesses, type AgentProcessesOptions } from "./agent-processes.js";
export { captureLogger, waitFor, type CapturedLog } from "./wait.js";
export { advancingClock, manualClock, type ManualClock } from "./clock.js";
// The control plane's objects and node specs (plain data): unit tests take them without loading
// `@eiaas/testing/control-plane` (the API app, the scheduler and the agents).
export { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, V } from "./control-plane/fixtures.js";
