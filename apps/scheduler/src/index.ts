export { Scheduler, type SchedulerDeps, type SchedulerOptions } from "./scheduler.js";
export { WorkloadController, type CycleStats } from "./workloads.js";
export { Dispatcher } from "./dispatcher.js";
export { NodeLifecycleController } from "./node-lifecycle.js";
