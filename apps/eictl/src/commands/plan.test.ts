import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const DATA = "apps/eictl/src/commands/plan.testdata";

/** Runs `eictl plan ...` as a child process from the repository root (node with tsx's loader, as `npx tsx` does). */
function eictl(...args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", "apps/eictl/src/main.ts", "plan", ...args], { cwd: ROOT, encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Each test starts node with tsx once or twice; allow for a busy machine.
describe("eictl plan", { timeout: 120_000 }, () => {
  it("plans issue 3's worked case: split 2, 99 ms, 135 mJ, 200000 bytes, edge-device (-o json)", () => {
    const r = eictl("-f", `${DATA}/ok/worked-case.yaml`, "-o", "json");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list).toMatchObject({ apiVersion: "v1", kind: "List" });
    expect(list.items).toHaveLength(1);
    const isvc = list.items[0];
    expect(isvc).toMatchObject({ kind: "InferenceService", metadata: { name: "detect", namespace: "default" } });
    expect(isvc.status.phase).toBe("Scheduled");
    expect(isvc.status.conditions).toEqual([expect.objectContaining({ type: "Scheduled", status: "True", reason: "Scheduled" })]);
    expect(isvc.status.plan.clients).toEqual([
      {
        client: "camera-1",
        architecture: "edge-device",
        split: 2,
        headNode: "camera-1",
        tailNode: "edge-k40",
        variant: "base",
        exitAfterLayer: 5,
        predicted: { latencyMs: 99, deviceEnergyMj: 135, accuracy: 0.9, uplinkBytes: 200000 },
      },
    ]);
  });

  it("reads a directory, JSON Lists and several files; Unschedulable workloads still exit 0 (-o yaml)", () => {
    const r = eictl("-f", `${DATA}/ok`, "-o", "yaml");
    expect(r.code).toBe(0);
    const items = parse(r.stdout).items as any[];
    // files in name order: infeasible.json (a List), then worked-case.yaml
    expect(items.map((i) => `${i.kind}/${i.metadata.name}:${i.status.phase}`)).toEqual(["InferenceService/too-fast:Pending", "TrainingJob/fl:Pending", "InferenceService/detect:Scheduled"]);
    const tooFast = items[0].status.conditions[0];
    expect(tooFast).toMatchObject({ type: "Scheduled", status: "False", reason: "Unschedulable" });
    expect(tooFast.message).toContain("client camera-1: slo (fastest plan 99 ms > 50 ms)");
    expect(items[0].status.plan).toBeUndefined();
    expect(items[1].status.conditions[0].message).toContain("participants");
  });

  it("prints a table per client with aligned columns", () => {
    const r = eictl("-f", `${DATA}/ok/worked-case.yaml`);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^NAMESPACE\s+WORKLOAD\s+STATUS\s+CLIENT\s+ARCHITECTURE\s+SPLIT\s+HEAD\s+TAIL\s+EXIT\s+VARIANT\s+LATENCY\(MS\)\s+ENERGY\(MJ\)\s+ACCURACY$/);
    expect(lines[1]!.split(/\s+/)).toEqual(["default", "isvc/detect", "Scheduled", "camera-1", "edge-device", "2", "camera-1", "edge-k40", "5", "base", "99", "135", "0.9"]);
    expect(lines[1]!.indexOf("edge-device")).toBe(lines[0]!.indexOf("ARCHITECTURE"));
  });

  it("rejects an invalid file with one line naming the file and the field, exit 1", () => {
    const r = eictl("-f", `${DATA}/ok/worked-case.yaml`, "-f", `${DATA}/bad.yaml`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`error: ${DATA}/bad.yaml: spec.layers[0].flops: Invalid input: expected number, received string\n`);
  });

  it("rejects a missing file and an unknown output format", () => {
    const missing = eictl("-f", `${DATA}/nope.yaml`);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split("\n")).toHaveLength(1);
    expect(missing.stderr).toMatch(/^error: .*nope\.yaml/);
    const format = eictl("-f", `${DATA}/ok/worked-case.yaml`, "-o", "xml");
    expect(format.code).toBe(1);
    expect(format.stderr).toMatch(/^error: /);
  });
});
