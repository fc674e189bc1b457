// Test-only: request i of a seed for the API fuzz test (fuzz.test.ts). Every kind and verb of the
// REST surface, the agent, token, log, eviction and discovery routes, and the bare paths, as
// admin, tenant, other tenant, agent, bootstrap, garbage and no token; with hostile path
// segments, queries, headers, content types, encodings and bodies (see fuzz-values.ts).
import { API_PREFIX, API_VERSION, KINDS, type KindInfo, type KindName } from "@eiaas/api";
import {
  ACCEPTS,
  CONTENT_TYPES,
  encodeBody,
  gzipBomb,
  HOSTILE_JSON,
  HOSTILE_KEYS,
  HOSTILE_POINTERS,
  HOSTILE_QUERY,
  HOSTILE_NUMBERS,
  HOSTILE_SEGMENTS,
  HOSTILE_STRINGS,
  invalidUtf8,
  TRACEPARENTS,
  type Rng,
} from "./fuzz-values.js";

export interface FuzzRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** A stream (watch, log follow): read its head and a little, then hang up. */
  stream: boolean;
}

/** What the fuzz runs against: tokens of every role and the objects seeded for them. */
export interface FuzzWorld {
  tokens: { admin: string; tenant: string; otherTenant: string; agent: string; bootstrap: string };
  /** The tenant token's namespace, another tenant's, and the agent's node. */
  namespace: string;
  otherNamespace: string;
  node: string;
  /** A seeded object of every kind (its name), visible to the tenant and, for tasks, the agent. */
  seeded: Record<KindName, string>;
  /** The seeded objects as the server answered them (every field, defaults filled in). */
  objects: Record<KindName, Record<string, any>>;
  /** Largest body the server accepts (bodies past it are sent too). */
  maxBodyBytes: number;
}

/** A valid object of each kind, as a client sends it. */
export function sampleObject(kind: KindInfo, name: string, world: Pick<FuzzWorld, "node">): Record<string, any> {
  const base = { apiVersion: API_VERSION, kind: kind.kind, metadata: { name, labels: { app: "demo" } } };
  switch (kind.kind) {
    case "EdgeNode":
      return { ...base, spec: { tier: "edge", capacity: { cpu: 4000, memoryMiB: 8192 } } };
    case "Tenant":
      return { ...base, spec: { weight: 2 } };
    case "Model":
      return { ...base, spec: { inputBytes: 600000, accuracy: 0.7, layers: [{ name: "l1", flops: 1e9, outputBytes: 1000 }] } };
    case "ModelProfile":
      return { ...base, spec: { model: "m", nodeName: "edge-1" } };
    case "InferenceService":
      return { ...base, spec: { model: "m", clients: { selector: { matchLabels: { tier: "device" } } } } };
    case "TrainingJob":
      return { ...base, spec: { model: "m", mode: "federated", data: { selector: { matchLabels: { data: "x" } } } } };
    case "Task":
      return {
        ...base,
        metadata: { ...base.metadata, ownerReferences: [{ apiVersion: API_VERSION, kind: "InferenceService", name: "svc", uid: "2c3f4b5a-0000-4000-8000-000000000001", controller: true }] },
        spec: { role: "serve", nodeName: world.node },
      };
    case "Event":
      return { ...base, involvedObject: { kind: "Model", name: "m" }, reason: "Tested", message: "hello" };
  }
}

/** A valid status of each kind, with most of its fields. */
export function sampleStatus(kind: KindInfo): Record<string, unknown> {
  const conditions = [{ type: "Ready", status: "True", reason: "Fuzz", message: "m", lastTransitionTime: "2026-01-01T00:00:00Z", observedGeneration: 1 }];
  switch (kind.kind) {
    case "EdgeNode":
      return {
        phase: "Ready",
        conditions,
        allocated: { cpu: 100, memoryMiB: 10, gpu: 0, load: 0.1 },
        lastHeartbeatTime: "2026-01-01T00:00:00Z",
        measured: { uplinkMbps: 100, rttMs: 5 },
        agent: { version: "1", runtime: "sim" },
        runningTasks: ["task-1"],
      };
    case "Tenant":
      return { phase: "Active", dominantShare: 0.25, conditions, observedGeneration: 1 };
    case "Task":
      return { phase: "Running", attempt: 1, exitCode: 0, reason: "r", message: "m", endpoint: "10.0.0.1:80", startTime: "2026-01-01T00:00:00Z", conditions };
    default:
      return { phase: "Pending", conditions, observedGeneration: 1 };
  }
}

