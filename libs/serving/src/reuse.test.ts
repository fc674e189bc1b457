// Edge caching and input filtering at a chain's entry (issue 20 part 6): a real server on the tiny
// CNN; what is reused is counted by the session's runs, the answer compared with a computed one.
import { afterEach, describe, expect, it } from "vitest";
import { call, floats, inferBinary, maxDiff, randomInput, tinyCnn } from "@eiaas/testing";
import { InputFilter, ResultCache } from "./reuse.js";
import { startServing, STREAM_HEADER, type ServingServer } from "./server.js";
import { BINARY_TYPE, SHAPE_HEADER } from "./wire.js";

const cnn = tinyCnn({ seed: 5 });
const n = 3 * 16 * 16;
const frame = randomInput(n, 21);
const other = randomInput(n, 22);

/** `base` with every element moved by `delta` (a mean absolute difference of |delta|). */
function shifted(base: Float32Array, delta: number): Float32Array {
  return base.map((v) => v + delta);
}

let server: ServingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const timingsOf = (r: { headers: Record<string, unknown> }) => JSON.parse(r.headers["x-eiaas-timings"] as string);

describe("result cache", () => {
  it("answers an identical input from the cache without running the model; another input runs", async () => {
    server = await startServing({ model: cnn.whole, caching: { maxEntries: 8, ttlSeconds: 600 } });
    const first = await inferBinary(server.port, cnn.inputShape, frame);
    expect(first.status).toBe(200);
    expect(server.pipeline.segment.runs).toBe(1);
    expect(timingsOf(first).reused).toBeUndefined();

    const again = await inferBinary(server.port, cnn.inputShape, Float32Array.from(frame));
    expect(again.status).toBe(200);
    expect(server.pipeline.segment.runs).toBe(1);
    expect(floats(again.body)).toEqual(floats(first.body));
    expect(timingsOf(again)).toMatchObject({ reused: "cache", runMs: 0 });

    // One bit off is another input.
    const changed = Float32Array.from(frame);
    changed[17] = Math.fround(changed[17]! + 1e-6);
    await inferBinary(server.port, cnn.inputShape, changed);
    expect(server.pipeline.segment.runs).toBe(2);
    expect(server.pipeline.counts()).toEqual({ requests: 3, cacheHits: 1, cacheMisses: 2, filterSkips: 0 });

    const metrics = (await call(server.port, { method: "GET", path: "/metrics" })).body.toString();
    expect(metrics).toMatch(/^eiaas_serving_cache_hits_total 1$/m);
    expect(metrics).toMatch(/^eiaas_serving_cache_misses_total 2$/m);
    expect(metrics).toMatch(/^eiaas_serving_model_runs_total 2$/m);
    expect(metrics).toMatch(/^eiaas_serving_requests_total 3$/m);
  });

  it("expires an answer after its TTL (a hit does not extend it)", () => {
    let now = 1_000_000;
    const cache = new ResultCache({ maxEntries: 4, ttlSeconds: 10, now: () => now });
    const key = ResultCache.key({ shape: [1, 4], data: Float32Array.of(1, 2, 3, 4) });
    cache.set(key, { output: { shape: [1], data: Float32Array.of(7) } });
    now += 9_000;
    expect(cache.get(key)?.output.data[0]).toBe(7);
    now += 1_000;
    expect(cache.get(key)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("keeps at most maxEntries, dropping the least recently used", () => {
    const cache = new ResultCache({ maxEntries: 2, ttlSeconds: 60 });
    const keys = [1, 2, 3].map((v) => ResultCache.key({ shape: [1], data: Float32Array.of(v) }));
    const answer = (v: number) => ({ output: { shape: [1], data: Float32Array.of(v) } });
    cache.set(keys[0]!, answer(1));
    cache.set(keys[1]!, answer(2));
    expect(cache.get(keys[0]!)).toBeDefined(); // now 2 is the least recently used
    cache.set(keys[2]!, answer(3));
    expect(cache.size).toBe(2);
    expect(cache.get(keys[1]!)).toBeUndefined();
    expect(cache.get(keys[0]!)?.output.data[0]).toBe(1);
    expect(cache.get(keys[2]!)?.output.data[0]).toBe(3);
    // Same data, another shape: another key.
    expect(ResultCache.key({ shape: [1, 1], data: Float32Array.of(1) })).not.toBe(keys[0]);
  });
});

describe("input filter", () => {
  it("reuses the last processed answer for a near-duplicate; an input past the threshold runs", async () => {
    server = await startServing({ model: cnn.whole, inputFilter: { threshold: 0.01 } });
    const first = await inferBinary(server.port, cnn.inputShape, frame);
    expect(server.pipeline.segment.runs).toBe(1);

    const near = await inferBinary(server.port, cnn.inputShape, shifted(frame, 0.005));
    expect(server.pipeline.segment.runs).toBe(1);
    expect(timingsOf(near).reused).toBe("filter");
    expect(floats(near.body)).toEqual(floats(first.body));

    // Drift is measured from the last *processed* frame: 0.005 + 0.006 from it is past 0.01.
    const drifted = await inferBinary(server.port, cnn.inputShape, shifted(frame, 0.011));
    expect(server.pipeline.segment.runs).toBe(2);
    expect(timingsOf(drifted).reused).toBeUndefined();

    await inferBinary(server.port, cnn.inputShape, other);
    expect(server.pipeline.segment.runs).toBe(3);
    expect(server.pipeline.counts()).toMatchObject({ requests: 4, filterSkips: 1, cacheHits: 0, cacheMisses: 0 });
    expect((await call(server.port, { method: "GET", path: "/metrics" })).body.toString()).toMatch(/^eiaas_serving_filter_skips_total 1$/m);
  });

  it("compares within a stream (x-eiaas-stream): another client's similar frame is processed", async () => {
    server = await startServing({ model: cnn.whole, inputFilter: { threshold: 0.01 } });
    const send = (data: Float32Array, stream: string) =>
      call(server!.port, { headers: { "content-type": BINARY_TYPE, [SHAPE_HEADER]: cnn.inputShape.join(","), [STREAM_HEADER]: stream }, body: Buffer.from(data.buffer) });
    expect((await send(frame, "camera-1")).status).toBe(200);
    expect((await send(shifted(frame, 0.001), "camera-2")).status).toBe(200);
    expect(server.pipeline.segment.runs).toBe(2);
    expect((await send(shifted(frame, 0.002), "camera-1")).status).toBe(200);
    expect(server.pipeline.segment.runs).toBe(2);
    const long = await send(frame, "x".repeat(254));
    expect(long.status).toBe(400);
    expect(JSON.parse(long.body.toString()).message).toMatch(/x-eiaas-stream is longer than 253/);
  });

  it("keeps a bounded number of streams; NaN inputs are never near anything", () => {
    const filter = new InputFilter({ threshold: 0.5, maxStreams: 2 });
    const t = (v: number) => ({ shape: [1, 2], data: Float32Array.of(v, v) });
    const answer = { output: { shape: [1], data: Float32Array.of(1) } };
    filter.processed("a", t(0), answer);
    filter.processed("b", t(0), answer);
    filter.processed("c", t(0), answer);
    expect(filter.match("a", t(0))).toBeUndefined();
    expect(filter.match("c", t(0.1))).toBe(answer);
    expect(filter.match("c", t(Number.NaN))).toBeUndefined();
    expect(filter.match("c", { shape: [2, 1], data: Float32Array.of(0, 0) })).toBeUndefined();
  });

  it("refuses settings that cannot work", async () => {
    await expect(startServing({ model: cnn.whole, caching: { maxEntries: 0, ttlSeconds: 1 } })).rejects.toThrow(/maxEntries must be a positive integer/);
    await expect(startServing({ model: cnn.whole, caching: { maxEntries: 1, ttlSeconds: 0 } })).rejects.toThrow(/ttlSeconds must be a positive number/);
    await expect(startServing({ model: cnn.whole, inputFilter: { threshold: -1 } })).rejects.toThrow(/threshold must be a non-negative number/);
  });
});

describe("cache and filter together", () => {
  it("an identical input is a cache hit first; the answers equal a computed one", async () => {
    server = await startServing({ model: cnn.whole, caching: { maxEntries: 4, ttlSeconds: 60 }, inputFilter: { threshold: 0.01 } });
    const computed = floats((await inferBinary(server.port, cnn.inputShape, frame)).body);
    const hit = await inferBinary(server.port, cnn.inputShape, frame);
    expect(timingsOf(hit).reused).toBe("cache");
    expect(maxDiff(floats(hit.body), computed)).toBe(0);
    expect(server.pipeline.counts()).toEqual({ requests: 2, cacheHits: 1, cacheMisses: 1, filterSkips: 0 });
  });
});
