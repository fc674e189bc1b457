import { describe, expect, it } from "vitest";
import type { StoredObject } from "./codec.js";
import { splitAtVersion } from "./write-sql.js";

const object = (over: Partial<StoredObject> = {}): StoredObject =>
  ({
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Task",
    metadata: { name: "t", namespace: "acme", uid: "u-1", resourceVersion: "41", generation: 1, labels: {}, annotations: {}, creationTimestamp: "2026-11-27T00:00:00.000Z" },
    spec: { nodeName: "edge-1" },
    status: { phase: "Running" },
    ...over,
  }) as StoredObject;

describe("splitAtVersion", () => {
  it.each([
    ["a plain object", object()],
    [
      "the pattern inside label values, annotation keys and a nested resourceVersion key",
      object({
        metadata: {
          ...object().metadata,
          labels: { x: '"metadata":{"resourceVersion":"' },
          annotations: { '"metadata":{"resourceVersion":"9"}': "y" },
        },
        spec: { template: { metadata: { resourceVersion: "nested" } } },
      }),
    ],
    ["an apiVersion with quotes", object({ apiVersion: 'a"metadata":{"resourceVersion":"b' } as Partial<StoredObject>)],
    ["no apiVersion or kind", object({ apiVersion: undefined, kind: undefined } as unknown as Partial<StoredObject>)],
    [
      "an Event body at the top level",
      { apiVersion: "v1", kind: "Event", metadata: { name: "e", uid: "u-2", resourceVersion: "" }, reason: "Scheduled", message: 'said "resourceVersion":"1"' } as unknown as StoredObject,
    ],
  ])("joins around the version into the object with that version: %s", (_name, obj) => {
    const { head, tail } = splitAtVersion(obj);
    const joined = JSON.parse(`${head}1234${tail}`);
    expect(joined).toEqual({ ...JSON.parse(JSON.stringify(obj)), metadata: { ...obj.metadata, resourceVersion: "1234" } });
  });
});