/** Every object and array in `v` (the places a mutation can go). */
function containers(v: unknown, out: Array<Record<string, unknown> | unknown[]> = []): Array<Record<string, unknown> | unknown[]> {
  if (typeof v !== "object" || v === null) return out;
  out.push(v as Record<string, unknown>);
  for (const x of Object.values(v)) containers(x, out);
  return out;
}

/** The members of `v` holding a string, number or boolean (for mutations that keep the type). */
export function leaves(v: unknown, out: Array<[Record<string, unknown>, string]> = []): Array<[Record<string, unknown>, string]> {
  if (typeof v !== "object" || v === null) return out;
  for (const [k, x] of Object.entries(v)) {
    if (typeof x === "object" && x !== null) leaves(x, out);
    else if (x !== null) out.push([v as Record<string, unknown>, k]);
  }
  return out;
}

/**
 * JSON text of `value` with 1-3 hostile pieces spliced in: a leaf given a hostile value of its own
 * type (which gets past the schemas to the code behind them), any value replaced by anything, or a
 * key added.
 */
export function mutatedJson(rng: Rng, value: unknown): string {
  const copy = structuredClone(value);
  const pieces: string[] = [];
  const slot = (raw: string) => {
    pieces.push(raw);
    return `@@${pieces.length - 1}@@`;
  };
  const places = containers(copy);
  const members = leaves(copy);
  for (let n = 1 + rng.int(3); n > 0 && places.length > 0; n--) {
    if (members.length && rng.chance(0.5)) {
      const [parent, key] = rng.pick(members);
      const kind = typeof parent[key];
      parent[key] = slot(rng.pick(kind === "string" ? HOSTILE_STRINGS : kind === "number" ? HOSTILE_NUMBERS : ["true", "false"]));
      continue;
    }
    const target = rng.pick(places);
    if (Array.isArray(target)) {
      target[target.length ? rng.int(target.length + 1) : 0] = slot(rng.pick(HOSTILE_JSON));
      continue;
    }
    const keys = Object.keys(target);
    if (keys.length && rng.chance(0.6)) target[rng.pick(keys)] = slot(rng.pick(HOSTILE_JSON));
    else target[slot(rng.pick(HOSTILE_KEYS))] = slot(rng.pick(HOSTILE_JSON));
  }
  return JSON.stringify(copy).replace(/"@@(\d+)@@"/g, (_m, k: string) => pieces[Number(k)]!);
}

/** JSON pointers to the members of `v` (real paths for JSON patches). */
function pointers(v: unknown, at = "", out: string[] = []): string[] {
  out.push(at);
  if (typeof v === "object" && v !== null) {
    for (const [k, x] of Object.entries(v)) pointers(x, `${at}/${k.replace(/~/g, "~0").replace(/\//g, "~1")}`, out);
  }
  return out;
}

/** A JSON body: valid, mutated, hostile, broken or oversized. */
function objectBody(rng: Rng, valid: unknown, world: FuzzWorld): Buffer {
  const r = rng.int(20);
  if (r < 5) return Buffer.from(JSON.stringify(valid));
  if (r < 15) return Buffer.from(mutatedJson(rng, valid));
  if (r < 17) return Buffer.from(rng.pick(HOSTILE_JSON));
  if (r === 17) return invalidUtf8(JSON.stringify(valid));
  if (r === 18) {
    const text = JSON.stringify(valid);
    return Buffer.from(text.slice(0, rng.int(text.length)));
  }
  return Buffer.from(JSON.stringify({ ...(valid as object), pad: "x".repeat(world.maxBodyBytes + 1) }));
}

