// `npm run models:reference` as a child process: files, determinism, refusals.
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { MODELS, exitHead } from "./reference.js";

const run = promisify(execFile);
const root = join(import.meta.dirname, "../..");
const tsx = join(root, "node_modules/.bin/tsx");
const dir = mkdtempSync(join(tmpdir(), "eiaas-models-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Child processes on a shared machine: more room than the suite's 30 s default.
describe("models:reference", { timeout: 120_000 }, () => {
  it("writes the chosen models and their exit heads, the same bytes as the generator's for the seed", async () => {
    await run(tsx, ["scripts/models/main.ts", "--out", dir, "--only", "mobilenetv2", "--seed", "5"], { cwd: root });
    expect(readdirSync(dir).sort()).toEqual(["mobilenetv2.exit14.onnx", "mobilenetv2.exit7.onnx", "mobilenetv2.onnx"]);
    expect(Buffer.from(readFileSync(join(dir, "mobilenetv2.onnx"))).equals(Buffer.from(MODELS.mobilenetv2({ seed: 5 })))).toBe(true);
    expect(Buffer.from(readFileSync(join(dir, "mobilenetv2.exit7.onnx"))).equals(Buffer.from(exitHead("mobilenetv2-exit7", [32, 28, 28], { seed: 5 })))).toBe(true);
  });

  it("refuses unknown models and bad seeds with one line and exit code 1", async () => {
    for (const args of [["--only", "resnet50"], ["--seed", "-1"]]) {
      const failed = await run(tsx, ["scripts/models/main.ts", "--out", dir, ...args], { cwd: root }).catch((e: { code: number; stderr: string }) => e);
      expect(failed).toMatchObject({ code: 1 });
      expect((failed as { stderr: string }).stderr.trim()).toMatch(/^models:reference: [^\n]+$/);
    }
  });
});
