// `eictl model import` and `eictl model get-artifact` as child processes: an offline dry run, a
// real import against the API server (Model created, then updated keeping the user's fields, the
// file uploaded and its digest recorded), exit heads, and bad files refused with one line.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { EiaasClient, writeDemoContext } from "@eiaas/client";
import { GraphBuilder } from "@eiaas/onnx";
import { tinyCnnOnnx } from "@eiaas/testing";
import { eictl, eictlBundle, oneErrorLine, startServer, type TestServer } from "@eiaas/testing/eictl";

vi.setConfig({ testTimeout: 60_000 });

let server: TestServer;
let client: EiaasClient;
let dir: string;
let config: string;
const run = (...args: string[]) => eictl(args, { config });
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const file = (name: string) => join(dir, name);

/** An exit head for tinyCnnOnnx after layer 1 (reads relu1.out, 1×4×8×8): avgpool + fc. */
function exitHeadOnnx(): Uint8Array {
  const g = new GraphBuilder("tiny-exit1", { seed: 3 });
  let x = g.input("features", [1, 4, 8, 8]);
  x = g.flatten("exit", g.globalAvgPool("exit/avgpool", x));
  x = g.linear("exit/fc", x, 4, 10);
  return g.build(x, [1, 10]);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eictl-model-"));
  config = join(dir, "config");
  [server] = await Promise.all([startServer(), eictlBundle()]);
  client = new EiaasClient({ server: server.url, token: server.adminToken, caPem: server.caPem });
  await writeDemoContext({ server: server.url, token: server.adminToken, caPem: server.caPem, configPath: config });
  expect((await run("apply", "-f", "deploy/examples/tenant-demo.yaml")).code).toBe(0);
  await writeFile(file("tiny.onnx"), tinyCnnOnnx({ classes: 10 }));
  await writeFile(file("tiny-v2.onnx"), tinyCnnOnnx({ classes: 10, seed: 9 }));
  await writeFile(file("dynamic.onnx"), tinyCnnOnnx({ dynamicBatch: true }));
  await writeFile(file("exit1.onnx"), exitHeadOnnx());
  const whole = tinyCnnOnnx();
  await writeFile(file("truncated.onnx"), whole.subarray(0, whole.length - 64));
  await writeFile(file("text.onnx"), "not a model\n");
});
afterAll(async () => {
  client?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("eictl model import", () => {
  it("--dry-run prints the Model offline (yaml, json) and a summary line without -o", async () => {
    // No server: an address nothing listens on.
    const offline = (...args: string[]) => eictl([...args, "--server", "https://127.0.0.1:1"], { config: file("no-config") });
    const yaml = await offline("model", "import", "-f", file("tiny.onnx"), "--name", "tiny", "-n", "demo", "--accuracy", "0.7", "--dry-run", "-o", "yaml");
    expect(yaml.stderr).toBe("");
    expect(yaml.code).toBe(0);
    const obj = parse(yaml.stdout);
    expect(obj).toMatchObject({ apiVersion: "eiaas.io/v1alpha1", kind: "Model", metadata: { name: "tiny", namespace: "demo" }, spec: { inputBytes: 768, accuracy: 0.7 } });
    expect(obj.spec.layers.map((l: any) => [l.name, l.flops, l.outputBytes, l.tensor])).toEqual([
      ["conv1", 13824, 1024, "relu1.out"],
      ["conv2", 18432, 1024, "flat"],
      ["fc", 5120, 40, "logits"],
    ]);
    const json = await offline("model", "import", "-f", file("tiny.onnx"), "--name", "tiny", "--accuracy", "0.7", "--dry-run", "-o", "json");
    expect(JSON.parse(json.stdout).spec.layers).toHaveLength(3);
    const line = await offline("model", "import", "-f", file("tiny.onnx"), "--name", "tiny", "--accuracy", "0.7", "--dry-run");
    expect(line.stdout).toBe(`model.eiaas.io/tiny imported (3 layers, sha256 ${sha256(tinyCnnOnnx({ classes: 10 }))}) (dry run)\n`);
  });

  it("refuses bad files and arguments with one line and exit code 1", async () => {
    const cases: Array<[string[], RegExp]> = [
      [["-f", file("truncated.onnx"), "--name", "t", "--accuracy", "0.5"], /^error: .*truncated\.onnx: /],
      [["-f", file("text.onnx"), "--name", "t", "--accuracy", "0.5"], /^error: .*text\.onnx: /],
      [["-f", file("dynamic.onnx"), "--name", "t", "--accuracy", "0.5"], /dynamic shape .*--input/],
      [["-f", file("missing.onnx"), "--name", "t", "--accuracy", "0.5"], /^error: cannot read the ONNX file .*missing\.onnx: no such file$/],
      [["-f", file("tiny.onnx"), "--name", "t", "--accuracy", "1.5"], /^error: invalid --accuracy accuracy "1\.5"/],
      [["-f", file("tiny.onnx"), "--name", "t", "--accuracy", "0.5", "--input", "1xNx3"], /^error: invalid --input "1xNx3"/],
      [["-f", file("tiny.onnx"), "--name", "t", "--dry-run"], /^error: --accuracy is required for a new model/],
      [["-f", file("tiny.onnx"), "--name", "t", "--accuracy", "0.5", "--exit-head", "1=" + file("exit1.onnx")], /give the exit's accuracy/],
      [["-f", file("tiny.onnx"), "--name", "t", "--accuracy", "0.5", "--exit-head", "2=" + file("exit1.onnx") + "@0.4"], /exit head: .*"flat"|exit head/],
    ];
    for (const [args, expected] of cases) {
      const r = await run("model", "import", ...args, "--dry-run");
      expect(r.code, args.join(" ")).toBe(1);
      expect(r.stdout).toBe("");
      expect(oneErrorLine(r), args.join(" ")).toMatch(expected);
    }
    // With the input shape the dynamic file imports.
    const withShape = await run("model", "import", "-f", file("dynamic.onnx"), "--name", "t", "--accuracy", "0.5", "--input", "1x3x8x8", "--dry-run");
    expect(withShape.code).toBe(0);
  });

  it("creates the Model, uploads the file and its exit heads, then updates it keeping the user's fields; get-artifact returns the bytes", async () => {
    const bytes = tinyCnnOnnx({ classes: 10 });
    const first = await run("model", "import", "-f", file("tiny.onnx"), "--name", "tiny", "--accuracy", "0.7", "--exit-head", `1=${file("exit1.onnx")}@0.4`);
    expect(first.stderr).toBe("");
    expect(first.stdout).toBe(`model.eiaas.io/tiny imported (3 layers, sha256 ${sha256(bytes)}, 1 exit head(s))\n`);
    const created = await client.get("models", "tiny", { namespace: "demo" });
    expect(created.spec).toMatchObject({ inputBytes: 768, accuracy: 0.7, exits: [{ afterLayer: 1, accuracy: 0.4, head: { flops: 80, outputBytes: 40 } }] });
    expect(created.status.artifact).toMatchObject({ sha256: sha256(bytes), sizeBytes: bytes.length, format: "onnx" });
    // The exit's head is uploaded too, as the Model's artifact ?exit=1, its digest beside the base graph's.
    const head = exitHeadOnnx();
    expect(created.status.exitArtifacts).toEqual([expect.objectContaining({ afterLayer: 1, sha256: sha256(head), sizeBytes: head.length, format: "onnx" })]);
    const gotHead = await client.getModelArtifact("demo", "tiny", { exit: 1 });
    expect(gotHead.notModified ? "" : gotHead.sha256).toBe(sha256(head));
    if (!gotHead.notModified) gotHead.stream.resume();

    // A user sets capabilities; a new file with the same layers keeps them, the accuracy and the exit.
    await client.patch("models", "tiny", { spec: { capabilities: ["image-classification"] } }, { namespace: "demo" });
    const v2 = tinyCnnOnnx({ classes: 10, seed: 9 });
    const second = await run("model", "import", "-f", file("tiny-v2.onnx"), "--name", "tiny", "-o", "json");
    expect(second.code).toBe(0);
    const printed = JSON.parse(second.stdout);
    expect(printed.status.artifact.sha256).toBe(sha256(v2));
    const updated = await client.get("models", "tiny", { namespace: "demo" });
    expect(updated.spec).toMatchObject({ accuracy: 0.7, capabilities: ["image-classification"], exits: [{ afterLayer: 1, accuracy: 0.4 }] });
    expect(updated.metadata.uid).toBe(created.metadata.uid);

    const out = file("fetched.onnx");
    const got = await run("model", "get-artifact", "tiny", "-o", out);
    expect(got.stdout).toBe(`model.eiaas.io/tiny artifact written to ${out} (${v2.length} bytes, sha256 ${sha256(v2)})\n`);
    expect(sha256(new Uint8Array(await readFile(out)))).toBe(sha256(v2));
    const none = await run("model", "get-artifact", "nope", "-o", file("nope.onnx"));
    expect(none.code).toBe(1);
    expect(oneErrorLine(none)).toMatch(/^Error from server \(NotFound\): models "nope" not found$/);
  });
});
