import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { stageWorkMs, startServing, TIMINGS_HEADER } from "@eiaas/serving";
import { inferBinary, randomInput, tinyCnn } from "@eiaas/testing";
import { KubeStandIn } from "./kube-standin.js";
import { buildPod, podName } from "./kubernetes-pod.js";
import { KubernetesRuntime } from "./kubernetes.js";
import { hooks, spec, waitFor } from "./test-support.js";
import { taskKey, type SegmentTimingSample, type TaskRunSpec } from "./types.js";

describe("kubernetes runtime (against a stand-in API server)", () => {
  const api = new KubeStandIn();
  beforeAll(() => api.start());
  afterAll(() => api.stop());
  afterEach(() => void api.calls.splice(0));

  const runtime = (extra: Partial<ConstructorParameters<typeof KubernetesRuntime>[0]> = {}) =>
    new KubernetesRuntime({ kubeConfig: api.kubeConfig(), namespace: "eiaas-tasks", rewatchDelayMs: 10, logDrainMs: 2000, ...extra });

  let n = 0;
  const task = (env: Record<string, string> = {}, extra: Partial<TaskRunSpec> = {}): TaskRunSpec =>
    spec({
      attempt: ++n,
      layers: { from: 3, to: 8 },
      template: { image: "eiaas/infer:1", command: ["serve", "--port=8080"], env: { EIAAS_PORT: "8080" } },
      env,
      resources: { cpu: 500, memoryMiB: 256, gpu: 0 },
      ...extra,
    });

  it("creates a Pod bound to the node, watches it to completion, streams its log, then deletes it", async () => {
    const t = task();
    const h = hooks();
    const result = await runtime().start(t, h);
    expect(result).toEqual({ exitCode: 0, endpoint: "10.42.0.7:8080" });
    expect(h.started).toEqual([{ endpoint: "10.42.0.7:8080" }]);
    expect(h.out()).toEqual([`hello from ${podName(t)}`, "layers 3-8", "bye"]);

    const name = podName(t);
    expect(name).toBe(`eiaas-acme-cam-1-serve-${t.attempt}`);
    expect(api.callSummary()).toEqual([
      "POST /api/v1/namespaces/eiaas-tasks/pods",
      "GET /api/v1/namespaces/eiaas-tasks/pods (watch)",
      `GET /api/v1/namespaces/eiaas-tasks/pods/${name}/log`,
      `DELETE /api/v1/namespaces/eiaas-tasks/pods/${name}`,
    ]);
    const [create, watch, log] = api.calls;
    expect(create!.body).toMatchObject({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: "eiaas-tasks",
        labels: { "eiaas.io/task": "cam-1-serve", "eiaas.io/namespace": "acme", "eiaas.io/task-uid": "0b7c6a2e-uid", "eiaas.io/attempt": String(t.attempt), "eiaas.io/node": "edge-1" },
      },
      spec: {
        nodeName: "edge-1",
        restartPolicy: "Never",
        containers: [
          {
            name: "task",
            image: "eiaas/infer:1",
            args: ["serve", "--port=8080"],
            ports: [{ containerPort: 8080, name: "serve" }],
            resources: { requests: { cpu: "500m", memory: "256Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
          },
        ],
      },
    });
    expect((create!.body as ReturnType<typeof buildPod>).spec!.containers[0]!.env).toContainEqual({ name: "EIAAS_TASK_UID", value: "0b7c6a2e-uid" });
    expect(watch!.query).toMatchObject({ watch: "true", fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: "true" });
    expect(Number(watch!.query.resourceVersion)).toBeGreaterThan(0);
    expect(log!.query).toMatchObject({ container: "task", follow: "true" });
    await waitFor(() => !api.podNames().includes(name), "the pod to be gone");
  });

  it("reports the container's exit code and reason, and can keep finished Pods", async () => {
    const t = task({ STANDIN_EXIT: "3" });
    const result = await runtime({ deleteOnCompletion: false }).start(t, hooks());
    expect(result).toEqual({ exitCode: 3, reason: "Error", endpoint: "10.42.0.7:8080" });
    expect(api.calls.map((c) => c.method)).not.toContain("DELETE");
    expect(api.podNames()).toContain(podName(t));
  });

  it("deletes the Pod when the task is stopped", async () => {
    const rt = runtime();
    const t = task({ STANDIN_HOLD: "1" });
    const h = hooks();
    const run = rt.start(t, h);
    await waitFor(() => h.out().includes("layers 3-8"), "the pod to run");
    expect(await rt.stop(taskKey(t), "task deleted")).toBe(true);
    expect(await run).toMatchObject({ exitCode: 143, reason: "Cancelled", message: "task deleted" });
    expect(api.callSummary().at(-1)).toBe(`DELETE /api/v1/namespaces/eiaas-tasks/pods/${podName(t)}`);
    await waitFor(() => !api.podNames().includes(podName(t)), "the pod to go");
  });

  it("re-reads the Pod and watches again from its resourceVersion when the watch breaks", async () => {
    api.dropWatchAfterRunning = true;
    const t = task({ STANDIN_HOLD: "1" });
    const name = podName(t);
    const run = runtime().start(t, hooks());
    await waitFor(() => api.calls.filter((c) => c.query.watch === "true").length === 2, "a second watch");
    api.finish(name, 0);
    expect(await run).toMatchObject({ exitCode: 0 });
    const summary = api.callSummary();
    expect(summary.filter((c) => c.endsWith("(watch)"))).toHaveLength(2);
    expect(summary).toContain(`GET /api/v1/namespaces/eiaas-tasks/pods/${name}`);
    const [first, second] = api.calls.filter((c) => c.query.watch === "true");
    expect(Number(second!.query.resourceVersion)).toBeGreaterThan(Number(first!.query.resourceVersion));
  });

  it("adopts its own Pod left by an earlier run of the same attempt, and refuses a stranger's", async () => {
    const t = task({ STANDIN_HOLD: "1" });
    const existing = buildPod(t, { namespace: "eiaas-tasks" });
    existing.status = {
      phase: "Succeeded",
      containerStatuses: [{ name: "task", image: "x", imageID: "", ready: false, restartCount: 0, state: { terminated: { exitCode: 0, reason: "Completed" } } }],
    };
    api.seed(existing);
    expect(await runtime().start(t, hooks())).toMatchObject({ exitCode: 0 });
    expect(api.callSummary().slice(0, 2)).toEqual(["POST /api/v1/namespaces/eiaas-tasks/pods", `GET /api/v1/namespaces/eiaas-tasks/pods/${podName(t)}`]);

    const other = task();
    const stranger = buildPod({ ...other, uid: "someone-else" }, { namespace: "eiaas-tasks" });
    api.seed(stranger);
    const r = await runtime().start(other, hooks());
    expect(r).toMatchObject({ exitCode: 128, reason: "StartError" });
    expect(r.message).toMatch(/already exists/);
    expect(api.podNames()).toContain(podName(other));
  });

  it("fails a task whose Pod was deleted behind its back, or is stuck in a state no retry fixes", async () => {
    const rt = runtime();
    const held = task({ STANDIN_HOLD: "1" });
    const h = hooks();
    const run = rt.start(held, h);
    await waitFor(() => h.out().includes("layers 3-8"), "the pod to run");
    api.deleteExternally(podName(held));
    expect(await run).toMatchObject({ exitCode: 137, reason: "PodDeleted" });

    const bad = task({ STANDIN_WAITING: "InvalidImageName" });
    expect(await rt.start(bad, hooks())).toEqual({ exitCode: 128, reason: "InvalidImageName", message: "stand-in says so" });
    expect(api.callSummary().at(-1)).toBe(`DELETE /api/v1/namespaces/eiaas-tasks/pods/${podName(bad)}`);
  });

  it("reports an unreachable API server or a missing image as a start error", async () => {
    const kc = api.kubeConfig();
    kc.clusters[0] = { ...kc.clusters[0]!, server: "http://127.0.0.1:1" };
    const r = await new KubernetesRuntime({ kubeConfig: kc }).start(task(), hooks());
    expect(r).toMatchObject({ exitCode: 128, reason: "StartError" });
    expect(await runtime().start(spec(), hooks())).toMatchObject({ exitCode: 125, reason: "StartError" });
  });

  it("reads a serving Pod's run times from its endpoint (GET /v1/timings) and hands them to the agent until the task stops", async () => {
    // The pod's container: a real serving server on a real socket, reached at the Pod's IP and EIAAS_PORT.
    const cnn = tinyCnn({ seed: 5 });
    const server = await startServing({ model: cnn.whole, layers: { from: 1, to: 3 } });
    api.podIP = "127.0.0.1";
    try {
      const rt = runtime({ timingsPollMs: 50 });
      const t = task({ STANDIN_HOLD: "1" }, { role: "serve", layers: { from: 1, to: 3 }, template: { image: "eiaas/serve:1", env: { EIAAS_PORT: String(server.port) } } });
      const timings: SegmentTimingSample[] = [];
      const h = { ...hooks(), recordSegmentTiming: (s: SegmentTimingSample) => void timings.push(s) };
      const run = rt.start(t, h);
      expect(await waitFor(() => h.started[0], "the pod to run")).toEqual({ endpoint: `127.0.0.1:${server.port}` });
      const runMs: number[] = [];
      for (let i = 0; i < 3; i++) {
        const reply = await inferBinary(server.port, cnn.inputShape, randomInput(3 * 16 * 16, i));
        expect(reply.status).toBe(200);
        // The figure is the stage's own work: decode, run, encode (docs/dataplane.md).
        runMs.push(stageWorkMs(JSON.parse(reply.headers[TIMINGS_HEADER] as string)));
      }
      await waitFor(() => timings.length >= 3, "the pod's run times");
      expect(timings).toHaveLength(3);
      timings.forEach((s, i) => {
        expect(s).toMatchObject({ task: { namespace: "acme", name: "cam-1-serve" }, fromLayer: 1, toLayer: 3 });
        expect(s.ms).toBeCloseTo(runMs[i]!, 2);
      });
      expect(await rt.stop(taskKey(t), "task deleted")).toBe(true);
      expect(await run).toMatchObject({ reason: "Cancelled" });
      // Stopped: what the server runs after is no figure of this task's any more.
      await inferBinary(server.port, cnn.inputShape, randomInput(3 * 16 * 16, 9));
      await new Promise((r) => setTimeout(r, 300));
      expect(timings).toHaveLength(3);
    } finally {
      api.podIP = "10.42.0.7";
      await server.close();
    }
  });

  it("builds Pods that Pod Security's restricted level admits (the chart enforces it on the workload namespace)", () => {
    const pod = buildPod(task(), { namespace: "eiaas-tasks" });
    const podSpec = pod.spec!;
    expect(podSpec.automountServiceAccountToken).toBe(false);
    expect(podSpec.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    for (const c of podSpec.containers) {
      expect(c.securityContext).toEqual({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    }
    expect(podSpec.hostNetwork ?? podSpec.hostPID ?? podSpec.hostIPC).toBeUndefined();
    expect(podSpec.volumes).toBeUndefined();
  });
});
