// RFC 6902 and RFC 7386 as http/patch.ts applies them, at the edges hostile patches aim at.
import { describe, expect, it } from "vitest";
import { ApiError } from "./errors.js";
import { applyJsonPatch, applyMergePatch } from "./patch.js";

const doc = () => ({ metadata: { labels: { a: "1" } }, spec: { layers: ["x", "y"] } });

function refused(fn: () => unknown, code = 400): ApiError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).toStatus().code).toBe(code);
    return err as ApiError;
  }
  throw new Error("the patch was applied");
}

describe("JSON patch (RFC 6902)", () => {
  it("takes array indices as RFC 6901 writes them, and nothing else", () => {
    expect(applyJsonPatch(doc(), [{ op: "add", path: "/spec/layers/-", value: "z" }])).toMatchObject({ spec: { layers: ["x", "y", "z"] } });
    expect(applyJsonPatch(doc(), [{ op: "remove", path: "/spec/layers/1" }])).toMatchObject({ spec: { layers: ["x"] } });
    // "-" names no element to remove (it removed the first one), "01", "1e0" and " 1" are no indices.
    refused(() => applyJsonPatch(doc(), [{ op: "remove", path: "/spec/layers/-" }]));
    for (const index of ["01", "1e0", " 1", "-1", "99999999999999999999", "length"]) {
      refused(() => applyJsonPatch(doc(), [{ op: "add", path: `/spec/layers/${index}`, value: "z" }]));
    }
    refused(() => applyJsonPatch(doc(), [{ op: "replace", path: "/spec/layers/2", value: "z" }]));
  });

  it("needs value for add, replace and test, and from for move and copy", () => {
    refused(() => applyJsonPatch(doc(), [{ op: "add", path: "/spec/x" }]));
    refused(() => applyJsonPatch(doc(), [{ op: "replace", path: "/spec" }]));
    refused(() => applyJsonPatch(doc(), [{ op: "move", path: "/spec/x" }]));
    refused(() => applyJsonPatch(doc(), [{ op: "copy", path: "/spec/x", from: 5 }]));
  });

  it("refuses a move into the moved value itself, and a bad escape", () => {
    refused(() => applyJsonPatch(doc(), [{ op: "move", from: "/spec", path: "/spec/inner" }]));
    refused(() => applyJsonPatch(doc(), [{ op: "add", path: "/metadata/labels/a~2b", value: "1" }]));
    expect(applyJsonPatch(doc(), [{ op: "add", path: "/metadata/labels/a~1b~0c", value: "1" }])).toMatchObject({ metadata: { labels: { "a/b~c": "1" } } });
  });

  it("compares values in test as JSON does (member order does not matter)", () => {
    const target = { spec: { a: 1, b: { c: [1, 2] } } };
    expect(applyJsonPatch(target, [{ op: "test", path: "/spec", value: { b: { c: [1, 2] }, a: 1 } }])).toEqual(target);
    refused(() => applyJsonPatch(target, [{ op: "test", path: "/spec", value: { a: 1 } }]), 422);
  });

  it("adds constructor and prototype as own data members, and never reads through a prototype", () => {
    const out = applyJsonPatch(doc(), [
      { op: "add", path: "/metadata/labels/constructor", value: "c" },
      { op: "add", path: "/metadata/labels/prototype", value: "p" },
    ]) as { metadata: { labels: Record<string, string> } };
    expect(Object.keys(out.metadata.labels)).toEqual(["a", "constructor", "prototype"]);
    expect(Object.getPrototypeOf(out.metadata.labels)).toBe(Object.prototype);
    for (const path of ["/constructor/prototype/x", "/metadata/toString/x", "/spec/layers/constructor"]) refused(() => applyJsonPatch(doc(), [{ op: "add", path, value: 1 }]));
    for (const path of ["/__proto__", "/__proto__/x", "/metadata/__proto__", "/spec/layers/0/__proto__"]) {
      expect(refused(() => applyJsonPatch(doc(), [{ op: "add", path, value: { polluted: 1 } }])).details?.causes?.[0]?.field).toBe(path);
      refused(() => applyJsonPatch(doc(), [{ op: "copy", from: path, path: "/spec/x" }]));
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("merge patch (RFC 7386)", () => {
  it("merges constructor and prototype as plain keys and refuses __proto__ at any depth, naming it", () => {
    const out = applyMergePatch(doc(), JSON.parse('{"metadata":{"labels":{"constructor":"c","a":null}},"prototype":{"x":1}}')) as Record<string, any>;
    expect(out.metadata.labels).toEqual({ constructor: "c" });
    expect(out.prototype).toEqual({ x: 1 });
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(refused(() => applyMergePatch(doc(), JSON.parse('{"metadata":{"labels":{"__proto__":{"polluted":1}}}}'))).details?.causes?.[0]?.field).toBe("metadata.labels.__proto__");
    refused(() => applyMergePatch(doc(), JSON.parse('{"__proto__":{"polluted":1}}')));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