const MERGE_ATTACKS = [
  '{"__proto__":{"polluted":"yes"}}',
  '{"metadata":{"labels":{"__proto__":{"polluted":"yes"}}}}',
  '{"metadata":{"__proto__":{"polluted":"yes"}}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"spec":{"constructor":{"prototype":{"polluted":"yes"}}}}',
  '{"status":{"__proto__":{"polluted":"yes"}}}',
  '{"status":{"constructor":{"prototype":{"polluted":"yes"}}}}',
  '{"metadata":{"labels":{"constructor":"x","prototype":"y","toString":"z"}}}',
  '{"metadata":{"labels":null}}',
  '{"spec":null}',
  '{"metadata":{"resourceVersion":"99999999999999999999999"}}',
  '{"metadata":{"resourceVersion":"abc"}}',
  '{"metadata":{"resourceVersion":5}}',
  '{"metadata":{"name":"other"}}',
  `{"spec":${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}}`,
  "[]",
  "null",
  '"x"',
];

const OPS = ["add", "remove", "replace", "move", "copy", "test", "bogus", "ADD", ""];

/** A JSON patch: hostile and real pointers, every op, missing members, copy amplification. */
function jsonPatchBody(rng: Rng, target: unknown): Buffer {
  if (rng.chance(0.05)) return Buffer.from(JSON.stringify(Array.from({ length: 40 }, () => ({ op: "copy", from: "", path: "/metadata/annotations" }))));
  if (rng.chance(0.05)) return Buffer.from(rng.pick(['{"op":"add"}', "null", "[1]", '[{"op":"add","path":5}]', "[[]]"]));
  const real = pointers(target);
  const pointer = () => (rng.chance(0.5) ? rng.pick(HOSTILE_POINTERS) : rng.pick(real));
  const ops: string[] = [];
  for (let n = 1 + rng.int(4); n > 0; n--) {
    const members = [`"op":${JSON.stringify(rng.pick(OPS))}`, `"path":${JSON.stringify(pointer())}`];
    if (rng.chance(0.8)) members.push(`"value":${rng.chance(0.5) ? rng.pick(HOSTILE_JSON) : JSON.stringify({ a: "b" })}`);
    if (rng.chance(0.5)) members.push(`"from":${JSON.stringify(pointer())}`);
    ops.push(`{${members.join(",")}}`);
  }
  return Buffer.from(`[${ops.join(",")}]`);
}

function patchBody(rng: Rng, target: Record<string, any>, world: FuzzWorld): { body: Buffer; type: string } {
  const type = rng.pick([
    "application/merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
    rng.pick(CONTENT_TYPES),
  ]);
  if (type === "application/json-patch+json") return { body: jsonPatchBody(rng, target), type };
  const r = rng.int(10);
  if (r < 3) return { body: Buffer.from(JSON.stringify({ metadata: { labels: { fuzz: String(rng.int(100)) } } })), type };
  if (r < 6) return { body: objectBody(rng, { metadata: { labels: target.metadata?.labels ?? {} }, spec: target.spec, status: target.status }, world), type };
  return { body: Buffer.from(rng.pick(MERGE_ATTACKS)), type };
}

/** A namespace segment: mostly the tenant's own. */
function namespaceSegment(rng: Rng, world: FuzzWorld): string {
  const r = rng.int(10);
  return r < 6 ? world.namespace : r < 8 ? world.otherNamespace : r < 9 ? "nowhere" : rng.pick(HOSTILE_SEGMENTS);
}

function query(rng: Rng, extra: string[] = []): string {
  const parts = [...extra];
  for (let n = rng.chance(0.5) ? 1 + rng.int(3) : 0; n > 0; n--) parts.push(rng.pick(HOSTILE_QUERY));
  return parts.length ? `?${parts.join("&")}` : "";
}

type Principal = keyof FuzzWorld["tokens"] | "none" | "garbage";

