// eiaas-serve as a process (`node --import tsx libs/serving/src/main.ts`, what the image runs):
// serves a segment file, exits 0 on SIGTERM, and refuses bad arguments in one line with code 2.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inferJson, randomInput, tinyCnn } from "@eiaas/testing";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = "libs/serving/src/main.ts";
const cnn = tinyCnn();
let dir: string;

const once = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ["--import", "tsx", MAIN, ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env } });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eiaas-serve-main-"));
  await writeFile(join(dir, "whole.onnx"), cnn.whole);
  await writeFile(join(dir, "garbage.onnx"), "not a model");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("eiaas-serve", () => {
  it("serves the segment file on EIAAS_PORT-less port 0, logs one JSON line, and exits 0 on SIGTERM", { timeout: 60_000 }, async () => {
    const child = spawn(process.execPath, ["--import", "tsx", MAIN, "--model", join(dir, "whole.onnx"), "--port", "0", "--host", "127.0.0.1", "--node", "n1", "--layers", "1-3"], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    const first = await new Promise<Record<string, unknown>>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(JSON.parse(out.split("\n")[0]!));
      });
      void exited.then((code) => reject(new Error(`exited ${code}`)));
    });
    expect(first).toMatchObject({ msg: "serving", model: "input [1,3,16,16] → logits [1,10]", threads: 1 });
    const r = await inferJson(first.port as number, cnn.inputShape, randomInput(768));
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString()).timings).toMatchObject({ node: "n1", layers: { from: 1, to: 3 } });
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it.each([
    ["no model", [], {}, "eiaas-serve: --model FILE (or EIAAS_SEGMENT_FILE) is required"],
    ["a missing file", ["--model", "/nonexistent.onnx"], {}, "eiaas-serve: cannot read the segment /nonexistent.onnx: ENOENT"],
    ["a bad threshold", ["--model", "x"], { EIAAS_EXIT_THRESHOLD: "2" }, `eiaas-serve: --exit-threshold: "2" is not a number between 0 and 1`],
    ["a bad port", ["--model", "x", "--port", "http"], {}, `eiaas-serve: --port: "http" is not an integer between 0 and 65535`],
    ["bad layers", ["--model", "x", "--layers", "3"], {}, `eiaas-serve: --layers: "3" is not FROM-TO`],
    [
      "a cache without its TTL",
      ["--model", "x", "--cache-max-entries", "10"],
      {},
      "eiaas-serve: caching needs both --cache-max-entries and --cache-ttl (EIAAS_CACHE_MAX_ENTRIES, EIAAS_CACHE_TTL_SECONDS)",
    ],
    ["a bad filter threshold", ["--model", "x"], { EIAAS_INPUT_FILTER_THRESHOLD: "-1" }, `eiaas-serve: --input-filter: "-1" is not a number in [0, 1000000]`],
    ["an unknown flag", ["--modle", "x"], {}, /^eiaas-serve: Unknown option '--modle'.*\(see --help\)$/],
  ] as const)("%s: one line, exit code 2", (_what, args, env, message) => {
    const r = once([...args], env);
    expect(r.stderr.trim()).toMatch(typeof message === "string" ? new RegExp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) : message);
    expect(r.status).toBe(2);
  });

  it("a file that is not ONNX: one line, exit code 2", () => {
    const r = once(["--model", join(dir, "garbage.onnx")]);
    expect(r.stderr.trim()).toMatch(/^eiaas-serve: cannot load the segment: [^\n]+$/);
    expect(r.status).toBe(2);
  });

  it("--help", () => {
    const r = once(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("usage: eiaas-serve --model FILE");
  });
});
