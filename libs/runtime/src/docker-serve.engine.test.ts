// The docker runtime serving model segments against a real Docker engine: the project image
// (deploy/Dockerfile on the local Node base) runs `eiaas-serve` with the segment the runtime wrote
// and mounted, on a published port, under the task's CPU quota. Skipped, saying why, where no
// engine can be had. Containers are named after this run's own namespace and removed at the end.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { docker, dockerAvailability, floats, inferBinary, maxDiff, projectImage, randomInput, testImages, tinyCnn } from "@eiaas/testing";
import { containerName, DockerRuntime } from "./docker.js";
import { hooks, spec, waitFor } from "./test-support.js";
import { taskKey, type SegmentTimingSample, type TaskRunSpec } from "./types.js";

const engine = dockerAvailability();
const NS = `sv${process.pid}`;

describe.skipIf(!engine.available)("docker runtime serving segments (real engine)", () => {
  let image: string;
  let segmentDir: string;
  // The host's address on docker's default bridge: the head's container reaches the tail's published
  // port there (ports are published on every address of the host; this test's client uses 127.0.0.1).
  let gateway: string;
  const cnn = tinyCnn({ seed: 5 });
  const input = randomInput(3 * 16 * 16, 3);

  beforeAll(async () => {
    image = await projectImage(await testImages());
    gateway = (await docker("network", "inspect", "bridge", "-f", "{{(index .IPAM.Config 0).Gateway}}")).trim();
    segmentDir = await mkdtemp(join(tmpdir(), "eiaas-docker-serve-test-"));
  }, 30 * 60_000);
  afterAll(async () => {
    const ids = (await docker("ps", "-aq", "--filter", `label=eiaas.io/namespace=${NS}`)).trim();
    if (ids) await docker("rm", "-f", ...ids.split("\n"));
    if (segmentDir) await rm(segmentDir, { recursive: true, force: true });
  });

  const task = (name: string, role: TaskRunSpec["role"], extra: Partial<TaskRunSpec> = {}): TaskRunSpec =>
    spec({ namespace: NS, name, uid: `uid-${name}`, attempt: 1, role, template: { image }, ...extra });

  it(
    "a split across two containers answers as onnxruntime does in-process, each under its CPU quota with its segment mounted read-only, and reports its run times to the agent",
    { timeout: 240_000 },
    async () => {
      const segments: Record<string, Uint8Array> = { tail: cnn.tail, head: cnn.head };
      const rt = new DockerRuntime({ loadSegment: async (t) => segments[t.name]!, segmentDir, publishHost: "0.0.0.0", advertiseHost: gateway, timingsPollMs: 100 });
      const tail = task("tail", "tail", { layers: { from: 3, to: 3 }, nodeName: "edge-1", resources: { cpu: 500, memoryMiB: 0, gpu: 0 } });
      // What the agent hears of each container's runs (ModelProfiles), as from the onnx runtime.
      const timings: SegmentTimingSample[] = [];
      const th = { ...hooks(), recordSegmentTiming: (t: SegmentTimingSample) => void timings.push(t) };
      const tailRun = rt.start(tail, th);
      const tailStarted = await waitFor(() => th.started[0], "the tail to serve", 120_000);
      expect(tailStarted.endpoint).toMatch(new RegExp(`^${gateway.replace(/\./g, "\\.")}:\\d+$`));

      const head = task("head", "head", { layers: { from: 1, to: 2 }, nodeName: "device-1", env: { EIAAS_NEXT_ENDPOINT: tailStarted.endpoint! }, resources: { cpu: 250, memoryMiB: 0, gpu: 0 } });
      const hh = { ...hooks(), recordSegmentTiming: (t: SegmentTimingSample) => void timings.push(t) };
      const headRun = rt.start(head, hh);
      const headPort = Number((await waitFor(() => hh.started[0], "the head to serve", 120_000)).endpoint!.split(":")[1]);

      const session = await ort.InferenceSession.create(cnn.whole);
      const whole = (await session.run({ input: new ort.Tensor("float32", input, cnn.inputShape) })).logits!.data as Float32Array;
      await session.release();
      const reply = await inferBinary(headPort, cnn.inputShape, input);
      expect(reply.status).toBe(200);
      expect(maxDiff(floats(reply.body), whole)).toBeLessThan(1e-4);
      const stages = JSON.parse(reply.headers["x-eiaas-timings"] as string);
      expect(stages).toMatchObject({ node: "device-1", layers: { from: 1, to: 2 }, next: { node: "edge-1", layers: { from: 3, to: 3 } } });
      // Each container's run time reaches the agent for its own task and layer range, the figure its answer carried.
      await waitFor(() => timings.length >= 2, "both containers' run times", 30_000);
      const byTask = Object.fromEntries(timings.map((t) => [t.task.name, t]));
      expect(byTask.head).toMatchObject({ task: { namespace: NS, name: "head" }, fromLayer: 1, toLayer: 2 });
      expect(byTask.tail).toMatchObject({ task: { namespace: NS, name: "tail" }, fromLayer: 3, toLayer: 3 });
      // The figure is each stage's own work: decoding, its run, encoding (docs/dataplane.md).
      const work = (t: { deserializeMs: number; runMs: number; exitMs?: number; serializeMs: number }) => t.deserializeMs + t.runMs + (t.exitMs ?? 0) + t.serializeMs;
      expect(byTask.head!.ms).toBeCloseTo(work(stages), 2);
      expect(byTask.tail!.ms).toBeCloseTo(work(stages.next), 2);
      expect(timings).toHaveLength(2);

      for (const [t, cpus] of [
        [tail, 500_000_000],
        [head, 250_000_000],
      ] as const) {
        const inspect = JSON.parse(await docker("inspect", containerName(t)))[0];
        expect(inspect.HostConfig.NanoCpus, t.name).toBe(cpus);
        expect(inspect.HostConfig.ReadonlyRootfs).toBe(true);
        expect(inspect.Mounts).toEqual([expect.objectContaining({ Destination: "/models", RW: false })]);
      }
      // The container cannot write its segment, even as root inside it.
      const write = await docker("exec", "-u", "0", containerName(tail), "sh", "-c", "(echo x > /models/segment.onnx) 2>&1 || echo refused");
      expect(write.trim()).toMatch(/Read-only file system[\s\S]*refused$/);

      expect(await rt.stop(taskKey(head), "task deleted")).toBe(true);
      expect(await rt.stop(taskKey(tail), "task deleted")).toBe(true);
      expect(await headRun).toMatchObject({ reason: "Cancelled", endpoint: `${gateway}:${headPort}` });
      expect(await tailRun).toMatchObject({ reason: "Cancelled", endpoint: tailStarted.endpoint });
      // Each task's segment directory is gone with its run.
      expect(await readdir(segmentDir)).toEqual([]);
    },
  );

  it("a segment the image cannot load ends the task with the container's error, and its directory is removed", { timeout: 120_000 }, async () => {
    const rt = new DockerRuntime({ loadSegment: async () => new TextEncoder().encode("not onnx"), segmentDir });
    const h = hooks();
    const result = await rt.start(task("junk", "serve"), h);
    expect(result).toMatchObject({ exitCode: 2, reason: "Error" });
    expect(h.out("stderr").join("\n")).toMatch(/^eiaas-serve: /m);
    expect(h.started).toEqual([]);
    expect(await readdir(segmentDir)).toEqual([]);
  });
});
