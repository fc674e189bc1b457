import type { z } from "zod";
import { edgeNodeObject, edgeNodeSpec, edgeNodeStatus } from "./resources/edgenode.js";
import { eventObject } from "./resources/event.js";
import { inferenceServiceObject, inferenceServiceSpec, inferenceServiceStatus } from "./resources/inferenceservice.js";
import { modelObject, modelSpec, modelStatus } from "./resources/model.js";
import { modelProfileObject, modelProfileSpec, modelProfileStatus } from "./resources/modelprofile.js";
import { taskObject, taskSpec, taskStatus } from "./resources/task.js";
import { tenantObject, tenantSpec, tenantStatus } from "./resources/tenant.js";
import { trainingJobObject, trainingJobSpec, trainingJobStatus } from "./resources/trainingjob.js";

export type KindName = "EdgeNode" | "Tenant" | "Model" | "ModelProfile" | "InferenceService" | "TrainingJob" | "Task" | "Event";

/** A column of server-side Table printing (as a CRD's additionalPrinterColumns). */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "date";
  description: string;
  /** Shown only with `-o wide` (priority 1), as Kubernetes does. */
  priority?: 0 | 1;
  /** Reads the cell from the object as the API returns it. */
  get(obj: any): string | number | null;
}

export interface KindInfo {
  kind: KindName;
  plural: string;
  singular: string;
  shortNames: string[];
  namespaced: boolean;
  /** Postgres table of the kind (see prisma/schema.prisma). */
  table: string;
  /** Validates a whole object as clients send it. */
  schema: z.ZodType;
  spec?: z.ZodType;
  status?: z.ZodType;
  /** Whether the kind has a /status subresource (spec and status are written separately). */
  hasStatus: boolean;
  columns: PrinterColumn[];
}

const age: PrinterColumn = {
  name: "Age",
  type: "date",
  description: "Time since creation",
  get: (o) => o.metadata?.creationTimestamp ?? null,
};
const phase: PrinterColumn = {
  name: "Phase",
  type: "string",
  description: "Lifecycle phase",
  get: (o) => o.status?.phase ?? "",
};

function fixed(n: unknown, digits = 1): string {
  return typeof n === "number" && Number.isFinite(n) ? n.toFixed(digits) : "";
}

function conditionStatus(o: any, type: string): string {
  const c = (o.status?.conditions ?? []).find((x: any) => x.type === type);
  return c ? c.status : "Unknown";
}

