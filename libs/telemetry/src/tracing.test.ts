// Span helpers and log correlation with an in-memory tracer provider registered in this process.
import { Writable } from "node:stream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createLogger } from "./logger.js";
import { startInMemoryTracing, type InMemoryTracing } from "./in-memory.js";
import { contextFrom, contextFromAnnotations, linksFrom, SpanKind, startSpanContext, traceAnnotation, traceCarrier, TRACEPARENT_ANNOTATION, withSpan, withSpanSync, runInContext } from "./tracing.js";

let tracing: InMemoryTracing;

beforeAll(async () => {
  tracing = await startInMemoryTracing({ serviceName: "telemetry-test" });
});
afterAll(async () => {
  await tracing.shutdown();
});
beforeEach(() => tracing.reset());

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

describe("spans", () => {
  it("nests spans through async work and records failures", async () => {
    await withSpan("outer", { kind: SpanKind.SERVER }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      await withSpan("inner", {}, async () => undefined);
      await expect(withSpan("failing", {}, async () => Promise.reject(new Error("boom\nstack")))).rejects.toThrow("boom");
    });
    const spans = tracing.spans();
    const outer = spans.find((s) => s.name === "outer")!;
    const inner = spans.find((s) => s.name === "inner")!;
    const failing = spans.find((s) => s.name === "failing")!;
    expect(inner).toMatchObject({ traceId: outer.traceId, parentSpanId: outer.spanId });
    expect(failing).toMatchObject({ traceId: outer.traceId, parentSpanId: outer.spanId, status: 2 });
    expect(outer).toMatchObject({ kind: SpanKind.SERVER, serviceName: "telemetry-test" });
    expect(outer.parentSpanId).toBeUndefined();
  });

  it("requireParent: no span (and no new trace) outside a traced operation", async () => {
    const value = await withSpan("db", { requireParent: true }, async (span) => (span ? "traced" : "plain"));
    expect(value).toBe("plain");
    expect(tracing.spans()).toEqual([]);
    await withSpan("request", {}, () => withSpan("db", { requireParent: true }, async () => undefined));
    const names = tracing.spans().map((s) => s.name);
    expect(names).toEqual(["db", "request"]);
  });

  it("carries the context through a W3C carrier (job data) and an annotation", () => {
    let parent!: { traceparent?: string };
    let annotation!: Record<string, string>;
    withSpanSync("producer", { kind: SpanKind.PRODUCER }, () => {
      parent = traceCarrier();
      annotation = traceAnnotation();
    });
    expect(parent.traceparent).toMatch(TRACEPARENT);
    expect(annotation[TRACEPARENT_ANNOTATION]).toBe(parent.traceparent);
    withSpanSync("consumer", { kind: SpanKind.CONSUMER, parent: contextFrom(parent) }, () => undefined);
    withSpanSync("planned", { parent: contextFromAnnotations(annotation) }, () => undefined);
    const [, traceId, spanId] = TRACEPARENT.exec(parent.traceparent!)!;
    for (const name of ["consumer", "planned"]) expect(tracing.spans().find((s) => s.name === name)).toMatchObject({ traceId, parentSpanId: spanId });
  });

  it("starts a new trace without a carrier; nothing to inject outside a span", () => {
    expect(traceCarrier()).toEqual({});
    expect(traceAnnotation()).toEqual({});
    withSpanSync("root", { parent: contextFromAnnotations({}) }, () => undefined);
    expect(tracing.spans()[0]!.parentSpanId).toBeUndefined();
  });

  it("links to the traces of several traceparents, skipping missing, repeated and malformed ones", () => {
    const tps: string[] = [];
    for (const n of ["a", "b"]) withSpanSync(n, {}, () => tps.push(traceCarrier().traceparent!));
    const links = linksFrom([tps[0], undefined, tps[1], tps[0], "00-garbage"]);
    expect(links.map((l) => l.context.traceId)).toEqual(tps.map((tp) => TRACEPARENT.exec(tp)![1]));
  });

  it("a span started by hand runs work in its context until ended", async () => {
    const s = startSpanContext("batch", { kind: SpanKind.PRODUCER })!;
    await runInContext(s.ctx, () => withSpan("child", {}, async () => undefined));
    s.span.end();
    const batch = tracing.spans().find((x) => x.name === "batch")!;
    expect(tracing.spans().find((x) => x.name === "child")).toMatchObject({ parentSpanId: batch.spanId });
  });
});

describe("logs", () => {
  it("carry trace_id and span_id inside a span, neither outside", () => {
    const lines: Array<Record<string, unknown>> = [];
    const destination = new Writable({
      write(chunk, _enc, cb) {
        for (const l of String(chunk).split("\n")) if (l.trim()) lines.push(JSON.parse(l));
        cb();
      },
    });
    const logger = createLogger({ name: "test", destination });
    logger.info("outside");
    withSpanSync("op", {}, () => logger.info("inside"));
    const op = tracing.spans().find((s) => s.name === "op")!;
    expect(lines[0]).not.toHaveProperty("trace_id");
    expect(lines[1]).toMatchObject({ msg: "inside", trace_id: op.traceId, span_id: op.spanId, component: "test" });
  });
});
