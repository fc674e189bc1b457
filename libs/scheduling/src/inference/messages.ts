import type { InferenceServiceSpec } from "@eiaas/api";
import { REASONS, type InferenceReason } from "./options.js";
import type { ClientDiagnostics } from "./service-context.js";

/** Number as shown in messages: at most 3 decimals, no trailing zeros. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Number.isInteger(n) ? String(n) : n.toFixed(3).replace(/\.?0+$/, "");
}

/** The reasons a client failed (design.md §5 names slo, accuracy, privacy, resources, load) with details. */
export function describeClientFailure(
  client: string,
  diag: ClientDiagnostics,
  spec: InferenceServiceSpec,
  accuracy: { candidates: number; excluded: number; best: number },
): { reasons: InferenceReason[]; message: string } {
  const reasons: InferenceReason[] = [];
  const parts: string[] = [];
  REASONS.forEach((r, bit) => {
    if ((diag.reasons & (1 << bit)) === 0) return;
    reasons.push(r);
    parts.push(detail(r, diag, spec, accuracy));
  });
  if (reasons.length === 0) {
    reasons.push("resources");
    parts.push("resources (no candidate plan)");
  }
  return { reasons, message: `client ${client}: ${parts.join(", ")}` };
}

function detail(r: InferenceReason, diag: ClientDiagnostics, spec: InferenceServiceSpec, accuracy: { candidates: number; excluded: number; best: number }): string {
  switch (r) {
    case "architecture":
      return `architecture (no ${spec.architecture} plan is possible for this client)`;
    case "privacy":
      return `privacy (raw data must stay within ${spec.privacy.rawDataBoundary})`;
    case "accuracy":
      return accuracy.candidates === 0
        ? `accuracy (no chain reaches minAccuracy ${fmt(spec.slo.minAccuracy ?? 0)}; the best has ${fmt(accuracy.best)})`
        : `accuracy (${accuracy.excluded} chain(s) below minAccuracy ${fmt(spec.slo.minAccuracy ?? 0)})`;
    case "network":
      return "network (no usable path to a server)";
    case "compute":
      return "compute (no measured profile or compute.gflops for the hardware)";
    case "slo": {
      const lat = spec.slo.latencyMs;
      const en = spec.slo.maxDeviceEnergyMj;
      const why: string[] = [];
      if (lat !== undefined && diag.fastestLatencyMs > lat) why.push(`fastest plan ${fmt(diag.fastestLatencyMs)} ms > ${fmt(lat)} ms`);
      if (en !== undefined && diag.lowestEnergyMj > en) why.push(`lowest device energy ${fmt(diag.lowestEnergyMj)} mJ > ${fmt(en)} mJ`);
      return why.length > 0 ? `slo (${why.join("; ")})` : "slo (no plan meets latency and energy limits together)";
    }
    case "resources":
      return "resources (not enough cpu, memory or gpu left on the nodes involved)";
    case "load":
      return "load (servers would be busier than their capacity)";
    default:
      return r;
  }
}
