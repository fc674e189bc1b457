import type { TaskSpec, TaskTemplate } from "@eiaas/api";
import type { PlannedTask } from "../inference/types.js";

/**
 * The `spec` of the Task to create for a planned task: bound to its node, with its role, layer
 * range, full request, and the load and priority the next snapshot counts it with.
 */
export function plannedTaskSpec(planned: PlannedTask, template: TaskTemplate = {}, env: Record<string, string> = {}): TaskSpec {
  return {
    nodeName: planned.node,
    role: planned.role,
    ...(planned.layers ? { layers: { ...planned.layers } } : {}),
    template,
    env: {
      ...env,
      ...(planned.variant !== undefined ? { EIAAS_VARIANT: planned.variant } : {}),
      ...(planned.exitAfterLayer !== undefined ? { EIAAS_EXIT_AFTER_LAYER: String(planned.exitAfterLayer) } : {}),
      ...(planned.layers ? { EIAAS_LAYERS: `${planned.layers.from}-${planned.layers.to}` } : {}),
    },
    resources: { ...planned.resources },
    load: planned.load,
    priority: planned.priority,
  };
}
