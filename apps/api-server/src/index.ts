export { startApiServer, demoAdminToken, resolveDatabase, type RunningApiServer, type StartOptions } from "./server.js";
export { loadApiServerEnv, apiServerEnv, type ApiServerEnv } from "./config.js";
export { createApiApp, type ApiAppDeps } from "./app.js";
export { writeKubeconfig, renderKubeconfig } from "./kubeconfig.js";
export { ApiError } from "./http/errors.js";
export { NamespaceController } from "./namespace-controller.js";
export { PropagationController } from "./propagation-controller.js";
export { ensureServingCertificate } from "./tls.js";
