// A head whose next stage is looked up at request time (a split plan's head finding its tail's Task):
// real servers over real sockets; the tail moving to another port, or having none for a while.
import ort from "onnxruntime-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { floats, inferBinary, manualClock, maxDiff, randomInput, tinyCnn } from "@eiaas/testing";
import { startServing, type ServingServer } from "./server.js";

const cnn = tinyCnn({ seed: 5 });
const input = randomInput(3 * 16 * 16, 12);

describe("a head resolving its next stage at request time", () => {
  let tail: ServingServer | undefined;
  let head: ServingServer;
  let whole: Float32Array;
  /** What the "control plane" says the tail's endpoint is now. */
  let current: string | undefined;
  let lookups = 0;
  // The head's cache ages on this clock: "no endpoint" expires when the test moves it, not by sleeping.
  const clock = manualClock();
  beforeAll(async () => {
    const session = await ort.InferenceSession.create(cnn.whole);
    whole = (await session.run({ input: new ort.Tensor("float32", input, cnn.inputShape) })).logits!.data as Float32Array;
    await session.release();
    head = await startServing({
      model: cnn.head,
      node: "device-1",
      nextStage: {
        describe: "task acme/svc-r1-tail-x",
        // A long cache: only the failed connection may make the head ask again.
        ttlMs: 60_000,
        now: clock.now,
        resolve: async () => {
          lookups++;
          return current;
        },
      },
    });
  });
  afterAll(async () => {
    await head?.close();
    await tail?.close();
  });

  it("answers 503 with retry-after while the tail has no endpoint, naming it", async () => {
    const r = await inferBinary(head.port, cnn.inputShape, input);
    expect(r.status).toBe(503);
    expect(r.headers["retry-after"]).toBe("1");
    expect(JSON.parse(r.body.toString())).toMatchObject({ kind: "Status", code: 503, message: "the next stage (task acme/svc-r1-tail-x) has no endpoint yet" });
  });

  it("forwards to the endpoint found, and finds the tail again at once when it moved to a new port", async () => {
    tail = await startServing({ model: cnn.tail, node: "edge-1" });
    current = `127.0.0.1:${tail.port}`;
    // "No endpoint" is believed for half a second, not for the (long) ttl of a found endpoint.
    expect((await inferBinary(head.port, cnn.inputShape, input)).status).toBe(503);
    clock.advance(600);
    let r = await inferBinary(head.port, cnn.inputShape, input);
    expect(r.status).toBe(200);
    expect(maxDiff(floats(r.body), whole)).toBeLessThan(1e-4);
    const before = lookups;
    expect((await inferBinary(head.port, cnn.inputShape, input)).status).toBe(200);
    expect(lookups).toBe(before);

    // The tail is retried elsewhere (a new port); the old one is gone. The head's first forward fails
    // to connect, it asks again, and the request is answered by the new tail.
    await tail.close();
    tail = await startServing({ model: cnn.tail, node: "edge-2" });
    current = `127.0.0.1:${tail.port}`;
    r = await inferBinary(head.port, cnn.inputShape, input);
    expect(r.status).toBe(200);
    expect(maxDiff(floats(r.body), whole)).toBeLessThan(1e-4);
    expect(JSON.parse(r.headers["x-eiaas-timings"] as string).next.node).toBe("edge-2");
  });
});
