// `npm run bench:serving`: what the serving program adds over onnxruntime's own `session.run()`.
// For each model below, one `eiaas-serve` process (the program the image and the agent's onnx
// runtime run) serves it on loopback, and this process, alternately, (a) runs the same model in its
// own onnxruntime session with the same thread count and (b) POSTs the same input to /v1/infer
// (binary, a kept-alive connection, one request at a time), so both see the same machine noise.
// Overhead = median end-to-end − median run(); the target (issue 20) is ≤ 2 ms per request. The
// server's own `runMs` (its timings) is printed too: the difference between it and the local run is
// the two sessions' noise, not HTTP; its `totalMs` (arrival to reply encoded) minus `runMs` is what
// the server itself spends, the rest of the overhead is the socket round trip and process wake-ups.
// Env: BENCH_REQUESTS (default 400 per model), BENCH_WARMUP (default 50), BENCH_THREADS (default 1).
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent } from "node:http";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import ort from "onnxruntime-node";
import { call, inferBinary, inferJson, randomInput, tinyCnn } from "@eiaas/testing";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 400);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 50);
const THREADS = Number(process.env.BENCH_THREADS ?? 1);
const ROOT = fileURLToPath(new URL("..", import.meta.url));

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const f = (ms: number) => ms.toFixed(3).padStart(8);

/** Starts eiaas-serve on a free port; resolves with its port and a stop function. */
async function startServer(model: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ["--import", "tsx", "libs/serving/src/main.ts", "--model", model, "--port", "0", "--host", "127.0.0.1", "--threads", String(THREADS)], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line).port);
    });
    child.once("exit", (code) => reject(new Error(`eiaas-serve exited (${code})`)));
  });
  return {
    port,
    stop: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

interface Row {
  model: string;
  inputKiB: number;
  runMedian: number;
  runP90: number;
  e2eMedian: number;
  e2eP90: number;
  serverRunMedian: number;
  serverTotalMedian: number;
  jsonMedian: number;
}

async function measure(name: string, size: number, dir: string): Promise<Row> {
  const cnn = tinyCnn({ size, seed: 1 });
  const file = join(dir, `${name}.onnx`);
  await writeFile(file, cnn.whole);
  const n = cnn.inputShape.reduce((a, b) => a * b, 1);
  const input = randomInput(n);
  const session = await ort.InferenceSession.create(cnn.whole, { intraOpNumThreads: THREADS, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all" });
  const server = await startServer(file);
  const agent = new Agent({ keepAlive: true, maxSockets: 1, noDelay: true });
  const run: number[] = [];
  const e2e: number[] = [];
  const serverRun: number[] = [];
  const serverTotal: number[] = [];
  try {
    for (let i = 0; i < WARMUP + REQUESTS; i++) {
      const t0 = performance.now();
      await session.run({ input: new ort.Tensor("float32", input, cnn.inputShape) });
      const t1 = performance.now();
      const r = await inferBinary(server.port, cnn.inputShape, input, undefined, agent);
      const t2 = performance.now();
      if (r.status !== 200) throw new Error(`/v1/infer answered ${r.status}: ${r.body.toString()}`);
      if (i < WARMUP) continue;
      run.push(t1 - t0);
      e2e.push(t2 - t1);
      const timings = JSON.parse(r.headers["x-eiaas-timings"] as string);
      serverRun.push(timings.runMs);
      serverTotal.push(timings.totalMs);
    }
    const json: number[] = [];
    for (let i = 0; i < Math.min(100, REQUESTS); i++) {
      const t0 = performance.now();
      await inferJson(server.port, cnn.inputShape, input);
      json.push(performance.now() - t0);
    }
    await call(server.port, { method: "GET", path: "/healthz", agent });
    return {
      model: `${name} [${cnn.inputShape.join(",")}]`,
      inputKiB: (n * 4) / 1024,
      runMedian: quantile(run, 0.5),
      runP90: quantile(run, 0.9),
      e2eMedian: quantile(e2e, 0.5),
      e2eP90: quantile(e2e, 0.9),
      serverRunMedian: quantile(serverRun, 0.5),
      serverTotalMedian: quantile(serverTotal, 0.5),
      jsonMedian: quantile(json, 0.5),
    };
  } finally {
    agent.destroy();
    await server.stop();
    await session.release();
  }
}

const dir = await mkdtemp(join(tmpdir(), "eiaas-bench-serving-"));
try {
  console.log(`machine: ${cpus()[0]?.model ?? "?"} × ${cpus().length}, node ${process.version}, onnxruntime ${ort.env.versions.common}, ${THREADS} thread(s), ${REQUESTS} requests per model after ${WARMUP} warm-up`);
  const rows: Row[] = [];
  for (const [name, size] of [["tiny-cnn-16", 16], ["tiny-cnn-64", 64], ["tiny-cnn-224", 224]] as const) rows.push(await measure(name, size, dir));
  console.log("\nms per request             input KiB  run() p50  run() p90  /v1/infer p50  /v1/infer p90  overhead p50  server runMs p50  server totalMs p50  JSON p50");
  for (const r of rows) {
    console.log(
      `${r.model.padEnd(26)} ${r.inputKiB.toFixed(1).padStart(9)} ${f(r.runMedian)}   ${f(r.runP90)}   ${f(r.e2eMedian)}       ${f(r.e2eP90)}       ${f(r.e2eMedian - r.runMedian)}      ${f(r.serverRunMedian)}     ${f(r.serverTotalMedian)}          ${f(r.jsonMedian)}`,
    );
  }
  const worst = Math.max(...rows.map((r) => r.e2eMedian - r.runMedian));
  console.log(`\nserving overhead (median /v1/infer − median run()): at most ${worst.toFixed(3)} ms per request; target ≤ 2 ms: ${worst <= 2 ? "met" : "NOT met"}`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
