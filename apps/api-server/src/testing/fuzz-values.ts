// Test-only: the seeded randomness and the hostile pieces (JSON values, keys, pointers, path
// segments, query strings, encodings) the API fuzz test (fuzz.test.ts) builds its requests from.
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";

/** mulberry32: a small seeded PRNG, so request i of a seed is always the same request. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** The generator of request `i` of `seed` (independent of every other request). */
export function requestRng(seed: number, i: number): Rng {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(i + 1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  return new Rng(h ^ (h >>> 15));
}

const deep = (n: number, open: string, close: string, leaf = "1") => open.repeat(n) + leaf + close.repeat(n);

/** JSON texts no client should be able to hurt the server with (raw: some cannot come from JSON.stringify). */
export const HOSTILE_JSON: readonly string[] = [
  '"\\u0000"',
  '"a\\u0000b"',
  '"\\ud800"',
  '"x\\udc00"',
  '"\\ud83d\\ude00"',
  '"\\u202e\\u0301"',
  '"é"',
  "1e308",
  "1e400",
  "-1e400",
  "-0",
  "0.5",
  "-1",
  "9007199254740993",
  "99999999999999999999999999999",
  "2147483648",
  "true",
  "null",
  "[]",
  "{}",
  '""',
  '" "',
  `"${"x".repeat(5000)}"`,
  '{"__proto__":{"polluted":"yes"}}',
  '{"\\u005f_proto__":{"polluted":"yes"}}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"prototype":{"polluted":"yes"}}',
  '["__proto__","constructor"]',
  '{"a\\u0000":1}',
  '{"":1}',
  deep(150, "[", "]"),
  deep(10_000, '{"a":', "}"),
  deep(10_000, "[", "]"),
  `[${Array.from({ length: 2000 }, () => "0").join(",")}]`,
];

/** Strings (raw JSON) that keep a string field a string: empty, huge, broken, look-alikes. */
export const HOSTILE_STRINGS: readonly string[] = [
  '""',
  '" "',
  '"abc"',
  '"\\u0000"',
  '"a\\u0000"',
  '"\\ud800"',
  `"${"x".repeat(5000)}"`,
  '"-1"',
  '"0"',
  '"99999999999999999999999"',
  '"2c3f4b5a-zzzz-4000-8000-000000000001"',
  '"00000000-0000-0000-0000-000000000000"',
  '"../.."',
  '"%00"',
  '"a b"',
  '"UPPER"',
  '"__proto__"',
  '"constructor"',
  '"9999-99-99T99:99:99Z"',
  '"1970-01-01T00:00:00Z"',
  '"é"',
];

/** Numbers (raw JSON) that keep a number field a number: edges of every integer type and float. */
export const HOSTILE_NUMBERS: readonly string[] = [
  "0",
  "-1",
  "-0",
  "0.5",
  "1e308",
  "-1e308",
  "1e-308",
  "2147483647",
  "2147483648",
  "-2147483649",
  "9007199254740993",
  "99999999999999999999999",
  "1e400",
];

/** Object keys to slip into a body (as raw JSON strings). */
export const HOSTILE_KEYS: readonly string[] = [
  '"__proto__"',
  '"\\u005f_proto__"',
  '"constructor"',
  '"prototype"',
  '"toString"',
  '"hasOwnProperty"',
  '"valueOf"',
  '""',
  '"a.b"',
  '"a\\u0000"',
  '"\\ud800"',
  '"apiVersion"',
  '"metadata"',
];

/** JSON pointers for JSON patches: prototypes, escapes, indices, and the RFC's edge cases. */
export const HOSTILE_POINTERS: readonly string[] = [
  "/__proto__/polluted",
  "/__proto__",
  "/constructor/prototype/polluted",
  "/constructor",
  "/prototype/polluted",
  "/metadata/__proto__/polluted",
  "/metadata/labels/__proto__",
  "/metadata/labels/constructor",
  "/metadata/labels/prototype",
  "/metadata/labels/toString",
  "/metadata/labels/a~1b",
  "/metadata/labels/a~0b",
  "/metadata/labels/a~2b",
  "/metadata/labels/~",
  "/metadata/constructor/prototype/polluted",
  "/spec/__proto__/polluted",
  "/spec/constructor/prototype/polluted",
  "/status/__proto__/polluted",
  "/status/constructor/prototype/polluted",
  "/status/conditions/0/__proto__/polluted",
  "/status/conditions/-",
  "/status/conditions/0",
  "/status/conditions/99999999999999999999",
  "/status/conditions/01",
  "/status/conditions/-1",
  "/status/conditions/length",
  "/spec/layers/-",
  "/spec/layers/0",
  "/spec/layers/1e3",
  "/spec/layers/99999999999999999999",
  "/spec/layers/ 1",
  "/spec/layers/0/__proto__",
  "/metadata/resourceVersion",
  "/metadata/name",
  "/metadata/namespace",
  "/metadata/finalizers/-",
  "/metadata/annotations/x",
  "/spec",
  "/status",
  "/status/phase",
  "",
  "/",
  "//",
  "spec",
  "~1",
];

/**
 * Path segments (already in URL form): unknown, odd, prototype names and broken encodings. Raw
 * bytes past ASCII are not among them: Node's HTTP parser refuses them before the app runs.
 */
export const HOSTILE_SEGMENTS: readonly string[] = [
  "%00",
  "a%00b",
  "%E0%A4%A",
  "%zz",
  "%",
  "%C3%28",
  "%ED%A0%80",
  "%2F",
  "a%2Fb",
  "..",
  "%2e%2e",
  ".",
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "%C3%A9",
  "%F0%9F%98%80",
  "UPPER",
  "a".repeat(300),
  "-",
  "~",
  "'",
  '"',
  "%20",
  "*",
];

/** Query-string parameters (URL form); several may be combined. */
export const HOSTILE_QUERY: readonly string[] = [
  "limit=1",
  "limit=0",
  "limit=-1",
  "limit=abc",
  "limit=1e3",
  "limit=100000000000000000000",
  "limit=9223372036854775807",
  "limit=9223372036854775808",
  "limit=1&limit=2",
  "continue=garbage",
  `continue=${Buffer.from('{"ns":"a\\u0000","name":"b","rv":"1"}').toString("base64url")}`,
  `continue=${Buffer.from('{"ns":"","name":"","rv":"99999999999999999999999"}').toString("base64url")}`,
  `continue=${Buffer.from('{"ns":1}').toString("base64url")}`,
  `continue=${Buffer.from('{"__proto__":{"polluted":1},"ns":"a","name":"b","rv":"1"}').toString("base64url")}`,
  "resourceVersion=0",
  "resourceVersion=1",
  "resourceVersion=abc",
  "resourceVersion=-1",
  "resourceVersion=99999999999999999999999",
  "resourceVersion=9223372036854775807",
  "resourceVersionMatch=NotOlderThan",
  "labelSelector=app%3Ddemo",
  "labelSelector=a%20in%20(b%2Cc)",
  "labelSelector=!a",
  "labelSelector=%3D%3D%3D",
  "labelSelector=a%3Db%00",
  "labelSelector=__proto__%3Dx",
  "labelSelector=constructor",
  "labelSelector=a%20in%20(",
  "labelSelector=%zz",
  `labelSelector=${"a,".repeat(2000)}a`,
  "labelSelector=a&labelSelector=b",
  "fieldSelector=metadata.name%3Dx",
  "fieldSelector=spec.nodeName%3Dedge-1",
  "fieldSelector=status.phase!%3DRunning",
  "fieldSelector=metadata.__proto__%3Dx",
  "fieldSelector=bogus%3D1",
  "fieldSelector=%3D",
  "dryRun=All",
  "dryRun=bogus",
  "dryRun=All&dryRun=All",
  "dryRun=All&dryRun=x",
  "includeObject=Object",
  "includeObject=None",
  "includeObject=bogus",
  "allowWatchBookmarks=true",
  "timeoutSeconds=0",
  "timeoutSeconds=99999999999999999999",
  "timeoutSeconds=-1",
  "tailLines=2",
  "tailLines=99999999999999999999",
  "tailLines=-1",
  "client=edge-1",
  "client=%00",
  "capability=image-classification",
  "pretty=true",
  "%zz=1",
  "a=%zz",
  "__proto__=1",
  "__proto__[polluted]=1",
  "constructor=1",
  "%00=%00",
  "=",
  "&&&",
];

/** Accept headers: JSON, Tables of every version, and nonsense. */
export const ACCEPTS: readonly string[] = [
  "application/json",
  "application/json;as=Table;v=v1;g=meta.k8s.io",
  "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
  "application/json;as=Table;v=v9;g=meta.k8s.io",
  "application/json;as=Table;v=v1;g=meta.k8s.io, application/json",
  "application/vnd.kubernetes.protobuf",
  "*/*",
  "text/html",
  ";;;",
  "application/json;as=;v=;g=",
];

/** Content types, right and wrong. */
export const CONTENT_TYPES: readonly string[] = [
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=latin1",
  "application/json; charset=utf-16",
  "APPLICATION/JSON",
  "application/merge-patch+json",
  "application/json-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
  "application/yaml",
  "text/plain",
  "multipart/form-data; boundary=x",
  "application/x-www-form-urlencoded",
  ";",
  "",
];

/** traceparent headers (the API joins a caller's trace): valid and broken. */
export const TRACEPARENTS: readonly string[] = [
  "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  "00-00000000000000000000000000000000-0000000000000000-01",
  "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  "garbage",
  "00-zz-zz-zz",
  "",
];

/** A body's bytes under a Content-Encoding: the right encoding, a truncated one, or garbage. */
export function encodeBody(rng: Rng, body: Buffer): { body: Buffer; encoding?: string } {
  const r = rng.int(10);
  if (r < 6) return { body };
  const encoding = rng.pick(["gzip", "deflate", "br", "x-gzip", "identity", "zstd", "compress", "gzip, br", "GZIP"]);
  const encoded = encoding === "deflate" ? deflateSync(body) : encoding === "br" ? brotliCompressSync(body) : encoding.toLowerCase().includes("gzip") ? gzipSync(body) : body;
  if (r === 6) return { body: encoded.subarray(0, Math.max(1, encoded.length - 1 - rng.int(8))), encoding };
  if (r === 7) return { body: Buffer.from("not compressed at all"), encoding };
  return { body: encoded, encoding };
}

let bomb: Buffer | undefined;

/** 4 MiB of JSON in a few KB of gzip (over any body limit once inflated). */
export function gzipBomb(): Buffer {
  bomb ??= gzipSync(Buffer.from(`{"a":"${"0".repeat(4 * 1024 * 1024)}"}`));
  return bomb;
}

/** Bytes that are not UTF-8 inside an otherwise plausible JSON body. */
export function invalidUtf8(json: string): Buffer {
  const cut = Math.max(1, json.indexOf('"', 2) + 1);
  return Buffer.concat([Buffer.from(json.slice(0, cut)), Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xed, 0xa0, 0x80]), Buffer.from(json.slice(cut))]);
}
