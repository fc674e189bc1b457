// startTelemetry: nothing without an OTLP endpoint; OTLP/HTTP export to a stand-in collector with one.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { otlpConfigured, startTelemetry } from "./sdk.js";
import { traceCarrier, withSpan, withSpanSync } from "./tracing.js";

const received: Array<{ path: string; contentType: string; body: Buffer }> = [];
const collector = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    received.push({ path: req.url ?? "", contentType: String(req.headers["content-type"]), body: Buffer.concat(chunks) });
    res.writeHead(200, { "Content-Type": "application/x-protobuf" });
    res.end();
  });
});

afterAll(async () => {
  await new Promise((r) => collector.close(r));
});

describe("startTelemetry", () => {
  it("stays off without an endpoint: no SDK, no spans, nothing propagated", async () => {
    expect(otlpConfigured({})).toBe(false);
    expect(otlpConfigured({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318", OTEL_SDK_DISABLED: "true" })).toBe(false);
    const t = await startTelemetry({ serviceName: "eiaas-test", env: {} });
    expect(t.enabled).toBe(false);
    let carrier = {};
    await withSpan("request", {}, async (span) => {
      expect(span?.isRecording() ?? false).toBe(false);
      carrier = traceCarrier();
    });
    expect(carrier).toEqual({});
    await t.shutdown();
  });

  it("exports spans over OTLP/HTTP with the service name when OTEL_EXPORTER_OTLP_ENDPOINT is set", async () => {
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
    const endpoint = `http://127.0.0.1:${(collector.address() as AddressInfo).port}`;
    // The exporter reads the standard variables from the process environment.
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
    const t = await startTelemetry({ serviceName: "eiaas-sdk-test" });
    expect(t.enabled).toBe(true);
    let traceparent: string | undefined;
    withSpanSync("exported-span", {}, () => {
      traceparent = traceCarrier().traceparent;
    });
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    await t.shutdown(); // flushes
    const traces = received.filter((r) => r.path === "/v1/traces");
    expect(traces.length).toBeGreaterThan(0);
    expect(traces[0]!.contentType).toBe("application/x-protobuf");
    const body = Buffer.concat(traces.map((r) => r.body)).toString("latin1");
    expect(body).toContain("exported-span");
    expect(body).toContain("eiaas-sdk-test");
    // Metrics and logs stay with prom-client and pino: nothing else is sent.
    expect(received.filter((r) => r.path !== "/v1/traces")).toEqual([]);
  });
});
