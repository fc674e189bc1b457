import { describe, expect, it } from "vitest";
import { assertNodeName, nodeKeyPattern, nodeOfQueue, nodeQueueName, taskJobId } from "./names.js";
import { InvalidPayloadError, parseScheduleItem, parseTaskJobPayload, scheduleItemKey } from "./payloads.js";

const good = {
  namespace: "acme",
  name: "cam-1-serve",
  uid: "5a3c",
  attempt: 2,
  spec: {
    nodeName: "edge-1",
    role: "tail",
    layers: { from: 3, to: 8 },
    template: { image: "eiaas/infer:1", command: ["serve", "--port=8080"], env: { A: "1" } },
    env: { EIAAS_LAYERS: "3-8" },
    resources: { cpu: 500, memoryMiB: 256, gpu: 0 },
    load: 0.25,
    priority: -3,
    expectedRunMs: 1200,
  },
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
    const minimal = parseTaskJobPayload({ namespace: "a", name: "t", uid: "u", attempt: 0, spec: { nodeName: "n", role: "serve" } });
    expect(minimal).toMatchObject({ spec: { template: {}, env: {}, resources: { cpu: 0, memoryMiB: 0, gpu: 0 } }, traceContext: {} });
    expect(minimal.spec).not.toHaveProperty("expectedRunMs");
    expect(minimal.spec).not.toHaveProperty("load");
  });

  it("drops unknown fields so newer producers do not break older agents", () => {
    const parsed = parseTaskJobPayload({ ...good, futureField: 1, spec: { ...good.spec, futureSpecField: 2 } });
    expect(parsed).not.toHaveProperty("futureField");
    expect(parsed.spec).not.toHaveProperty("futureSpecField");
  });

  it("checks the spec's typed fields as the API does, and requires the node", () => {
    const fields = (spec: Record<string, unknown>) => {
      try {
        parseTaskJobPayload({ ...good, spec: { ...good.spec, ...spec } });
      } catch (e) {
        return (e as InvalidPayloadError).issues.map((i) => i.field).sort();
      }
      return [];
    };
    expect(fields({ load: "0.5", priority: 1.5, expectedRunMs: -1 })).toEqual(["spec.expectedRunMs", "spec.load", "spec.priority"]);
    expect(fields({ load: -0.1, priority: 2 ** 31 })).toEqual(["spec.load", "spec.priority"]);
    expect(fields({ nodeName: undefined })).toEqual(["spec.nodeName"]);
    expect(() => parseTaskJobPayload({ ...good, spec: undefined })).toThrow(/spec: /);
  });

  it("rejects malformed payloads with an error naming every bad field", () => {
    let err: unknown;
    try {
      parseTaskJobPayload({ ...good, attempt: -1, spec: { ...good.spec, role: "boss", template: { image: 3 } } }, "5a3c.2");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidPayloadError);
    const e = err as InvalidPayloadError;
    expect(e.jobId).toBe("5a3c.2");
    expect(e.issues.map((i) => i.field).sort()).toEqual(["attempt", "spec.role", "spec.template.image"]);
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
