/**
 * kubectl sends the self reviews of `kubectl auth` (built-in API types) as Kubernetes protobuf
 * (`application/vnd.kubernetes.protobuf`), not JSON. These are three small messages: this reads
 * the fields the reviews use into their JSON shape, and nothing else. Answers stay JSON (kubectl
 * accepts it).
 */
import getRawBody from "raw-body";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import { ApiError } from "./errors.js";

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"
const MAX_BYTES = 64 * 1024;

type Fields = Map<number, Array<Buffer | number>>;

/** One level of a protobuf message: field number → values (length-delimited as Buffers, varints as numbers). */
function readFields(buf: Buffer): Fields {
  const fields: Fields = new Map();
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (i >= buf.length) throw new ApiError("BadRequest", "the protobuf body is truncated");
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return v;
    }
    throw new ApiError("BadRequest", "the protobuf body has a varint too long");
  };
  while (i < buf.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value: Buffer | number;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      if (i + len > buf.length) throw new ApiError("BadRequest", "the protobuf body is truncated");
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
      continue;
    } else throw new ApiError("BadRequest", `the protobuf body has an unsupported wire type ${wire}`);
    fields.set(field, [...(fields.get(field) ?? []), value]);
  }
  return fields;
}

const bytes = (f: Fields, n: number): Buffer | undefined => {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v : undefined;
};
const text = (f: Fields, n: number): string | undefined => bytes(f, n)?.toString("utf8");

/** The JSON shape of a SelfSubjectAccessReview / SelfSubjectRulesReview / SelfSubjectReview body. */
export function decodeReview(body: Buffer): Record<string, unknown> {
  if (!body.subarray(0, 4).equals(MAGIC)) throw new ApiError("BadRequest", "the protobuf body lacks the k8s envelope");
  const unknown = readFields(body.subarray(4));
  const kind = text(readFields(bytes(unknown, 1) ?? Buffer.alloc(0)), 2) ?? "";
  const object = readFields(bytes(unknown, 2) ?? Buffer.alloc(0));
  const spec = readFields(bytes(object, 2) ?? Buffer.alloc(0));
  if (kind === "SelfSubjectAccessReview") {
    const ra = bytes(spec, 1);
    if (!ra) return { kind, spec: bytes(spec, 2) ? { nonResourceAttributes: {} } : {} };
    const a = readFields(ra);
    const names = ["namespace", "verb", "group", "version", "resource", "subresource", "name"];
    const resourceAttributes: Record<string, string> = {};
    names.forEach((name, idx) => {
      const v = text(a, idx + 1);
      if (v !== undefined) resourceAttributes[name] = v;
    });
    return { kind, spec: { resourceAttributes } };
  }
  if (kind === "SelfSubjectRulesReview") return { kind, spec: { namespace: text(spec, 1) ?? "" } };
  return { kind };
}

/** Reads a protobuf review body into `req.body` (JSON bodies are the JSON parser's). */
export function reviewProtobufParser(): RequestHandler {
  return (req: Request, _res: Response, next: NextFunction) => {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/vnd.kubernetes.protobuf") return next();
    getRawBody(req, { limit: MAX_BYTES }).then(
      (raw) => {
        try {
          req.body = decodeReview(raw);
          next();
        } catch (err) {
          next(err);
        }
      },
      () => next(new ApiError("BadRequest", `the protobuf body could not be read (at most ${MAX_BYTES} bytes)`)),
    );
  };
}
