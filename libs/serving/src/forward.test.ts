// A split plan on two servers over real sockets: the head segment forwards its cut tensor to the
// tail's /v1/infer; the answer equals the whole model's, with both stages' timings and the transfer.
import { createServer, connect, type Server, type Socket } from "node:net";
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { topConfidence } from "./pipeline.js";
import { startServing, type ServingServer } from "./server.js";
import { floats, inferBinary, inferJson, maxDiff, randomInput, tinyCnn } from "@eiaas/testing";
import { SHAPE_HEADER } from "./wire.js";

const cnn = tinyCnn({ seed: 3 });
const input = randomInput(3 * 16 * 16, 11);

async function run(bytes: Uint8Array, data: Float32Array, shape: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes);
  try {
    const out = await session.run({ [session.inputNames[0]!]: new ort.Tensor("float32", data, shape) });
    return out[session.outputNames[0]!]!.data as Float32Array;
  } finally {
    await session.release();
  }
}

describe("head → tail", () => {
  let tail: ServingServer;
  let head: ServingServer;
  let whole: Float32Array;
  beforeAll(async () => {
    tail = await startServing({ model: cnn.tail, node: "edge-1", layers: { from: 3, to: 3 } });
    head = await startServing({ model: cnn.head, node: "device-1", layers: { from: 1, to: 2 }, next: `127.0.0.1:${tail.port}` });
    whole = await run(cnn.whole, input, cnn.inputShape);
  });
  afterAll(async () => {
    await head?.close();
    await tail?.close();
  });

  it("answers what the whole model answers, with both stages' timings and the transfer time", async () => {
    const r = await inferBinary(head.port, cnn.inputShape, input);
    expect(r.status).toBe(200);
    expect(r.headers[SHAPE_HEADER]).toBe("1,10");
    expect(maxDiff(floats(r.body), whole)).toBeLessThan(1e-4);
    const t = JSON.parse(r.headers["x-eiaas-timings"] as string);
    expect(t).toMatchObject({ node: "device-1", layers: { from: 1, to: 2 }, next: { node: "edge-1", layers: { from: 3, to: 3 } } });
    expect(t.transferMs).toEqual(expect.any(Number));
    expect(t.next.runMs).toEqual(expect.any(Number));
    expect(r.headers["server-timing"]).toMatch(/transfer;dur=[\d.]+, next\.receive;dur=[\d.]+, next\.queue;dur=[\d.]+, next\.deserialize;dur=[\d.]+, next\.run;dur=/);

    const json = JSON.parse((await inferJson(head.port, cnn.inputShape, input)).body.toString());
    expect(maxDiff(json.data, whole)).toBeLessThan(1e-4);
    expect(json.timings.next.node).toBe("edge-1");
  });

  it("a tail that is gone is a 502 naming it; the head keeps serving once it is back", async () => {
    const port = tail.port;
    await tail.close();
    const r = await inferBinary(head.port, cnn.inputShape, input);
    expect(r.status).toBe(502);
    expect(JSON.parse(r.body.toString()).message).toMatch(new RegExp(`^the next stage 127\\.0\\.0\\.1:${port}: cannot reach it: .*ECONNREFUSED`));
    tail = await startServing({ model: cnn.tail, port });
    expect((await inferBinary(head.port, cnn.inputShape, input)).status).toBe(200);
  });

  it("a tail that refuses the cut tensor is a 502 quoting its Status message", async () => {
    // A "tail" that expects another shape: the head's output does not fit it.
    const wrong = await startServing({ model: cnn.whole });
    const misrouted = await startServing({ model: cnn.head, next: `127.0.0.1:${wrong.port}` });
    try {
      const r = await inferBinary(misrouted.port, cnn.inputShape, input);
      expect(r.status).toBe(502);
      expect(JSON.parse(r.body.toString()).message).toMatch(/answered 400: shape \[1,8,8,8\] does not fit the model's input input \[1,3,16,16\]$/);
    } finally {
      await misrouted.close();
      await wrong.close();
    }
  });
});

/**
 * A TCP relay to `port` that passes each request's headers at once and holds its body back for
 * `delayMs`: a slow uplink for the upload only, which the receiving server spends reading the body.
 */
async function slowBodyRelay(port: number, delayMs: number): Promise<Server> {
  const relay = createServer((client: Socket) => {
    const upstream = connect(port, "127.0.0.1");
    let pending = Buffer.alloc(0);
    let inHeaders = true;
    client.on("data", (chunk: Buffer) => {
      if (!inHeaders) return void setTimeout(() => upstream.write(chunk), delayMs);
      pending = Buffer.concat([pending, chunk]);
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) return;
      upstream.write(pending.subarray(0, end + 4));
      const body = pending.subarray(end + 4);
      // Requests on this kept-alive connection follow one at a time: the next starts with headers again.
      inHeaders = false;
      setTimeout(() => {
        upstream.write(body);
        inHeaders = true;
        pending = Buffer.alloc(0);
      }, delayMs);
    });
    upstream.on("data", (c: Buffer) => client.write(c));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  return relay;
}

describe("the times of a split add up", () => {
  it("the head's transferMs includes uploading the cut tensor (the tail reads it as receiveMs); the stages' parts sum to the head's totalMs", async () => {
    const DELAY_MS = 300;
    const tail = await startServing({ model: cnn.tail, node: "edge-1", layers: { from: 3, to: 3 } });
    const relay = await slowBodyRelay(tail.port, DELAY_MS);
    const head = await startServing({ model: cnn.head, node: "device-1", layers: { from: 1, to: 2 }, next: `127.0.0.1:${(relay.address() as { port: number }).port}` });
    try {
      const r = await inferBinary(head.port, cnn.inputShape, input);
      expect(r.status).toBe(200);
      const t = JSON.parse(r.headers["x-eiaas-timings"] as string);
      // The body was held back on the way to the tail: the tail spent that long reading it, and
      // the head counts it as the wire's, not the tail's.
      expect(t.next.receiveMs).toBeGreaterThanOrEqual(DELAY_MS - 5);
      expect(t.transferMs).toBeGreaterThanOrEqual(DELAY_MS - 5);
      // No part missing: the head's own work, the wire and the tail's own work make its total (µs rounding).
      const own = (s: any) => s.receiveMs + s.deserializeMs + s.queueMs + s.runMs + (s.exitMs ?? 0) + s.serializeMs;
      const tailWork = t.next.totalMs - t.next.receiveMs;
      expect(t.transferMs + tailWork).toBeLessThanOrEqual(t.totalMs - own(t) + 0.01);
      expect(own(t.next) - t.next.receiveMs).toBeLessThanOrEqual(tailWork + 0.01);
    } finally {
      await head.close();
      await tail.close();
      relay.close();
    }
  });
});

describe("head with an exit → tail", () => {
  it("forwards only when the exit is not confident enough", async () => {
    const cut = await run(cnn.head, input, cnn.inputShape);
    const confidence = topConfidence({ shape: [1, 10], data: await run(cnn.exitHead, cut, cnn.cutShape) });
    const whole = await run(cnn.whole, input, cnn.inputShape);
    const tail = await startServing({ model: cnn.tail });
    const servers = [tail];
    try {
      const confident = await startServing({ model: cnn.head, exitHead: cnn.exitHead, exitThreshold: confidence - 0.01, next: `127.0.0.1:${tail.port}` });
      servers.push(confident);
      const early = await inferBinary(confident.port, cnn.inputShape, input);
      expect(JSON.parse(early.headers["x-eiaas-exit"] as string)).toMatchObject({ taken: true });
      expect(JSON.parse(early.headers["x-eiaas-timings"] as string).next).toBeUndefined();

      const unsure = await startServing({ model: cnn.head, exitHead: cnn.exitHead, exitThreshold: Math.min(1, confidence + 0.01), next: `127.0.0.1:${tail.port}` });
      servers.push(unsure);
      const full = await inferBinary(unsure.port, cnn.inputShape, input);
      expect(maxDiff(floats(full.body), whole)).toBeLessThan(1e-4);
      expect(JSON.parse(full.headers["x-eiaas-exit"] as string)).toMatchObject({ taken: false });
      const t = JSON.parse(full.headers["x-eiaas-timings"] as string);
      expect(t.exitMs).toEqual(expect.any(Number));
      expect(t.next.runMs).toEqual(expect.any(Number));
    } finally {
      for (const s of servers.reverse()) await s.close();
    }
  });
});
