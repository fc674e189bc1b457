// A stand-in for the Kubernetes API server answering the REST calls @kubernetes/client-node makes
// for the kubernetes runtime (create/read/delete pods, watch pods, follow a pod's log), recording
// each call. Pods move through their phases on their own, driven by env variables of the task
// container: STANDIN_EXIT=<code> ends the container with it; STANDIN_HOLD=1 keeps it running until
// deleted; STANDIN_WAITING=<reason> leaves it waiting with that reason.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { KubeConfig, type V1Pod } from "@kubernetes/client-node";

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body?: unknown;
}

interface PodState {
  pod: V1Pod;
  events: Array<{ type: string; object: V1Pod }>;
  watchers: Set<ServerResponse>;
  logLines: string[];
  logReaders: Set<ServerResponse>;
}

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

export class KubeStandIn {
  readonly calls: RecordedCall[] = [];
  private readonly pods = new Map<string, PodState>();
  private rv = 100;
  private server!: Server;
  /** When set, the next watch of a pod is closed by the server right after its Running event. */
  dropWatchAfterRunning = false;
  /** The IP a running pod gets: 127.0.0.1 makes a server of the test's own the pod's endpoint. */
  podIP = "10.42.0.7";

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "standin", server: this.url, skipTLSVerify: true }],
      users: [{ name: "agent", token: "standin-token" }],
      contexts: [{ name: "standin", cluster: "standin", user: "agent" }],
      currentContext: "standin",
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const s of this.pods.values()) for (const r of [...s.watchers, ...s.logReaders]) r.destroy();
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }

  /** Puts a pod in the store as if created earlier (e.g. before an agent restart). */
  seed(pod: V1Pod): void {
    this.store(pod);
  }

  /** Deletes a pod behind the runtime's back (an operator's kubectl delete). */
  deleteExternally(name: string): void {
    const s = this.pods.get(name);
    if (s) this.remove(s);
  }

  /** Ends the container of a held pod with `exitCode`. */
  finish(name: string, exitCode: number): void {
    const s = this.pods.get(name);
    if (s) this.terminate(s, exitCode, exitCode === 0 ? "Completed" : "Error", exitCode === 0 ? "Succeeded" : "Failed");
  }

  podNames(): string[] {
    return [...this.pods.keys()];
  }

  callSummary(): string[] {
    return this.calls.map((c) => `${c.method} ${c.path}${c.query.watch ? " (watch)" : ""}`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    let body: unknown;
    if (req.method === "POST" || req.method === "PUT" || req.method === "DELETE") {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const text = Buffer.concat(chunks).toString();
      body = text ? JSON.parse(text) : undefined;
    }
    this.calls.push({ method: req.method ?? "", path: url.pathname, query: Object.fromEntries(url.searchParams), ...(body !== undefined ? { body } : {}) });
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods(?:\/([^/]+))?(\/log)?$/.exec(url.pathname);
    if (!m) return this.status(res, 404, "NotFound", `no route ${url.pathname}`);
    const [, ns, name, log] = m;
    if (!name && req.method === "POST") return this.create(ns!, body as V1Pod, res);
    if (!name && req.method === "GET" && url.searchParams.get("watch") === "true") return this.watch(url, res);
    const state = name ? this.pods.get(name) : undefined;
    if (!state) return this.status(res, 404, "NotFound", `pods "${name}" not found`);
    if (log && req.method === "GET") return this.log(state, res);
    if (req.method === "GET") return this.json(res, 200, state.pod);
    if (req.method === "DELETE") {
      this.json(res, 200, state.pod);
      // The kubelet stops the container, then the pod disappears.
      setTimeout(() => {
        this.terminate(state, 137, "Error", "Failed");
        this.remove(state);
      }, 20);
      return;
    }
    this.status(res, 405, "MethodNotAllowed", "method not allowed");
  }

  private create(ns: string, pod: V1Pod, res: ServerResponse): void {
    const name = pod.metadata?.name ?? "";
    if (this.pods.has(name)) return this.status(res, 409, "AlreadyExists", `pods "${name}" already exists`);
    pod.metadata = { ...pod.metadata, namespace: ns, uid: `pod-uid-${name}`, creationTimestamp: new Date() };
    pod.status = { phase: "Pending" };
    const state = this.store(pod);
    this.json(res, 201, state.pod);
    const env = Object.fromEntries((pod.spec?.containers?.[0]?.env ?? []).map((e) => [e.name, e.value ?? ""]));
    setTimeout(() => this.run(state, env), 20);
  }

  private run(state: PodState, env: Record<string, string>): void {
    if (!this.pods.has(state.pod.metadata!.name!)) return;
    if (env.STANDIN_WAITING) {
      state.pod.status = {
        phase: "Pending",
        containerStatuses: [{ name: "task", image: "x", imageID: "", ready: false, restartCount: 0, state: { waiting: { reason: env.STANDIN_WAITING, message: "stand-in says so" } } }],
      };
      return this.modified(state);
    }
    state.pod.status = {
      phase: "Running",
      podIP: this.podIP,
      containerStatuses: [{ name: "task", image: "x", imageID: "", ready: true, restartCount: 0, state: { running: { startedAt: new Date() } } }],
    };
    this.modified(state);
    this.maybeDropWatches(state);
    this.appendLog(state, `hello from ${state.pod.metadata!.name}`);
    this.appendLog(state, `layers ${env.EIAAS_LAYERS_FROM}-${env.EIAAS_LAYERS_TO}`);
    if (env.STANDIN_HOLD === "1") return;
    setTimeout(() => {
      const code = Number(env.STANDIN_EXIT ?? 0);
      this.appendLog(state, "bye");
      this.terminate(state, code, code === 0 ? "Completed" : "Error", code === 0 ? "Succeeded" : "Failed");
    }, 30);
  }

  private terminate(state: PodState, exitCode: number, reason: string, phase: string): void {
    state.pod.status = {
      ...state.pod.status,
      phase,
      containerStatuses: [{ name: "task", image: "x", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode, reason, finishedAt: new Date() } } }],
    };
    this.modified(state);
    for (const r of state.logReaders) r.end();
    state.logReaders.clear();
  }

  private store(pod: V1Pod): PodState {
    pod.metadata = { ...pod.metadata, resourceVersion: String(++this.rv) };
    const state: PodState = { pod, events: [{ type: "ADDED", object: clone(pod) }], watchers: new Set(), logLines: [], logReaders: new Set() };
    this.pods.set(pod.metadata.name!, state);
    return state;
  }

  private modified(state: PodState): void {
    state.pod.metadata!.resourceVersion = String(++this.rv);
    this.emit(state, "MODIFIED");
  }

  private remove(state: PodState): void {
    state.pod.metadata!.resourceVersion = String(++this.rv);
    this.emit(state, "DELETED");
    for (const w of state.watchers) w.end();
    for (const r of state.logReaders) r.end();
    this.pods.delete(state.pod.metadata!.name!);
  }

  private emit(state: PodState, type: string): void {
    const event = { type, object: clone(state.pod) };
    state.events.push(event);
    for (const w of state.watchers) w.write(`${JSON.stringify(event)}\n`);
  }

  private watch(url: URL, res: ServerResponse): void {
    const selector = url.searchParams.get("fieldSelector") ?? "";
    const name = /^metadata\.name=(.+)$/.exec(selector)?.[1];
    const since = Number(url.searchParams.get("resourceVersion") ?? 0);
    res.writeHead(200, { "content-type": "application/json" });
    const state = name ? this.pods.get(name) : undefined;
    if (!state) return void res.end();
    // Everything after the version the client asked from, then live events.
    for (const e of state.events) if (Number(e.object.metadata?.resourceVersion) > since) res.write(`${JSON.stringify(e)}\n`);
    state.watchers.add(res);
    res.on("close", () => state.watchers.delete(res));
    this.maybeDropWatches(state);
  }

  /** With {@link dropWatchAfterRunning}, ends the watches of a Running pod once (whichever came first). */
  private maybeDropWatches(state: PodState): void {
    if (!this.dropWatchAfterRunning || state.pod.status?.phase !== "Running" || state.watchers.size === 0) return;
    this.dropWatchAfterRunning = false;
    for (const w of state.watchers) w.end();
    state.watchers.clear();
  }

  private log(state: PodState, res: ServerResponse): void {
    if (state.pod.status?.phase === "Pending") return this.status(res, 400, "BadRequest", `container "task" in pod "${state.pod.metadata?.name}" is waiting to start`);
    res.writeHead(200, { "content-type": "text/plain" });
    for (const l of state.logLines) res.write(`${l}\n`);
    const phase = state.pod.status?.phase;
    if (phase === "Succeeded" || phase === "Failed") return void res.end();
    state.logReaders.add(res);
    res.on("close", () => state.logReaders.delete(res));
  }

  private appendLog(state: PodState, line: string): void {
    state.logLines.push(line);
    for (const r of state.logReaders) r.write(`${line}\n`);
  }

  private json(res: ServerResponse, code: number, body: unknown): void {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  private status(res: ServerResponse, code: number, reason: string, message: string): void {
    this.json(res, code, { kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code });
  }
}
