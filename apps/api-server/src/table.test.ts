import { lookupKind, type KindInfo } from "@eiaas/api";
import { describe, expect, it } from "vitest";
import { humanDuration, parseAccept, parseIncludeObject, tableContentType, tableVersion, toTable, toTableEvent, translateTimestampSince, wantsTable } from "./table.js";

const KUBECTL_GET_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
const isvc = lookupKind("isvc") as KindInfo;
const node = lookupKind("edgenodes") as KindInfo;
const now = new Date("2026-11-26T12:00:00Z");

function service(name: string, createdSecondsAgo: number, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "InferenceService",
    metadata: {
      name,
      namespace: "acme",
      uid: `uid-${name}`,
      resourceVersion: "42",
      labels: { app: name },
      creationTimestamp: new Date(now.getTime() - createdSecondsAgo * 1000).toISOString(),
    },
    spec: { model: "resnet18", objective: "latency", clients: { selector: {} } },
    status: {
      phase: "Running",
      plan: { clients: [{ predicted: { latencyMs: 12.34 } }, { predicted: { latencyMs: 20 } }] },
    },
    ...extra,
  };
}

describe("Accept negotiation", () => {
  it("recognises what kubectl get sends", () => {
    expect(wantsTable(KUBECTL_GET_ACCEPT)).toBe(true);
    expect(tableVersion(KUBECTL_GET_ACCEPT)).toBe("v1");
    expect(tableVersion("application/json;as=Table;v=v1beta1;g=meta.k8s.io")).toBe("v1beta1");
    expect(tableVersion("application/json; as=Table; v=v1; g=meta.k8s.io")).toBe("v1");
  });

  it("does not print for plain JSON, YAML output or other groups", () => {
    expect(wantsTable(undefined)).toBe(false);
    expect(wantsTable("application/json")).toBe(false);
    expect(wantsTable("*/*")).toBe(false);
    expect(wantsTable("application/json;as=Table;v=v2;g=meta.k8s.io")).toBe(false);
    expect(wantsTable("application/json;as=Table;v=v1;g=other.io")).toBe(false);
    expect(wantsTable("application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io")).toBe(false);
  });

  it("parses media ranges and parameters", () => {
    expect(parseAccept('application/json;g=apidiscovery.k8s.io;v="v2", text/plain')).toEqual([
      { type: "application/json", params: { g: "apidiscovery.k8s.io", v: "v2" } },
      { type: "text/plain", params: {} },
    ]);
    expect(tableContentType()).toBe("application/json;as=Table;v=v1;g=meta.k8s.io");
  });

  it("reads includeObject", () => {
    expect(parseIncludeObject(undefined)).toBe("Metadata");
    expect(parseIncludeObject("Object")).toBe("Object");
    expect(parseIncludeObject("None")).toBe("None");
    expect(parseIncludeObject("bogus")).toBeUndefined();
  });
});

describe("humanDuration (k8s HumanDuration)", () => {
  const s = 1000;
  const m = 60 * s;
  const h = 60 * m;
  const d = 24 * h;
  it.each([
    [-3 * s, "<invalid>"],
    [-1.5 * s, "0s"],
    [0, "0s"],
    [59 * s, "59s"],
    [119 * s, "119s"],
    [2 * m, "2m"],
    [5 * m + 12 * s, "5m12s"],
    [10 * m + 30 * s, "10m"],
    [179 * m, "179m"],
    [3 * h, "3h"],
    [4 * h + 5 * m, "4h5m"],
    [13 * h, "13h"],
    [47 * h, "47h"],
    [2 * d, "2d"],
    [3 * d + 4 * h, "3d4h"],
    [8 * d, "8d"],
    [729 * d, "729d"],
    [2 * 365 * d, "2y"],
    [2 * 365 * d + 30 * d, "2y30d"],
    [9 * 365 * d + 100 * d, "9y"],
  ])("%d ms → %s", (ms, want) => {
    expect(humanDuration(ms)).toBe(want);
  });

  it("renders a missing timestamp as <unknown>", () => {
    expect(translateTimestampSince(null, now)).toBe("<unknown>");
    expect(translateTimestampSince("not a date", now)).toBe("<unknown>");
    expect(translateTimestampSince("2026-11-26T11:55:00Z", now)).toBe("5m");
  });
});