export const KINDS: readonly KindInfo[] = [
  {
    kind: "EdgeNode",
    plural: "edgenodes",
    singular: "edgenode",
    // No short name of a Kubernetes built-in (node, no, ev, …): kubectl would resolve it to ours,
    // or warn that it shadows one. eictl still takes `node`/`nodes` (lookupKind).
    shortNames: ["en"],
    namespaced: false,
    table: "edge_nodes",
    schema: edgeNodeObject,
    spec: edgeNodeSpec,
    status: edgeNodeStatus,
    hasStatus: true,
    columns: [
      { name: "Tier", type: "string", description: "device, edge or cloud", get: (o) => o.spec?.tier ?? "" },
      {
        name: "Ready",
        type: "string",
        description: "Ready condition",
        get: (o) => (o.spec?.unschedulable ? `${conditionStatus(o, "Ready")},SchedulingDisabled` : conditionStatus(o, "Ready")),
      },
      { name: "CPU", type: "string", description: "Allocated / capacity millicores", get: (o) => `${o.status?.allocated?.cpu ?? 0}/${o.spec?.capacity?.cpu ?? 0}m` },
      { name: "Hardware", type: "string", description: "Hardware class", priority: 1, get: (o) => o.spec?.hardware ?? "" },
      { name: "Parent", type: "string", description: "Upstream node", priority: 1, get: (o) => o.spec?.parent ?? "" },
      { name: "Load", type: "string", description: "Server busy fraction", priority: 1, get: (o) => fixed(o.status?.allocated?.load ?? 0, 2) },
      age,
    ],
  },
  {
    kind: "Tenant",
    plural: "tenants",
    singular: "tenant",
    shortNames: ["tn"],
    namespaced: false,
    table: "tenants",
    schema: tenantObject,
    spec: tenantSpec,
    status: tenantStatus,
    hasStatus: true,
    columns: [
      { name: "Weight", type: "number", description: "Fair-share weight", get: (o) => o.spec?.weight ?? 1 },
      { name: "Share", type: "string", description: "Dominant resource share", get: (o) => fixed(o.status?.dominantShare ?? 0, 3) },
      { name: "Tasks", type: "integer", description: "Tasks counted against quota", get: (o) => o.status?.usage?.tasks ?? 0 },
      { name: "Status", type: "string", description: "Active or Terminating", get: (o) => (o.metadata?.deletionTimestamp ? "Terminating" : "Active") },
      age,
    ],
  },
  {
    kind: "Model",
    plural: "models",
    singular: "model",
    shortNames: ["mdl"],
    namespaced: true,
    table: "models",
    schema: modelObject,
    spec: modelSpec,
    status: modelStatus,
    hasStatus: true,
    columns: [
      { name: "Layers", type: "integer", description: "Base layers", get: (o) => o.spec?.layers?.length ?? 0 },
      { name: "Accuracy", type: "number", description: "Full-model accuracy", get: (o) => o.spec?.accuracy ?? null },
      { name: "Exits", type: "integer", description: "Early exits", get: (o) => o.spec?.exits?.length ?? 0 },
      { name: "Variants", type: "integer", description: "Compressed variants", get: (o) => o.spec?.variants?.length ?? 0 },
      age,
    ],
  },
  {
    kind: "ModelProfile",
    plural: "modelprofiles",
    singular: "modelprofile",
    shortNames: ["mprof"],
    namespaced: true,
    table: "model_profiles",
    schema: modelProfileObject,
    spec: modelProfileSpec,
    status: modelProfileStatus,
    hasStatus: true,
    columns: [
      { name: "Model", type: "string", description: "Model measured", get: (o) => o.spec?.model ?? "" },
      { name: "Node", type: "string", description: "Node measured on", get: (o) => o.spec?.nodeName ?? "" },
      { name: "Segments", type: "integer", description: "Measured layer ranges", get: (o) => o.status?.segments?.length ?? 0 },
      age,
    ],
  },
  {
    kind: "InferenceService",
    plural: "inferenceservices",
    singular: "inferenceservice",
    shortNames: ["isvc"],
    namespaced: true,
    table: "inference_services",
    schema: inferenceServiceObject,
    spec: inferenceServiceSpec,
    status: inferenceServiceStatus,
    hasStatus: true,
    columns: [
      { name: "Model", type: "string", description: "Model served", get: (o) => o.spec?.model ?? "" },
      phase,
      {
        name: "Latency",
        type: "string",
        description: "Worst predicted latency over clients",
        get: (o) => {
          const clients: any[] = o.status?.plan?.clients ?? [];
          if (clients.length === 0) return "";
          return `${fixed(Math.max(...clients.map((c) => c.predicted?.latencyMs ?? 0)))}ms`;
        },
      },
      { name: "Clients", type: "integer", description: "Planned clients", priority: 1, get: (o) => o.status?.plan?.clients?.length ?? 0 },
      { name: "Objective", type: "string", description: "latency, energy or accuracy", priority: 1, get: (o) => o.spec?.objective ?? "" },
      age,
    ],
  },
  {
    kind: "TrainingJob",
    plural: "trainingjobs",
    singular: "trainingjob",
    shortNames: ["tj"],
    namespaced: true,
    table: "training_jobs",
    schema: trainingJobObject,
    spec: trainingJobSpec,
    status: trainingJobStatus,
    hasStatus: true,
    columns: [
      { name: "Model", type: "string", description: "Model trained", get: (o) => o.spec?.model ?? "" },
      { name: "Mode", type: "string", description: "centralized, federated or gossip", get: (o) => o.spec?.mode ?? "" },
      phase,
      { name: "Participants", type: "integer", description: "Planned participants", get: (o) => o.status?.plan?.participants?.length ?? 0 },
      { name: "Round", type: "integer", description: "Current round", get: (o) => o.status?.round ?? 0 },
      { name: "Loss", type: "string", description: "Global training loss of the latest round", priority: 1, get: (o) => fixed(o.status?.training?.loss, 4) },
      { name: "Accuracy", type: "string", description: "Held-out accuracy of the latest round", priority: 1, get: (o) => fixed(o.status?.training?.accuracy, 4) },
      {
        name: "Bytes",
        type: "string",
        description: "Bytes of updates up / of models down, in total",
        priority: 1,
        get: (o) => (o.status?.training ? `${o.status.training.bytesUp ?? 0}/${o.status.training.bytesDown ?? 0}` : ""),
      },
      age,
    ],
  },
  {
    kind: "Task",
    plural: "tasks",
    singular: "task",
    shortNames: [],
    namespaced: true,
    table: "tasks",
    schema: taskObject,
    spec: taskSpec,
    status: taskStatus,
    hasStatus: true,
    columns: [
      { name: "Role", type: "string", description: "What the task does", get: (o) => o.spec?.role ?? "" },
      { name: "Node", type: "string", description: "Bound node", get: (o) => o.spec?.nodeName ?? "" },
      phase,
      { name: "Attempt", type: "integer", description: "Attempt number", priority: 1, get: (o) => o.status?.attempt ?? 0 },
      { name: "Reason", type: "string", description: "Why it is in this phase", priority: 1, get: (o) => o.status?.reason ?? "" },
      age,
    ],
  },
  {
    kind: "Event",
    plural: "events",
    singular: "event",
    // `ev` is core v1 Events' (the same objects, served under /api/v1).
    shortNames: [],
    namespaced: true,
    table: "events",
    schema: eventObject,
    hasStatus: false,
    columns: [
      { name: "Last Seen", type: "date", description: "Last occurrence", get: (o) => o.lastTimestamp ?? o.metadata?.creationTimestamp ?? null },
      { name: "Type", type: "string", description: "Normal or Warning", get: (o) => o.type ?? "" },
      { name: "Reason", type: "string", description: "Short reason", get: (o) => o.reason ?? "" },
      { name: "Object", type: "string", description: "Involved object", get: (o) => `${(o.involvedObject?.kind ?? "").toLowerCase()}/${o.involvedObject?.name ?? ""}` },
      { name: "Message", type: "string", description: "What happened", get: (o) => o.message ?? "" },
    ],
  },
];

const byName = new Map<string, KindInfo>();
for (const k of KINDS) {
  for (const n of [k.plural, k.singular, k.kind.toLowerCase(), ...k.shortNames]) byName.set(n, k);
}

/** eictl's own aliases, not published as short names (they are Kubernetes built-ins' names). */
const ALIASES: Record<string, string> = { node: "edgenodes", nodes: "edgenodes", ev: "events" };

/** Finds a kind by plural, singular, short name or Kind (case-insensitive); `node(s)` for EdgeNodes, `ev` for Events. */
export function lookupKind(name: string): KindInfo | undefined {
  const key = name.toLowerCase();
  const alias = ALIASES[key];
  return byName.get(key) ?? (alias !== undefined ? byName.get(alias) : undefined);
}

export function kindInfo(kind: KindName): KindInfo {
  const k = KINDS.find((x) => x.kind === kind);
  if (!k) throw new Error(`unknown kind ${kind}`);
  return k;
}
