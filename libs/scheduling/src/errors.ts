/**
 * An internal inconsistency of the scheduling library or its input (a plugin returning a score
 * outside 0–100, a snapshot index out of range). It is thrown, never returned: a workload that
 * cannot be placed is an `Unschedulable` result, not an error.
 */
export class SchedulingError extends Error {
  override readonly name = "SchedulingError";
}