describe("toTable", () => {
  it("puts Name first, then the kind's columns with wide ones at priority 1", () => {
    const table = toTable(isvc, [], { now, listMeta: { resourceVersion: "7" } });
    expect(table.kind).toBe("Table");
    expect(table.apiVersion).toBe("meta.k8s.io/v1");
    expect(table.metadata).toEqual({ resourceVersion: "7" });
    expect(table.columnDefinitions.map((c) => c.name)).toEqual(["Name", "Model", "Phase", "Latency", "Clients", "Objective", "Age"]);
    expect(table.columnDefinitions[0]).toMatchObject({ type: "string", format: "name", priority: 0 });
    expect(table.columnDefinitions.find((c) => c.name === "Clients")?.priority).toBe(1);
    expect(table.columnDefinitions.find((c) => c.name === "Model")?.priority).toBe(0);
    expect(table.rows).toEqual([]);
  });

  it("renders cells and a PartialObjectMetadata per row by default", () => {
    const obj = service("detector", 300);
    const table = toTable(isvc, [obj], { now });
    expect(table.rows).toHaveLength(1);
    expect(table.rows[0]!.cells).toEqual(["detector", "resnet18", "Running", "20.0ms", 2, "latency", "5m"]);
    expect(table.rows[0]!.object).toEqual({ kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata });
  });

  it("honours includeObject and the Table version", () => {
    const obj = service("detector", 10);
    expect(toTable(isvc, [obj], { now, includeObject: "Object" }).rows[0]!.object).toBe(obj);
    expect(toTable(isvc, [obj], { now, includeObject: "None" }).rows[0]).not.toHaveProperty("object");
    expect(toTable(isvc, [obj], { now, version: "v1beta1" }).apiVersion).toBe("meta.k8s.io/v1beta1");
  });

  it("prints the EdgeNode columns the issue asks for (TIER, READY, CPU, AGE)", () => {
    const edge = {
      metadata: { name: "edge-1", creationTimestamp: "2026-11-24T08:00:00Z" },
      spec: { tier: "edge", hardware: "jetson-nano", capacity: { cpu: 4000 } },
      status: { conditions: [{ type: "Ready", status: "True" }], allocated: { cpu: 500, load: 0.25 } },
    };
    const table = toTable(node, [edge], { now });
    const names = table.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name);
    expect(names).toEqual(["Name", "Tier", "Ready", "CPU", "Age"]);
    const cell = (n: string) => table.rows[0]!.cells[table.columnDefinitions.findIndex((c) => c.name === n)];
    expect(cell("Tier")).toBe("edge");
    expect(cell("Ready")).toBe("True");
    expect(cell("CPU")).toBe("500/4000m");
    expect(cell("Age")).toBe("2d4h");
  });

  it("turns absent values into null cells", () => {
    const model = lookupKind("model") as KindInfo;
    const table = toTable(model, [{ metadata: { name: "m", creationTimestamp: now.toISOString() }, spec: {} }], { now });
    expect(table.rows[0]!.cells).toEqual(["m", 0, null, 0, 0, "0s"]);
  });
});

describe("toTableEvent", () => {
  it("wraps the event's object in a one-row Table carrying its resourceVersion", () => {
    const obj = service("detector", 60);
    const ev = toTableEvent(isvc, { type: "MODIFIED", object: obj }, { now });
    expect(ev.type).toBe("MODIFIED");
    const table = ev.object as ReturnType<typeof toTable>;
    expect(table.kind).toBe("Table");
    expect(table.metadata.resourceVersion).toBe("42");
    expect(table.columnDefinitions[0]!.name).toBe("Name");
    expect(table.rows.map((r) => r.cells[0])).toEqual(["detector"]);
  });

  it("passes bookmarks and errors through", () => {
    const bookmark = { type: "BOOKMARK", object: { kind: "InferenceService", metadata: { resourceVersion: "9" } } };
    expect(toTableEvent(isvc, bookmark)).toBe(bookmark);
    const error = { type: "ERROR", object: { kind: "Status", code: 410 } };
    expect(toTableEvent(isvc, error)).toBe(error);
  });
});