function authorization(rng: Rng, world: FuzzWorld, principal: Principal): Record<string, string> {
  if (principal === "none") return {};
  if (principal === "garbage") return { Authorization: rng.pick(["Bearer", "Bearer  ", "Basic YTpi", "Bearer a b", `Bearer ${"x".repeat(4000)}`, "Bearer é", "Token x"]) };
  return { Authorization: `${rng.chance(0.05) ? "bearer" : "Bearer"} ${world.tokens[principal]}` };
}

const VERBS = ["get", "getStatus", "list", "watch", "create", "replace", "replaceStatus", "patch", "patchStatus", "delete", "deletecollection"] as const;

/** GET/POST/PUT/PATCH/DELETE on every kind's collection, objects and /status. */
function resourceRequest(rng: Rng, world: FuzzWorld): Omit<FuzzRequest, "headers"> & { type?: string } {
  const kind = rng.pick(KINDS);
  const verb = rng.pick(VERBS);
  const plural = rng.chance(0.9) ? kind.plural : rng.pick([kind.singular, kind.plural.toUpperCase(), kind.shortNames[0] ?? kind.kind, "__proto__", "constructor", "toString", "widgets"]);
  const namespaced = kind.namespaced ? rng.chance(0.9) : rng.chance(0.05);
  const base = namespaced ? `${API_PREFIX}/namespaces/${namespaceSegment(rng, world)}/${plural}` : `${API_PREFIX}/${plural}`;
  const seeded = world.seeded[kind.kind];
  const fresh = `fz-${rng.int(1_000_000)}`;
  const r = rng.int(10);
  const name = r < 7 ? seeded : r < 9 ? fresh : rng.pick(HOSTILE_SEGMENTS);
  // The seeded object as served (every field to aim at), or a fresh sample for other names.
  const object = name === seeded ? world.objects[kind.kind] : sampleObject(kind, name, world);
  const statusBody = () => objectBody(rng, { apiVersion: API_VERSION, kind: kind.kind, metadata: { name }, status: sampleStatus(kind) }, world);
  switch (verb) {
    case "get":
      return { method: "GET", path: `${base}/${name}${query(rng)}`, stream: false };
    case "getStatus":
      return { method: "GET", path: `${base}/${name}/status${query(rng)}`, stream: false };
    case "list":
      return { method: "GET", path: `${base}${query(rng)}`, stream: false };
    case "watch":
      return { method: "GET", path: `${base}${query(rng, [rng.pick(["watch=1", "watch=true", "watch="]), ...(rng.chance(0.8) ? ["timeoutSeconds=1"] : [])])}`, stream: true };
    case "create": {
      const { uid: _u, resourceVersion: _r, creationTimestamp: _c, ...metadata } = world.objects[kind.kind].metadata;
      const valid = rng.chance(0.5) ? sampleObject(kind, fresh, world) : { ...world.objects[kind.kind], metadata: { ...metadata, name: fresh }, status: {} };
      return { method: "POST", path: `${base}${query(rng, rng.chance(0.3) ? ["dryRun=All"] : [])}`, body: objectBody(rng, valid, world), stream: false };
    }
    case "replace":
      return { method: "PUT", path: `${base}/${name}${query(rng)}`, body: objectBody(rng, object, world), stream: false };
    case "replaceStatus":
      return { method: "PUT", path: `${base}/${name}/status${rng.chance(0.5) ? "" : query(rng)}`, body: statusBody(), stream: false };
    case "patch":
    case "patchStatus": {
      const p = patchBody(rng, { ...object, status: sampleStatus(kind) }, world);
      return { method: "PATCH", path: `${base}/${name}${verb === "patchStatus" ? "/status" : ""}${query(rng)}`, body: p.body, type: p.type, stream: false };
    }
    case "delete": {
      // The seeded objects are only deleted under dryRun, so the run keeps something to aim at.
      const dry = name === seeded;
      const options = { preconditions: { resourceVersion: rng.pick(["1", "abc", "99999999999999999999999", ""]), uid: "x" }, dryRun: ["All"] };
      return {
        method: "DELETE",
        path: `${base}/${dry ? seeded : name}${query(rng, dry ? ["dryRun=All"] : [])}`,
        ...(rng.chance(0.3) ? { body: Buffer.from(rng.chance(0.5) ? JSON.stringify(options) : mutatedJson(rng, options)) } : {}),
        stream: false,
      };
    }
    case "deletecollection": {
      // A selector no seeded object matches (another labelSelector makes it 400): the world stays.
      const q = query(rng);
      return { method: "DELETE", path: `${base}?labelSelector=eiaas.io%2Ffuzz%3Dnever${q ? `&${q.slice(1)}` : ""}`, stream: false };
    }
  }
}

