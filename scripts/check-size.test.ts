import { describe, expect, it } from "vitest";
import { isProduction, MAX_FILE_LINES, MAX_FUNCTION_LINES, measureSource } from "./check-size.js";

const body = (n: number) => Array.from({ length: n }, (_, i) => `  const v${i} = ${i};`).join("\n");

describe("check-size", () => {
  it.each([
    ["apps/api-server/src/server.ts", true],
    ["libs/queue/src/backend-contract.ts", true],
    ["libs/queue/src/redis-backend.test.ts", false],
    ["libs/testing/src/redis.ts", false],
    ["libs/db/src/generated/client/index.ts", false],
    ["apps/scheduler/src/testing/fixtures.ts", false],
    ["apps/api-server/src/test-harness.ts", false],
    ["libs/client/src/server-test-harness.ts", false],
    ["scripts/check-size.ts", false],
    ["bench/api.bench.ts", false],
    ["libs/api/src/types.d.ts", false],
  ])("isProduction(%s) is %s", (path, expected) => {
    expect(isProduction(path)).toBe(expected);
  });

  // Lines counted from the first line of the function to its closing brace.
  it.each([
    ["declaration at the limit", `function f() {\n${body(MAX_FUNCTION_LINES - 2)}\n}\n`, []],
    ["declaration one over", `function f() {\n${body(MAX_FUNCTION_LINES - 1)}\n}\n`, [["f", MAX_FUNCTION_LINES + 1]]],
    ["arrow bound to a const", `export const g = async () => {\n${body(MAX_FUNCTION_LINES)}\n};\n`, [["g", MAX_FUNCTION_LINES + 2]]],
    ["method names its class", `class C {\n  m() {\n${body(MAX_FUNCTION_LINES)}\n  }\n}\n`, [["C.m", MAX_FUNCTION_LINES + 2]]],
    ["callback names its call", `describe("x", () => {\n${body(MAX_FUNCTION_LINES)}\n});\n`, [["(callback of describe)", MAX_FUNCTION_LINES + 2]]],
    [
      "nested long function counts in its parent too",
      `function outer() {\n  function inner() {\n${body(MAX_FUNCTION_LINES)}\n  }\n}\n`,
      [
        ["outer", MAX_FUNCTION_LINES + 4],
        ["inner", MAX_FUNCTION_LINES + 2],
      ],
    ],
    ["overload signature without body", `export function h(a: string): void;\n`, []],
  ])("functions: %s", (_name, src, expected) => {
    const r = measureSource("x.ts", src);
    expect(r.longFunctions.map((f) => [f.name, f.lines])).toEqual(expected);
  });

  it.each([
    ["at the limit", MAX_FILE_LINES, 0],
    ["one over", MAX_FILE_LINES + 1, 1],
  ])("files: %s", (_name, lines, expected) => {
    const src = Array.from({ length: lines }, (_, i) => `export const c${i} = ${i};`).join("\n") + "\n";
    expect(measureSource("x.ts", src).longFiles).toHaveLength(expected);
  });

  it.each([
    ["double cast", "const a = b as unknown as string;", 1],
    ["single cast", "const a = b as string;", 0],
    ["unknown alone", "const a = b as unknown;", 0],
    ["two on one line", "f(a as unknown as X, b as unknown as Y);", 2],
    ["in a comment", "// a as unknown as X", 0],
  ])("casts: %s", (_name, src, expected) => {
    expect(measureSource("x.ts", src).unknownCasts).toHaveLength(expected);
  });
});
