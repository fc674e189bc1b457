// `eictl infer` as a child process against the real API server and two real serving processes
// (`eiaas-serve`, the program the image runs) serving a split of a small CNN: the head on the
// client's node forwarding to the tail. The entry comes from the discovery API; the answer must be
// the whole model's; failures are one line with exit code 1.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { EiaasClient, writeDemoContext } from "@eiaas/client";
import { tinyCnn } from "@eiaas/testing";
import { randomTensor } from "./cli/infer-input.js";
import { top5 } from "./output/infer.js";
import { eictl, eictlBundle, oneErrorLine, REPO_ROOT, startServer, type TestServer } from "@eiaas/testing/eictl";

vi.setConfig({ testTimeout: 90_000, hookTimeout: 180_000 });

const cnn = tinyCnn({ seed: 4 });
let server: TestServer;
let client: EiaasClient;
let dir: string;
let config: string;
const servers: ChildProcess[] = [];
let headPort = 0;
const run = (...args: string[]) => eictl(args, { config });
const ns = { namespace: "demo" };
const file = (name: string) => join(dir, name);

/** Starts `eiaas-serve` on a free port; resolves with the port it printed. */
function serve(model: string, args: string[]): Promise<number> {
  const child = spawn(process.execPath, ["--import", "tsx", "libs/serving/src/main.ts", "--model", model, "--port", "0", "--host", "127.0.0.1", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  servers.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!).port);
    });
    child.once("exit", (code) => reject(new Error(`eiaas-serve exited ${code}`)));
  });
}

