// The serving program on a real socket with real onnxruntime sessions: answers equal onnxruntime's
// own run of the same model on the same input (JSON and binary), exits by threshold, and hostile
// requests answered 4xx while the server keeps serving.
import { connect, createServer as createNetServer, type AddressInfo, type Socket } from "node:net";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServing, type ServingServer } from "./server.js";
import { topConfidence } from "./pipeline.js";
import { call, floats, inferBinary, inferJson, maxDiff, randomInput, tinyCnn } from "@eiaas/testing";
import { BINARY_TYPE, JSON_TYPE, SHAPE_HEADER } from "./wire.js";

const cnn = tinyCnn();

async function waitUntil(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}
const input = randomInput(3 * 16 * 16);

/** onnxruntime's own answer for `bytes` on `data`. */
async function reference(bytes: Uint8Array, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", data, shape) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe("serving a whole model", () => {
  let server: ServingServer;
  let expected: Float32Array;
  beforeAll(async () => {
    server = await startServing({ model: cnn.whole, node: "edge-1", layers: { from: 1, to: 3 } });
    expected = await reference(cnn.whole, input, cnn.inputShape);
  });
  afterAll(() => server?.close());

  it("answers a binary tensor with onnxruntime's output, its shape and timings", async () => {
    const r = await inferBinary(server.port, cnn.inputShape, input);
    expect(r.status).toBe(200);
    expect(r.headers["content-type"]).toBe(BINARY_TYPE);
    expect(r.headers[SHAPE_HEADER]).toBe("1,10");
    expect(maxDiff(floats(r.body), expected)).toBeLessThan(1e-6);
    const timings = JSON.parse(r.headers["x-eiaas-timings"] as string);
    expect(timings).toMatchObject({ node: "edge-1", layers: { from: 1, to: 3 } });
    for (const k of ["queueMs", "deserializeMs", "runMs", "serializeMs", "totalMs"]) expect(typeof timings[k], k).toBe("number");
    expect(timings.totalMs).toBeGreaterThanOrEqual(timings.runMs);
    expect(r.headers["server-timing"]).toMatch(/^receive;dur=[\d.]+, queue;dur=[\d.]+, deserialize;dur=[\d.]+, run;dur=[\d.]+, serialize;dur=[\d.]+, total;dur=[\d.]+$/);
    expect(r.headers["x-eiaas-exit"]).toBeUndefined();
  });

  it("answers JSON with JSON, and each encoding with the other when Accept asks", async () => {
    const json = await inferJson(server.port, cnn.inputShape, input);
    expect(json.status).toBe(200);
    const doc = JSON.parse(json.body.toString());
    expect(doc.shape).toEqual([1, 10]);
    expect(maxDiff(doc.data, expected)).toBeLessThan(1e-6);
    expect(doc.timings.runMs).toEqual(expect.any(Number));

    const jsonToBinary = await inferJson(server.port, cnn.inputShape, input, BINARY_TYPE);
    expect(jsonToBinary.headers["content-type"]).toBe(BINARY_TYPE);
    expect(maxDiff(floats(jsonToBinary.body), expected)).toBeLessThan(1e-6);
    const binaryToJson = await inferBinary(server.port, cnn.inputShape, input, `${JSON_TYPE}, */*;q=0.1`);
    expect(maxDiff(JSON.parse(binaryToJson.body.toString()).data, expected)).toBeLessThan(1e-6);
  });

  it("GET /healthz says what it serves", async () => {
    const r = await call(server.port, { method: "GET", path: "/healthz" });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ status: "ok", model: "input [1,3,16,16] → logits [1,10]", input: { name: "input", dims: [1, 3, 16, 16] } });
  });

  it("GET /v1/timings?after=N: the stage's own work (decode, run, encode) of computed answers since number N, for a runtime that does not see the answers", async () => {
    const before = JSON.parse((await call(server.port, { method: "GET", path: "/v1/timings" })).body.toString());
    expect(before).toEqual({ seq: expect.any(Number), workMs: expect.any(Array) });
    const replies = [await inferBinary(server.port, cnn.inputShape, input), await inferBinary(server.port, cnn.inputShape, input)];
    const r = await call(server.port, { method: "GET", path: `/v1/timings?after=${before.seq}` });
    expect(r.status).toBe(200);
    const got = JSON.parse(r.body.toString());
    expect(got.seq).toBe(before.seq + 2);
    const work = (t: { deserializeMs: number; runMs: number; exitMs?: number; serializeMs: number }) => t.deserializeMs + t.runMs + (t.exitMs ?? 0) + t.serializeMs;
    got.workMs.forEach((ms: number, i: number) => expect(ms).toBeCloseTo(work(JSON.parse(replies[i]!.headers["x-eiaas-timings"] as string)), 2));
    expect(got.workMs).toHaveLength(2);
    // Read again from where it left off: nothing new; a reader is never handed another's figures.
    expect(JSON.parse((await call(server.port, { method: "GET", path: `/v1/timings?after=${got.seq}` })).body.toString())).toEqual({ seq: got.seq, workMs: [] });
    // A number from the future (the server restarted) or garbage: the figures it has, the current number.
    expect(JSON.parse((await call(server.port, { method: "GET", path: `/v1/timings?after=1e12` })).body.toString())).toEqual({ seq: got.seq, workMs: [] });
    expect(JSON.parse((await call(server.port, { method: "GET", path: `/v1/timings?after=x` })).body.toString()).seq).toBe(got.seq);
  });

  describe("hostile requests get a 4xx Status and the server keeps serving", () => {
    const n = 3 * 16 * 16;
    const cases: Array<[string, () => Promise<{ status: number; body: Buffer }>, number, RegExp]> = [
      [
        "binary body shorter than its shape",
        () => call(server.port, { headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: "1,3,16,16" }, body: Buffer.alloc(n * 4 - 4) }),
        400,
        /has 3068 bytes; shape \[1,3,16,16\] needs 3072/,
      ],
      ["binary without a shape", () => call(server.port, { headers: { "content-type": BINARY_TYPE }, body: Buffer.alloc(n * 4) }), 400, /needs its shape in the x-eiaas-shape header/],
      ["a shape that is not numbers", () => call(server.port, { headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: "1,3,x,16" }, body: Buffer.alloc(n * 4) }), 400, /dimension "x"/],
      ["a zero dimension", () => call(server.port, { headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: "1,0,16,16" }, body: Buffer.alloc(0) }), 400, /dimension 0/],
      ["the wrong rank", () => inferBinary(server.port, [3, 16, 16], input), 400, /shape \[3,16,16\] does not fit the model's input input \[1,3,16,16\]/],
      ["the right size in the wrong dims", () => inferBinary(server.port, [1, 16, 3, 16], input), 400, /does not fit/],
      ["a rank of 40", () => call(server.port, { headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: Array(40).fill(1).join(",") }, body: Buffer.alloc(4) }), 400, /rank 40/],
      [
        "a shape of 2^60 elements",
        () => call(server.port, { headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: "1073741824,1073741824" }, body: Buffer.alloc(4) }),
        413,
        /has \d+ elements; this server takes at most 768/,
      ],
      ["JSON data shorter than its shape", () => inferJson(server.port, cnn.inputShape, input.subarray(1)), 400, /data has 767 values; shape \[1,3,16,16\] needs 768/],
      ["JSON with a string in data", () => call(server.port, { headers: { "content-type": JSON_TYPE }, body: JSON.stringify({ shape: [1, 2], data: [1, "2"] }) }), 400, /data\[1\] is "2"/],
      ["JSON that is not JSON", () => call(server.port, { headers: { "content-type": JSON_TYPE }, body: "{shape" }), 400, /not JSON/],
      ["JSON that is a list", () => call(server.port, { headers: { "content-type": JSON_TYPE }, body: "[1,2]" }), 400, /must be an object/],
      [
        "a body larger than any input (content-length)",
        () => call(server.port, { headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: "1,3,16,16" }, body: Buffer.alloc(10 * 2 ** 20) }),
        413,
        /at most 3072/,
      ],
      ["a body of unknown type", () => call(server.port, { headers: { "content-type": "text/plain" }, body: "1,2,3" }), 415, /content-type must be/],
      ["an Accept it cannot answer", () => inferBinary(server.port, cnn.inputShape, input, "text/html"), 406, /cannot answer in text\/html/],
      ["GET /v1/infer", () => call(server.port, { method: "GET" }), 405, /POST a tensor/],
      ["an unknown path", () => call(server.port, { path: "/admin" }), 404, /no such path "\/admin"/],
    ];
    it.each(cases)("%s", async (_what, send, status, message) => {
      const r = await send();
      expect(r.status).toBe(status);
      const doc = JSON.parse(r.body.toString());
      expect(doc).toMatchObject({ kind: "Status", status: "Failure", code: status });
      expect(doc.message).toMatch(message);
      expect((await inferBinary(server.port, cnn.inputShape, input)).status).toBe(200);
    });

    it("a chunked body past the limit (no content-length) is cut at the limit with 413", async () => {
      const r = await new Promise<string>((resolve, reject) => {
        const socket = connect(server.port, "127.0.0.1", () => {
          socket.write(`POST /v1/infer HTTP/1.1\r\nhost: x\r\ncontent-type: ${BINARY_TYPE}\r\n${SHAPE_HEADER}: 1,3,16,16\r\ntransfer-encoding: chunked\r\n\r\n`);
          const chunk = Buffer.alloc(64 * 1024);
          // Far more than the limit, if the server kept reading.
          for (let i = 0; i < 32; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString("latin1")}\r\n`);
        });
        let text = "";
        socket.on("data", (d) => (text += d.toString("latin1")));
        socket.on("close", () => resolve(text));
        socket.on("error", () => resolve(text));
        setTimeout(() => reject(new Error(`no answer: ${text.slice(0, 200)}`)), 10_000).unref();
      });
      expect(r).toMatch(/^HTTP\/1\.1 413 /);
      expect(r).toContain("the body passes 3072 bytes");
      expect((await inferBinary(server.port, cnn.inputShape, input)).status).toBe(200);
    });

    it("a client that disconnects mid-body leaves no trace", async () => {
      await new Promise<void>((resolve) => {
        const socket = connect(server.port, "127.0.0.1", () => {
          socket.write(`POST /v1/infer HTTP/1.1\r\nhost: x\r\ncontent-type: ${BINARY_TYPE}\r\n${SHAPE_HEADER}: 1,3,16,16\r\ncontent-length: 3072\r\n\r\n${"x".repeat(100)}`);
          setTimeout(() => {
            socket.destroy();
            resolve();
          }, 50);
        });
      });
      await new Promise((r) => setTimeout(r, 50));
      expect(server.pipeline.admission.inProgress).toBe(0);
      expect((await inferBinary(server.port, cnn.inputShape, input)).status).toBe(200);
    });
  });
});

describe("bounded concurrency", () => {
  it("holds at most maxRunning + maxWaiting requests, refuses the rest with 429 before reading them, and recovers", async () => {
    // A next stage that accepts and never answers holds every admitted request in its forward.
    const held: Socket[] = [];
    const sink = createNetServer((socket) => held.push(socket.on("error", () => undefined)));
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    const server = await startServing({ model: cnn.head, next: `127.0.0.1:${(sink.address() as AddressInfo).port}`, maxRunning: 1, maxWaiting: 2 });
    try {
      const admitted = Array.from({ length: 3 }, () => inferBinary(server.port, cnn.inputShape, input));
      await waitUntil(() => held.length === 3);
      expect(server.pipeline.admission.inProgress).toBe(3);
      for (let i = 0; i < 2; i++) {
        const refused = await inferBinary(server.port, cnn.inputShape, input);
        expect(refused.status).toBe(429);
        expect(refused.headers["retry-after"]).toBe("1");
        expect(JSON.parse(refused.body.toString()).message).toBe("busy: 3 requests in progress, the most this server holds; retry later");
      }
      for (const socket of held) socket.destroy();
      for (const r of await Promise.all(admitted)) {
        expect(r.status).toBe(502);
        expect(JSON.parse(r.body.toString()).message).toMatch(/^the next stage 127\.0\.0\.1:\d+: /);
      }
      expect(server.pipeline.admission.inProgress).toBe(0);
      expect((await call(server.port, { method: "GET", path: "/healthz" })).status).toBe(200);
    } finally {
      await server.close();
      sink.close();
    }
  });
});

describe("early exit", () => {
  let confidence: number;
  let exitLogits: Float32Array;
  let cut: Float32Array;
  beforeAll(async () => {
    cut = await reference(cnn.head, input, cnn.inputShape);
    exitLogits = await reference(cnn.exitHead, cut, cnn.cutShape);
    confidence = topConfidence({ shape: [1, 10], data: exitLogits });
  });

  it("answers from the exit head when its top-1 confidence reaches the threshold, and says so", async () => {
    const server = await startServing({ model: cnn.head, exitHead: cnn.exitHead, exitThreshold: confidence - 0.01 });
    try {
      const r = await inferBinary(server.port, cnn.inputShape, input);
      expect(r.status).toBe(200);
      expect(r.headers[SHAPE_HEADER]).toBe("1,10");
      expect(maxDiff(floats(r.body), exitLogits)).toBeLessThan(1e-6);
      const exit = JSON.parse(r.headers["x-eiaas-exit"] as string);
      expect(exit.taken).toBe(true);
      expect(exit.confidence).toBeCloseTo(confidence, 5);
      expect(JSON.parse(r.headers["x-eiaas-timings"] as string).exitMs).toEqual(expect.any(Number));
      const json = JSON.parse((await inferJson(server.port, cnn.inputShape, input)).body.toString());
      expect(json.exit).toMatchObject({ taken: true, threshold: confidence - 0.01 });
    } finally {
      await server.close();
    }
  });

  it("below the threshold it answers the segment's output, with the exit not taken", async () => {
    const server = await startServing({ model: cnn.head, exitHead: cnn.exitHead, exitThreshold: Math.min(1, confidence + 0.01) });
    try {
      const r = await inferBinary(server.port, cnn.inputShape, input);
      expect(r.headers[SHAPE_HEADER]).toBe(cnn.cutShape.join(","));
      expect(maxDiff(floats(r.body), cut)).toBeLessThan(1e-6);
      expect(JSON.parse(r.headers["x-eiaas-exit"] as string)).toMatchObject({ taken: false });
    } finally {
      await server.close();
    }
  });
});

describe("configuration errors are clear and leave nothing running", () => {
  it.each([
    ["bytes that are not ONNX", { model: new Uint8Array([1, 2, 3, 4]) }, /^cannot load the segment: /],
    ["an exit head without a threshold", { model: cnn.head, exitHead: cnn.exitHead }, /needs a confidence threshold between 0 and 1$/],
    ["a threshold above 1", { model: cnn.head, exitHead: cnn.exitHead, exitThreshold: 1.5 }, /between 0 and 1, not 1.5/],
    [
      "an exit head that does not fit the segment's output",
      { model: cnn.whole, exitHead: cnn.exitHead, exitThreshold: 0.5 },
      /exit head's input cut \[1,8,8,8\] does not fit the segment's output \[1,10\]/,
    ],
    ["a next endpoint with a path", { model: cnn.head, next: "127.0.0.1:9/x" }, /must be host:port/],
    ["a next endpoint over https", { model: cnn.head, next: "https://127.0.0.1:9" }, /only http:\/\//],
  ])("%s", async (_what, options, message) => {
    await expect(startServing(options)).rejects.toThrow(message);
  });

  it("a port in use is an error, not a crash", async () => {
    const first = await startServing({ model: cnn.whole });
    try {
      await expect(startServing({ model: cnn.whole, port: first.port })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
