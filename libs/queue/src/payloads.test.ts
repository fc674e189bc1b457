import { describe, expect, it } from "vitest";
import { assertNodeName, nodeKeyPattern, nodeOfQueue, nodeQueueName, taskJobId } from "./names.js";
import { InvalidPayloadError, parseScheduleItem, parseTaskJobPayload, scheduleItemKey } from "./payloads.js";

const good = {
  namespace: "acme",
  name: "cam-1-serve",
  uid: "5a3c",
  attempt: 2,
  nodeName: "edge-1",
  role: "tail",
  layers: { from: 3, to: 8 },
  template: { image: "eiaas/infer:1", command: ["serve", "--port=8080"], env: { A: "1" } },
  env: { EIAAS_LAYERS: "3-8" },
  resources: { cpu: 500, memoryMiB: 256, gpu: 0 },
  expectedRunMs: 1200,
  owner: { kind: "InferenceService", name: "cam", uid: "9f" },
  traceContext: { traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
};

describe("names", () => {
  it("builds queue names and job ids", () => {
    expect(nodeQueueName("edge-1")).toBe("node.edge-1");
    expect(nodeOfQueue("node.edge-1")).toBe("edge-1");
    expect(nodeOfQueue("schedule")).toBeUndefined();
    expect(taskJobId("5a3c", 0)).toBe("5a3c.0");
    expect(nodeKeyPattern("edge-1")).toBe("bull:node.edge-1:*");
  });

  it("rejects node names that would break queue names or widen ACL patterns", () => {
    for (const bad of ["", "Edge", "a:b", "a*", "a?", "a[b]", "-a", "a b"]) {
      expect(() => assertNodeName(bad), bad).toThrow(/invalid node name/);
    }
    expect(() => taskJobId("", 1)).toThrow();
    expect(() => taskJobId("u", -1)).toThrow();
    expect(() => taskJobId("u", 1.5)).toThrow();
  });
});

describe("task job payload", () => {
  it("parses a full payload and applies defaults to a minimal one", () => {
    expect(parseTaskJobPayload(good)).toEqual(good);
    const minimal = parseTaskJobPayload({ namespace: "a", name: "t", uid: "u", attempt: 0, nodeName: "n", role: "serve" });
    expect(minimal).toMatchObject({ template: {}, env: {}, resources: { cpu: 0, memoryMiB: 0, gpu: 0 }, traceContext: {} });
    expect(minimal.expectedRunMs).toBeUndefined();
  });

  it("drops unknown fields so newer producers do not break older agents", () => {
    expect(parseTaskJobPayload({ ...good, futureField: 1 })).not.toHaveProperty("futureField");
  });

  it("rejects malformed payloads with an error naming every bad field", () => {
    let err: unknown;
    try {
      parseTaskJobPayload({ ...good, attempt: -1, role: "boss", template: { image: 3 } }, "5a3c.2");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidPayloadError);
    const e = err as InvalidPayloadError;
    expect(e.jobId).toBe("5a3c.2");
    expect(e.issues.map((i) => i.field).sort()).toEqual(["attempt", "role", "template.image"]);
    expect(e.message).toMatch(/^invalid node job payload \(job 5a3c\.2\): /);
    for (const bad of [null, "x", 42, [], {}]) expect(() => parseTaskJobPayload(bad)).toThrow(InvalidPayloadError);
  });
});

describe("schedule items", () => {
  it("parses items and derives the coalescing key", () => {
    const item = parseScheduleItem({ kind: "TrainingJob", namespace: "acme", name: "fl", reason: "created" });
    expect(scheduleItemKey(item)).toBe("TrainingJob.acme.fl");
    expect(() => parseScheduleItem({ kind: "Pod", namespace: "acme", name: "x" })).toThrow(/kind/);
  });
});