/** The whole model's answer for an input, by onnxruntime itself. */
async function wholeModel(data: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(cnn.whole);
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", data, cnn.inputShape) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** A float32 .npy file (format 1.0). */
function npy(shape: number[], data: Float32Array): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }`;
  header += " ".repeat(63 - ((10 + header.length) % 64)) + "\n";
  const pre = Buffer.alloc(10);
  pre.write("\x93NUMPY", 0, "latin1");
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, "latin1"), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

const predicted = { latencyMs: 12.5, deviceEnergyMj: 3, accuracy: 0.7, uplinkBytes: 2048 };

async function task(name: string, node: string, role: string, uid: string, clients: string, status: Record<string, unknown>): Promise<void> {
  await client.create("tasks", {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Task",
    metadata: {
      name,
      namespace: "demo",
      labels: { "eiaas.io/plan-revision": "1" },
      annotations: { "eiaas.io/clients": clients },
      ownerReferences: [{ apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", name: "cls", uid, controller: true }],
    },
    spec: { nodeName: node, role, env: { EIAAS_VARIANT: "base" } },
  });
  await client.patch("tasks", name, { status }, { ...ns, subresource: "status" });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eictl-infer-"));
  config = join(dir, "config");
  await Promise.all([writeFile(file("head.onnx"), cnn.head), writeFile(file("tail.onnx"), cnn.tail)]);
  [server] = await Promise.all([startServer(), eictlBundle()]);
  client = new EiaasClient({ server: server.url, token: server.adminToken, caPem: server.caPem });
  await writeDemoContext({ server: server.url, token: server.adminToken, caPem: server.caPem, configPath: config });
  expect((await run("apply", "-f", "deploy/examples/tenant-demo.yaml", "-f", "deploy/examples/fleet.yaml")).code).toBe(0);

  const tailPort = await serve(file("tail.onnx"), ["--node", "edge-lab", "--layers", "3-3"]);
  // The head caches answers: the same file sent again is not run again.
  headPort = await serve(file("head.onnx"), ["--node", "cam-1", "--layers", "1-2", "--next", `127.0.0.1:${tailPort}`, "--cache-max-entries", "8", "--cache-ttl", "600"]);

  await client.create("models", {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Model",
    metadata: { name: "tiny", namespace: "demo" },
    spec: {
      inputBytes: 3072,
      accuracy: 0.7,
      layers: [
        { name: "conv1", flops: 1e5, outputBytes: 8192 },
        { name: "conv2", flops: 2e5, outputBytes: 2048 },
        { name: "fc", flops: 1e3, outputBytes: 40 },
      ],
    },
  });
  const svc = await client.create("isvc", {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "InferenceService",
    metadata: { name: "cls", namespace: "demo" },
    spec: { model: "tiny", clients: { selector: { matchLabels: { tier: "device" } } }, caching: { maxEntries: 8, ttlSeconds: 600 } },
  });
  const uid = svc.metadata.uid as string;
  await client.patch(
    "isvc",
    "cls",
    {
      status: {
        phase: "Running",
        planRevision: 1,
        plan: {
          clients: [
            { client: "cam-1", architecture: "edge-device", split: 2, headNode: "cam-1", tailNode: "edge-lab", variant: "base", exitAfterLayer: 3, predicted },
            { client: "cam-2", architecture: "edge", split: 0, tailNode: "edge-lab", variant: "base", exitAfterLayer: 3, predicted },
          ],
        },
      },
    },
    { ...ns, subresource: "status" },
  );
  await task("cls-r1-head-cam1", "cam-1", "head", uid, "cam-1", { phase: "Running", endpoint: `127.0.0.1:${headPort}` });
  await task("cls-r1-tail-lab", "edge-lab", "tail", uid, "cam-1", { phase: "Running", endpoint: `127.0.0.1:${tailPort}` });
  // cam-2's entry (the whole chain offloaded to edge-lab) is not serving yet.
  await task("cls-r1-serve-lab", "edge-lab", "serve", uid, "cam-2", { phase: "Dispatched" });
});
afterAll(async () => {
  for (const c of servers) c.kill("SIGTERM");
  client?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("spec.caching and spec.inputFilter", () => {
  it("are validated by the API: 422 with the field paths; the counts a task reports are kept in its status", async () => {
    const bad = client.create("isvc", {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "bad", namespace: "demo" },
      spec: { model: "tiny", clients: { selector: {} }, caching: { maxEntries: 0, ttlSeconds: -1, size: 3 }, inputFilter: { threshold: "low" } },
    });
    const err = await bad.then(
      () => undefined,
      (e) => e,
    );
    expect(err?.code).toBe(422);
    const fields = (err.status.details.causes as Array<{ field: string }>).map((c) => c.field).sort();
    expect(fields).toEqual(["spec.caching.maxEntries", "spec.caching.size", "spec.caching.ttlSeconds", "spec.inputFilter.threshold"]);
    const defaults = await client.create("isvc", {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "defaults", namespace: "demo" },
      spec: { model: "tiny", clients: { selector: {} }, caching: {}, inputFilter: { threshold: 0.02 } },
    });
    expect(defaults.spec).toMatchObject({ caching: { maxEntries: 1000, ttlSeconds: 60 }, inputFilter: { threshold: 0.02 } });

    const counts = { requests: 10, cacheHits: 4, cacheMisses: 6, filterSkips: 1 };
    const t = await client.patch("tasks", "cls-r1-head-cam1", { status: { serving: counts } }, { ...ns, subresource: "status" });
    expect(t.status.serving).toEqual(counts);
    const refused = await client.patch("tasks", "cls-r1-head-cam1", { status: { serving: { ...counts, requests: -1 } } }, { ...ns, subresource: "status" }).catch((e) => e);
    expect(refused.code).toBe(422);
  });
});

describe("eictl infer", () => {
  it("--random -o json: the whole model's answer through the client's split, both stages' times (head + transfer + tail = total) and the prediction", async () => {
    const r = await run("infer", "cls", "--client", "cam-1", "--random", "--seed", "5", "-o", "json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    const expected = top5({ shape: cnn.outputShape, data: await wholeModel(randomTensor(cnn.inputShape, 5).data) });
    expect(out.output.shape).toEqual([1, 10]);
    expect(out.output.top5.map((c: any) => c.class)).toEqual(expected.map((c) => c.class));
    out.output.top5.forEach((c: any, i: number) => expect(c.probability).toBeCloseTo(expected[i]!.probability, 3));
    expect(out.entry).toEqual({ node: "cam-1", role: "head", task: "cls-r1-head-cam1", address: `127.0.0.1:${headPort}` });
    expect(out.stages.map((s: any) => [s.node, s.layers])).toEqual([
      ["cam-1", "1-2"],
      ["edge-lab", "3-3"],
    ]);
    expect(out.stages[0].transferMs).toEqual(expect.any(Number));
    for (const k of ["headMs", "transferMs", "tailMs", "totalMs", "serverMs"]) expect(out.measured[k]).toEqual(expect.any(Number));
    expect(out.measured.totalMs).toBeGreaterThan(0);
    // No part missing: head, transfer and tail make the total the client measured (one request, no medians).
    const m = out.measured;
    for (const k of ["headMs", "transferMs", "tailMs"]) expect(m[k]).toBeGreaterThan(0);
    expect(Math.abs(m.headMs + m.transferMs + m.tailMs - m.totalMs)).toBeLessThan(1e-6);
    // The tail's own work includes its run, and the head's its run.
    expect(m.tailMs).toBeGreaterThanOrEqual(out.stages[1].runMs);
    expect(m.headMs).toBeGreaterThanOrEqual(out.stages[0].runMs);
    expect(out.predicted).toEqual({ latencyMs: 12.5 });
    expect(out.plan).toMatchObject({ client: "cam-1", split: 2, headNode: "cam-1", tailNode: "edge-lab" });
    expect(out).toMatchObject({ requests: 1, reused: { cache: 0, filter: 0 } });
    // Reported to the service as the client's measured latency, beside the plan's prediction.
    const svc = await client.get("isvc", "cls", ns);
    expect(svc.status.measured).toEqual([expect.objectContaining({ client: "cam-1", architecture: "edge-device", split: 2, headNode: "cam-1", tailNode: "edge-lab", count: 1, predictedMs: 12.5 })]);
    expect(svc.status.measured[0].latencyMs).toBeCloseTo(out.measured.totalMs, 6);
  });

  it("prints the answer, the stages and measured beside predicted times as text", async () => {
    const r = await run("infer", "cls", "--client", "cam-1", "--random", "--count", "3");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^cls for cam-1: edge-device, split after layer 2 \(head cam-1, tail edge-lab\), variant base; entry 127\.0\.0\.1:\d+ \(head on cam-1\)\n/);
    expect(r.stdout).toMatch(/top-5:\n {2}1\. class \d+ {2}0\.\d{4}\n/);
    expect(r.stdout).toMatch(/^NODE\s+LAYERS\s+RUN\s+TRANSFER\ncam-1\s+1-2\s+[\d.]+ms\s+[\d.]+ms\nedge-lab\s+3-3\s+[\d.]+ms$/m);
    expect(r.stdout).toMatch(/^TIME\s+MEASURED \(median of 3\)\s+PREDICTED$/m);
    expect(r.stdout).toMatch(/^total\s+[\d.]+ms\s+12\.50ms$/m);
    // Three random inputs (seeds 1, 2, 3): none of them was a cache hit.
    expect(r.stdout).not.toMatch(/reused/);
  });

  it("-f takes .npy, .json and raw float32 files; the same input again is answered by the entry's cache", async () => {
    const input = randomTensor(cnn.inputShape, 77).data;
    const expected = top5({ shape: cnn.outputShape, data: await wholeModel(input) }).map((c) => c.class);
    await writeFile(file("x.npy"), npy(cnn.inputShape, input));
    await writeFile(file("x.json"), JSON.stringify({ shape: cnn.inputShape, data: Array.from(input) }));
    await writeFile(file("x.bin"), Buffer.from(input.buffer));
    for (const f of ["x.npy", "x.json", "x.bin"]) {
      const r = await run("infer", "cls", "--client", "cam-1", "-f", file(f), "--count", "3", "-o", "json");
      expect(r.stderr).toBe("");
      const out = JSON.parse(r.stdout);
      expect(out.output.top5.map((c: any) => c.class)).toEqual(expected);
      expect(out.requests).toBe(3);
      // The first file's first request ran the model; every later one is the cached answer.
      expect(out.reused.cache).toBe(f === "x.npy" ? 2 : 3);
    }
  });

  it("fails in one line with exit code 1: no service, a client not planned, an entry not serving or unreachable, a bad input", async () => {
    const fails = async (args: string[], line: string | RegExp) => {
      const r = await run(...args);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      if (typeof line === "string") expect(oneErrorLine(r)).toBe(line);
      else expect(oneErrorLine(r)).toMatch(line);
    };
    await fails(["infer", "nope", "--client", "cam-1", "--random"], 'Error from server (NotFound): inferenceservices "nope" not found');
    await fails(["infer", "cls", "--client", "pi-1", "--random"], 'Error from server (NotFound): inferenceservices "cls" has no entry for pi-1: client pi-1 is not in its plan');
    await fails(["infer", "cls", "--client", "nobody", "--random"], 'Error from server (NotFound): edgenodes "nobody" not found');
    await fails(["infer", "cls", "--client", "cam-2", "--random"], "error: the entry of cls for cam-2 (serve task cls-r1-serve-lab on edge-lab) is not serving yet (phase Dispatched)");
    await fails(["infer", "cls", "--client", "cam-1"], "error: give the input: -f FILE or --random (one of them)");
    await fails(["infer", "cls", "--client", "cam-1", "--random", "--count", "0"], 'error: invalid --count "0": expected an integer between 1 and 10000');

    await writeFile(file("small.npy"), npy([1, 3, 8, 8], new Float32Array(192)));
    await fails(["infer", "cls", "--client", "cam-1", "-f", file("small.npy")], "error: bad input shape: " + file("small.npy") + " is [1,3,8,8], the model's input is [1,3,16,16]");
    await writeFile(file("short.bin"), Buffer.alloc(100));
    await fails(
      ["infer", "cls", "--client", "cam-1", "-f", file("short.bin")],
      /^error: bad input shape: .*short\.bin holds 100 bytes \(25 float32 values\), the model's input \[1,3,16,16\] takes 3072$/,
    );
    await writeFile(file("bad.json"), '{"shape":[1,3,16,16],"data":[1,"x"]}');
    await fails(["infer", "cls", "--client", "cam-1", "-f", file("bad.json")], /^error: .*bad\.json: "x" is not a finite number$/);
    await fails(["infer", "cls", "--client", "cam-1", "-f", file("missing.npy")], /^error: cannot read .*missing\.npy: ENOENT$/);

    // A tenant's token finds its own services' entries, and nothing of another namespace.
    const token = (await client.createToken("demo")).token!;
    const own = await run("infer", "cls", "--client", "cam-1", "--random", "--token", token, "-o", "json");
    expect([own.code, own.stderr]).toEqual([0, ""]);
    await fails(["infer", "cls", "--client", "cam-1", "--random", "--token", token, "-n", "other"], /^Error from server \((Forbidden|NotFound)\): /);

    // The entry's task reports an address nothing listens on.
    await client.patch("tasks", "cls-r1-serve-lab", { status: { phase: "Running", endpoint: "127.0.0.1:1" } }, { ...ns, subresource: "status" });
    await fails(["infer", "cls", "--client", "cam-2", "--random"], "error: cannot reach the entry of cls for cam-2 (serve task cls-r1-serve-lab on edge-lab) at 127.0.0.1:1: ECONNREFUSED");
  });
});