/** The agent, token, log, eviction and discovery routes, and bare paths. */
function otherRequest(rng: Rng, world: FuzzWorld): Omit<FuzzRequest, "headers"> {
  const ns = namespaceSegment(rng, world);
  const hostileOr = (name: string) => (rng.chance(0.7) ? name : rng.pick(HOSTILE_SEGMENTS));
  const task = hostileOr(world.seeded.Task);
  const NODE = KINDS.find((k) => k.kind === "EdgeNode")!;
  switch (rng.int(12)) {
    case 0: // never the agent's own node: registering it would revoke the fuzz's agent token
      return {
        method: "POST",
        path: `${API_PREFIX}/edgenodes/${hostileOr(`fz-node-${rng.int(1000)}`)}/register`,
        body: objectBody(rng, rng.chance(0.5) ? sampleObject(NODE, "x", world).spec : { metadata: { labels: { a: "b" } }, spec: sampleObject(NODE, "x", world).spec }, world),
        stream: false,
      };
    case 1:
      return {
        method: "POST",
        path: `${API_PREFIX}/edgenodes/${hostileOr(world.node)}/heartbeat`,
        body: objectBody(rng, { uplinkMbps: 100, rttMs: 5, runningTasks: [world.seeded.Task], agent: { version: "1", runtime: "sim" } }, world),
        stream: false,
      };
    case 2:
      return {
        method: rng.pick(["POST", "GET"]),
        path: `${API_PREFIX}/tenants/${hostileOr(world.namespace)}/tokens${query(rng)}`,
        body: objectBody(rng, { metadata: { name: `fz-${rng.int(1e6)}` }, expiresAt: "2999-01-01T00:00:00Z" }, world),
        stream: false,
      };
    case 3:
      return { method: "DELETE", path: `${API_PREFIX}/${rng.chance(0.5) ? `tenants/${hostileOr(world.namespace)}/tokens` : "bootstraptokens"}/${hostileOr(`fz-${rng.int(1e6)}`)}`, stream: false };
    case 4:
      return { method: rng.pick(["POST", "GET"]), path: `${API_PREFIX}/bootstraptokens${query(rng)}`, body: objectBody(rng, { metadata: { name: `fz-${rng.int(1e6)}` } }, world), stream: false };
    case 5: {
      const follow = rng.chance(0.3);
      return { method: "GET", path: `${API_PREFIX}/namespaces/${ns}/tasks/${task}/log${query(rng, follow ? ["follow=true"] : [])}`, stream: follow };
    }
    case 6:
      return { method: "PUT", path: `${API_PREFIX}/namespaces/${ns}/tasks/${task}/log`, body: objectBody(rng, { attempt: 1, lines: ["hello", "world"] }, world), stream: false };
    case 7:
      return {
        method: "POST",
        path: `${API_PREFIX}/namespaces/${ns}/tasks/${task}/eviction${query(rng)}`,
        body: objectBody(rng, { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: task } }, world),
        stream: false,
      };
    case 8:
      return { method: "GET", path: `${API_PREFIX}/namespaces/${ns}/inferenceservices/${hostileOr(world.seeded.InferenceService)}/endpoints${query(rng, ["client=edge-1"])}`, stream: false };
    case 9:
      return { method: "GET", path: `${API_PREFIX}/namespaces/${ns}/discovery${query(rng, ["capability=image-classification", `client=${hostileOr(world.node)}`])}`, stream: false };
    default: {
      const paths = [
        "/api",
        "/apis",
        "/apis/eiaas.io",
        API_PREFIX,
        "/openapi/v2",
        "/openapi/v3",
        "/openapi/v3/apis/eiaas.io/v1alpha1",
        "/openapi/v3/x",
        "/version",
        "/livez",
        "/readyz",
        "/metrics",
        "/healthz",
        "/",
        `/${rng.pick(HOSTILE_SEGMENTS)}`,
        `${API_PREFIX}/${rng.pick(HOSTILE_SEGMENTS)}/${rng.pick(HOSTILE_SEGMENTS)}`,
      ];
      return { method: rng.pick(["GET", "GET", "GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]), path: `${rng.pick(paths)}${query(rng)}`, stream: false };
    }
  }
}

/** The issue's attacks as they were reported: JSON and merge patches through prototypes. */
function prototypeAttack(rng: Rng, world: FuzzWorld): Omit<FuzzRequest, "headers"> & { type: string; principal: Principal } {
  const json = rng.chance(0.5);
  const agent = rng.chance(0.3);
  const path = agent
    ? `${API_PREFIX}/edgenodes/${world.node}/status`
    : `${API_PREFIX}/namespaces/${world.namespace}/inferenceservices/${world.seeded.InferenceService}${rng.chance(0.5) ? "/status" : ""}`;
  const pointer = rng.pick(HOSTILE_POINTERS.filter((p) => p.includes("__proto__") || p.includes("constructor") || p.includes("prototype")));
  const body = json ? JSON.stringify([{ op: rng.pick(["add", "replace", "copy", "move"]), path: pointer, from: "/metadata", value: { polluted: "yes" } }]) : rng.pick(MERGE_ATTACKS.slice(0, 8));
  return {
    method: "PATCH",
    path: `${path}${rng.chance(0.5) ? "?dryRun=All" : ""}`,
    body: Buffer.from(body),
    type: json ? "application/json-patch+json" : "application/merge-patch+json",
    principal: agent ? "agent" : rng.pick(["tenant", "admin"] as const),
    stream: false,
  };
}

function principalOf(rng: Rng): Principal {
  const r = rng.int(20);
  return r < 7 ? "admin" : r < 12 ? "tenant" : r < 14 ? "otherTenant" : r < 17 ? "agent" : r < 18 ? "bootstrap" : r < 19 ? "none" : "garbage";
}

/** Request number `i` of a run (its generator comes from the seed and `i` alone). */
export function fuzzRequest(rng: Rng, world: FuzzWorld): FuzzRequest {
  const family = rng.int(20);
  let principal = principalOf(rng);
  let req: Omit<FuzzRequest, "headers"> & { type?: string };
  if (family < 13) req = resourceRequest(rng, world);
  else if (family < 18) req = otherRequest(rng, world);
  else {
    const attack = prototypeAttack(rng, world);
    principal = attack.principal;
    req = attack;
  }
  const headers: Record<string, string> = { ...authorization(rng, world, principal) };
  if (rng.chance(0.2)) headers.Accept = rng.pick(ACCEPTS);
  if (rng.chance(0.1)) headers.traceparent = rng.pick(TRACEPARENTS);
  if (rng.chance(0.05)) headers["User-Agent"] = rng.pick(["", "é".repeat(200), "x".repeat(3000)]);
  if (rng.chance(0.03)) headers["X-HTTP-Method-Override"] = "DELETE";
  let body = req.body;
  if (body && req.method === "GET" && rng.chance(0.9)) body = undefined;
  if (!body && rng.chance(0.02)) body = Buffer.from("{}");
  if (body) {
    headers["Content-Type"] = rng.chance(0.9) ? (req.type ?? "application/json") : rng.pick(CONTENT_TYPES);
    if (headers["Content-Type"] === "") delete headers["Content-Type"];
    if (rng.chance(0.02)) {
      body = gzipBomb();
      headers["Content-Encoding"] = "gzip";
    } else {
      const encoded = encodeBody(rng, body);
      body = encoded.body;
      if (encoded.encoding) headers["Content-Encoding"] = encoded.encoding;
    }
  }
  return { method: req.method, path: req.path, headers, ...(body ? { body } : {}), stream: req.stream };
}
