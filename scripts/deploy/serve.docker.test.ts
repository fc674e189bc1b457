// The serving program in the image (deploy/Dockerfile built by a real Docker engine on the local
// bookworm Node base): `eiaas-serve` with a segment file mounted read-only, on a read-only root as
// the docker and kubernetes runtimes run it, answers /v1/infer as onnxruntime does on the host
// (onnxruntime's glibc binary loads in the image), and stops on SIGTERM. Skipped, saying why,
// where no engine can be had.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, docker, dockerAvailability, floats, freePort, inferBinary, inferJson, maxDiff, projectImage, randomInput, run, testImages, tinyCnn } from "@eiaas/testing";

const engine = dockerAvailability();
const NAME = `serve${process.pid}`;

describe.skipIf(!engine.available)("eiaas-serve in the image", () => {
  let image: string;
  let dir: string;
  const cnn = tinyCnn({ seed: 21 });
  const input = randomInput(3 * 16 * 16, 8);

  beforeAll(async () => {
    image = await projectImage(await testImages());
    dir = await mkdtemp(join(tmpdir(), "eiaas-serve-image-"));
    await chmod(dir, 0o755);
    await writeFile(join(dir, "head.onnx"), cnn.head, { mode: 0o644 });
    await writeFile(join(dir, "tail.onnx"), cnn.tail, { mode: 0o644 });
  }, 30 * 60_000);

  afterAll(async () => {
    await run("docker", ["rm", "-f", `${NAME}-head`, `${NAME}-tail`]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** eiaas-serve in a container on the host's network; resolves once /healthz answers. */
  async function serveIn(name: string, port: number, ...args: string[]): Promise<void> {
    await docker(
      "run",
      "-d",
      "--name",
      `${NAME}-${name}`,
      "--network",
      "host",
      "--read-only",
      "--tmpfs",
      "/tmp:mode=1777",
      "-v",
      `${dir}:/models:ro`,
      "-e",
      `EIAAS_PORT=${port}`,
      image,
      "eiaas-serve",
      "--host",
      "127.0.0.1",
      ...args,
    );
    const deadline = Date.now() + 60_000;
    for (;;) {
      const ok = await call(port, { method: "GET", path: "/healthz" }).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return;
      const state = (await run("docker", ["inspect", "-f", "{{.State.Status}}", `${NAME}-${name}`])).stdout.trim();
      if (Date.now() > deadline || state === "exited") {
        const logs = await run("docker", ["logs", "--tail", "20", `${NAME}-${name}`]);
        throw new Error(`eiaas-serve in ${name} not serving (${state}):\n${logs.stdout}${logs.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }

  it("ships onnxruntime's binary for its own platform only", { timeout: 60_000 }, async () => {
    const r = await run("docker", ["run", "--rm", image, "sh", "-c", "cd node_modules/onnxruntime-node/bin/napi-v6 && find . -name '*.node' | sort"]);
    expect(r.stdout.trim()).toBe(`./linux/${process.arch}/onnxruntime_binding.node`);
  });

  it("a split across two containers answers as the whole model does on the host, and each stops on SIGTERM", { timeout: 180_000 }, async () => {
    const [tailPort, headPort] = [await freePort(), await freePort()];
    await serveIn("tail", tailPort, "--model", "/models/tail.onnx", "--node", "edge-1", "--layers", "3-3");
    await serveIn("head", headPort, "--model", "/models/head.onnx", "--next", `127.0.0.1:${tailPort}`, "--node", "device-1", "--layers", "1-2");
    const logs = await run("docker", ["logs", `${NAME}-head`]);
    expect(JSON.parse(logs.stdout.trim().split("\n")[0]!)).toMatchObject({ msg: "serving", port: headPort, model: "input [1,3,16,16] → cut [1,8,8,8]", next: `127.0.0.1:${tailPort}` });

    const session = await ort.InferenceSession.create(cnn.whole);
    const whole = (await session.run({ input: new ort.Tensor("float32", input, cnn.inputShape) })).logits!.data as Float32Array;
    await session.release();
    const binary = await inferBinary(headPort, cnn.inputShape, input);
    expect(binary.status).toBe(200);
    expect(maxDiff(floats(binary.body), whole)).toBeLessThan(1e-4);
    expect(JSON.parse(binary.headers["x-eiaas-timings"] as string)).toMatchObject({ node: "device-1", layers: { from: 1, to: 2 }, next: { node: "edge-1", layers: { from: 3, to: 3 } } });
    const json = JSON.parse((await inferJson(tailPort, cnn.cutShape, new Float32Array(8 * 8 * 8))).body.toString());
    expect(json.shape).toEqual([1, 10]);

    for (const name of ["head", "tail"]) {
      await docker("stop", "-t", "10", `${NAME}-${name}`);
      expect((await run("docker", ["inspect", "-f", "{{.State.ExitCode}}", `${NAME}-${name}`])).stdout.trim(), name).toBe("0");
    }
  });

  it("a missing segment file is one line and exit code 2", { timeout: 60_000 }, async () => {
    const r = await run("docker", ["run", "--rm", "-v", `${dir}:/models:ro`, image, "eiaas-serve", "--model", "/models/none.onnx"]);
    expect(r.stderr.trim()).toBe("eiaas-serve: cannot read the segment /models/none.onnx: ENOENT");
    expect(r.code).toBe(2);
  });
});
