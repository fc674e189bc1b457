// One trace for one InferenceService across the control plane (design.md §7): the create request →
// its database write → the scheduler's plan (cycles later, joined through the workload's
// traceparent annotation) → the enqueue of each task (context in the job data) → the agent taking
// the job → its status report over HTTP (traceparent header) → the API's status write. Real API,
// scheduler, node agents, Postgres and Redis in this process, with an in-memory span exporter.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SpanKind, startInMemoryTracing, TRACEPARENT_ANNOTATION, type InMemoryTracing, type RecordedSpan } from "@eiaas/telemetry";
import { cloudSpec, deviceSpec, edgeSpec, isvc, MODEL, startControlPlane, V, waitFor, type ControlPlane } from "@eiaas/testing/control-plane";

const PREFIX = "/apis/eiaas.io/v1alpha1";
let tracing: InMemoryTracing;
let cp: ControlPlane;

beforeAll(async () => {
  // First: the components pick up the registered provider, context manager and propagator.
  tracing = await startInMemoryTracing();
  cp = await startControlPlane();
  await cp.apply("/tenants", { apiVersion: V, kind: "Tenant", metadata: { name: "acme" } });
  await cp.apply("/namespaces/acme/models", MODEL);
  await cp.startAgent("cloud-1", cloudSpec());
  await cp.startAgent("edge-1", edgeSpec("cloud-1"));
  await cp.startAgent("dev-1", deviceSpec("edge-1"), { client: "cam" });
});

afterAll(async () => {
  await cp?.close();
  await tracing?.shutdown();
});

/** The chain of span names from `span` up to its trace's root. */
function ancestry(spans: RecordedSpan[], span: RecordedSpan): string[] {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const names = [span.name];
  for (let s = span; s.parentSpanId;) {
    const parent = byId.get(s.parentSpanId);
    if (!parent) throw new Error(`span ${s.name} has a parent that is not in the trace`);
    names.push(parent.name);
    s = parent;
  }
  return names;
}

describe("tracing", () => {
  it("shows one trace spanning API → scheduler → agent for a single InferenceService", async () => {
    const created = await cp.apply("/namespaces/acme/inferenceservices", isvc("cam", "cam", { architecture: "edge-device" }));
    const traceparent: string = created.metadata.annotations[TRACEPARENT_ANNOTATION];
    expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const traceId = traceparent.split("-")[1]!;
    await waitFor(async () => (await cp.get("/namespaces/acme/inferenceservices/cam")).status?.phase === "Running", "cam Running");
    const tasks: any[] = (await cp.get("/namespaces/acme/tasks")).items;
    expect(tasks.length).toBe(2); // head on dev-1, tail on edge-1

    // Every task's Running report, written by the API, lands in the creating request's trace.
    const statusWrite = `PUT ${PREFIX}/namespaces/:ns/:plural/:name/status`;
    const trace = await waitFor(() => {
      const spans = tracing.spans().filter((s) => s.traceId === traceId);
      return spans.filter((s) => s.name === statusWrite).length >= tasks.length ? spans : undefined;
    }, "status writes in the trace");

    const create = trace.find((s) => s.name === `POST ${PREFIX}/namespaces/:ns/:plural` && s.kind === SpanKind.SERVER)!;
    expect(create).toBeDefined();
    expect(create.parentSpanId).toBeUndefined();
    expect(create.attributes).toMatchObject({ "http.route": `${PREFIX}/namespaces/:ns/:plural`, "http.response.status_code": 201 });
    expect(trace.find((s) => s.name === "INSERT inference_services")).toMatchObject({ kind: SpanKind.CLIENT, parentSpanId: create.spanId });

    const plan = trace.find((s) => s.name === "schedule InferenceService")!;
    expect(plan).toMatchObject({ parentSpanId: create.spanId, attributes: { "eiaas.workload.name": "cam", "eiaas.schedule.result": "planned" } });

    for (const t of tasks) {
      const queue = `node.${t.spec.nodeName}`;
      const publish = trace.find((s) => s.name === `publish ${queue}`)!;
      expect(publish).toMatchObject({ kind: SpanKind.PRODUCER, parentSpanId: plan.spanId, attributes: { "eiaas.task": `acme/${t.metadata.name}` } });
      const run = trace.find((s) => s.name === `process ${queue}`)!;
      expect(run).toMatchObject({ kind: SpanKind.CONSUMER, parentSpanId: publish.spanId, attributes: { "eiaas.node": t.spec.nodeName } });
      // The agent's report: a CLIENT span in the run, the API's SERVER span under it, the row write under that.
      const report = trace.find(
        (s) => s.kind === SpanKind.CLIENT && s.name === "PUT" && s.parentSpanId === run.spanId && String(s.attributes["url.path"]).endsWith(`/tasks/${t.metadata.name}/status`),
      )!;
      expect(report).toBeDefined();
      const write = trace.find((s) => s.name === statusWrite && s.parentSpanId === report.spanId)!;
      expect(write).toMatchObject({ kind: SpanKind.SERVER, attributes: { "http.response.status_code": 200 } });
      const update = trace.find((s) => s.name === "UPDATE tasks" && s.parentSpanId === write.spanId)!;
      expect(ancestry(trace, update)).toEqual(["UPDATE tasks", statusWrite, "PUT", `process ${queue}`, `publish ${queue}`, "schedule InferenceService", `POST ${PREFIX}/namespaces/:ns/:plural`]);
    }

    // The bind transaction serves many workloads at once: its span links to this one's plan.
    const bind = tracing.spans().find((s) => s.name === "BIND tasks" && s.links.some((l) => l.spanId === plan.spanId));
    expect(bind).toMatchObject({ kind: SpanKind.CLIENT, links: expect.arrayContaining([{ traceId, spanId: plan.spanId }]) });
  });
});
