// eictl as a child process against the real API server: cordon/uncordon, drain, top, logs,
// apply --wait, get -w seeing ADDED/MODIFIED/DELETED across a server restart, and get endpoints.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { EiaasClient, writeDemoContext } from "@eiaas/client";
import { eictl, eictlBundle, oneErrorLine, parseTable, startEictl, startServer, type TestServer } from "@eiaas/testing/eictl";

// Each test runs several CLI processes; a busy machine (other test files in parallel) slows them.
vi.setConfig({ testTimeout: 60_000 });

let server: TestServer;
let client: EiaasClient;
let dir: string;
let config: string;
const run = (...args: string[]) => eictl(args, { config });
const ns = { namespace: "demo" };

async function task(name: string, node: string, phase: string, ownerReferences?: object[]): Promise<void> {
  await client.create("tasks", {
    apiVersion: "eiaas.io/v1alpha1",
    kind: "Task",
    metadata: { name, namespace: "demo", ...(ownerReferences ? { ownerReferences } : {}) },
    spec: { nodeName: node, role: "serve" },
  });
  await setPhase(name, phase);
}
function setPhase(name: string, phase: string) {
  return client.patch("tasks", name, { status: { phase } }, { ...ns, subresource: "status" });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eictl-ops-"));
  config = join(dir, "config");
  [server] = await Promise.all([startServer(), eictlBundle()]);
  client = new EiaasClient({ server: server.url, token: server.adminToken, caPem: server.caPem });
  await writeDemoContext({ server: server.url, token: server.adminToken, caPem: server.caPem, configPath: config });
  const setup = await run("apply", "-f", "deploy/examples/tenant-demo.yaml", "-f", "deploy/examples/fleet.yaml", "-f", "deploy/examples/mobilenetv2.yaml", "deploy/examples/resnet18.yaml");
  expect(setup.code).toBe(0);
});
afterAll(async () => {
  client?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("nodes", () => {
  it("cordon and uncordon (merge patch of spec.unschedulable), idempotent", async () => {
    expect((await run("cordon", "cam-2", "pi-1")).stdout).toBe("edgenode/cam-2 cordoned\nedgenode/pi-1 cordoned\n");
    const [again, shown] = await Promise.all([run("cordon", "cam-2"), run("get", "nodes", "cam-2", "--no-headers")]);
    expect(again.stdout).toBe("edgenode/cam-2 already cordoned\n");
    expect(shown.stdout).toMatch(/^cam-2\s+device\s+Unknown,SchedulingDisabled\s/);
    expect((await run("uncordon", "cam-2")).stdout).toBe("edgenode/cam-2 uncordoned\n");
    expect((await client.get("nodes", "cam-2")).spec.unschedulable).toBe(false);
    const missing = await run("cordon", "nope");
    expect(oneErrorLine(missing)).toBe('Error from server (NotFound): edgenodes "nope" not found');
  });

  it("drain cordons, evicts the tasks workloads own, waits for the others and ends when none is left; --timeout fails with one line", async () => {
    const owner = [{ apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", name: "svc", uid: "00000000-0000-4000-8000-000000000001" }];
    await task("serve-a", "phone-2", "Running", owner);
    await task("serve-b", "phone-2", "Dispatched");
    await task("old", "phone-2", "Succeeded", owner);
    await task("stuck", "phone-1", "Running");
    await task("kept", "phone-1", "Running", owner);
    const drain = await startEictl(["drain", "phone-2", "--timeout", "60s"], { config });
    const timeout = run("drain", "phone-1", "--timeout", "1s", "--no-evict");
    await drain.waitFor(/task demo\/serve-a evicted\n/);
    await drain.waitFor(/waiting for 1 task\(s\) to leave edgenode\/phone-2: demo\/serve-b \(Dispatched\)\n/);
    await setPhase("serve-b", "Succeeded");
    const r = await drain.exit;
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        "edgenode/phone-2 cordoned",
        "task demo/serve-a evicted",
        "waiting for 1 task(s) to leave edgenode/phone-2: demo/serve-b (Dispatched)",
        "task demo/serve-b left edgenode/phone-2 (was Dispatched)",
        "edgenode/phone-2 drained",
        "",
      ].join("\n"),
    );
    await expect(client.get("tasks", "serve-a", ns)).rejects.toMatchObject({ code: 404 });
    expect(oneErrorLine(await timeout)).toBe("error: timed out after 1s with 2 task(s) still on edgenode/phone-1: demo/kept, demo/stuck (the node stays cordoned; 'eictl uncordon phone-1' undoes it)");
    expect((await client.get("nodes", "phone-2")).spec.unschedulable).toBe(true);
    expect((await client.get("tasks", "kept", ns)).status.phase).toBe("Running");
  });

  it("top nodes: allocated vs capacity, load and tasks; top tenants: usage vs quota and dominant share", async () => {
    await client.patch("nodes", "edge-lab", { status: { allocated: { cpu: 4000, memoryMiB: 16384, gpu: 1, load: 0.42 } } }, { subresource: "status" });
    await client.patch("tenants", "demo", { status: { usage: { cpu: 8000, memoryMiB: 4096, gpu: 1, tasks: 3 }, dominantShare: 0.25 } }, { subresource: "status" });
    await task("on-edge", "edge-lab", "Running");
    const [nodes, sorted, tenants] = await Promise.all([run("top", "nodes"), run("top", "nodes", "--sort-by", "load", "--no-headers", "-l", "tier=edge"), run("top", "tenants")]);
    const t = parseTable(nodes.stdout);
    expect(t.header).toEqual(["NAME", "TIER", "CPU(m)", "CPU%", "MEMORY(Mi)", "MEMORY%", "GPU", "LOAD", "TASKS"]);
    expect(t.rows.find((r) => r[0] === "edge-lab")).toEqual(["edge-lab", "edge", "4000/16000", "25%", "16384/65536", "25%", "1/1", "0.42", "1"]);
    expect(t.rows.find((r) => r[0] === "phone-1")?.[8]).toBe("2");
    expect(sorted.stdout.split("\n")[0]).toMatch(/^edge-lab /);
    expect(parseTable(tenants.stdout).rows).toEqual([["demo", "8000/64000", "13%", "4096/131072", "3%", "1/8", "3/200", "0.250", "1"]]);
  });

  it("logs: the output the agent forwarded, --tail, -f following new lines; an unknown task is NotFound", async () => {
    const append = (lines: string[]) => client.request({ method: "PUT", path: "/apis/eiaas.io/v1alpha1/namespaces/demo/tasks/on-edge/log", body: { attempt: 1, lines } });
    await append(["loading resnet18", "serving on :8080"]);
    const [all, tail, noTask] = await Promise.all([run("logs", "on-edge"), run("logs", "on-edge", "--tail", "1"), run("logs", "nope", "-f")]);
    expect(all).toMatchObject({ code: 0, stdout: "loading resnet18\nserving on :8080\n", stderr: "" });
    expect(tail.stdout).toBe("serving on :8080\n");
    expect(oneErrorLine(noTask)).toBe('Error from server (NotFound): tasks "nope" not found');
    const follow = await startEictl(["logs", "on-edge", "-f"], { config });
    await follow.waitFor(/serving on :8080\n/);
    await append(["request 1: 12.9 ms"]);
    await follow.waitFor(/request 1: 12\.9 ms\n/);
    follow.child.kill("SIGINT");
    expect((await follow.exit).stderr).toBe("");
  });
});

describe("apply --wait", () => {
  it("shows progress until Ready; a failed TrainingJob ends it with one line", async () => {
    const isvc = await startEictl(["apply", "-f", "deploy/examples/isvc-device.yaml", "--wait", "--timeout", "60s"], { config });
    const tj = await startEictl(["apply", "-f", "deploy/examples/tj-gossip.yaml", "--wait"], { config });
    await isvc.waitFor(/waiting for inferenceservice\/mobilenet-device: Pending/, "stderr");
    await tj.waitFor(/waiting for trainingjob\/street-gossip: Pending/, "stderr");
    const now = new Date().toISOString();
    await client.patch(
      "isvc",
      "mobilenet-device",
      { status: { phase: "Scheduled", conditions: [{ type: "Scheduled", status: "True", reason: "Planned", lastTransitionTime: now }] } },
      { ...ns, subresource: "status" },
    );
    await isvc.waitFor(/waiting for inferenceservice\/mobilenet-device: Scheduled/, "stderr");
    await client.patch(
      "isvc",
      "mobilenet-device",
      { status: { phase: "Running", conditions: [{ type: "Ready", status: "True", reason: "TasksRunning", lastTransitionTime: now }] } },
      { ...ns, subresource: "status" },
    );
    await client.patch(
      "tj",
      "street-gossip",
      { status: { phase: "Failed", conditions: [{ type: "Complete", status: "False", reason: "ParticipantsLost", message: "2 of 3 participants left", lastTransitionTime: now }] } },
      { ...ns, subresource: "status" },
    );
    const [ok, failed] = await Promise.all([isvc.exit, tj.exit]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe("inferenceservice/mobilenet-device created\ninferenceservice/mobilenet-device is ready (Running)\n");
    expect(failed.code).toBe(1);
    expect(failed.stdout).toBe("trainingjob/street-gossip created\n");
    expect(failed.stderr.trimEnd().split("\n").at(-1)).toBe("error: trainingjob/street-gossip failed: ParticipantsLost: 2 of 3 participants left");
  });
});

describe("get -w", () => {
  // A server restart takes a few seconds, more on a busy machine.
  it("sees ADDED, MODIFIED and DELETED, and misses nothing across a server outage", { timeout: 90_000 }, async () => {
    const node = (name: string) => ({ apiVersion: "eiaas.io/v1alpha1", kind: "EdgeNode", metadata: { name, labels: { watch: "yes" } }, spec: { tier: "edge" } });
    await client.create("nodes", node("w1"));
    const table = await startEictl(["get", "nodes", "-l", "watch=yes", "-w", "--output-watch-events"], { config });
    const json = await startEictl(["get", "nodes", "-l", "watch=yes", "-w", "-o", "json"], { config });
    await table.waitFor(/^EVENT\s+NAME\s+TIER\s+READY\s+CPU\s+AGE\nADDED\s+w1\s+edge\s+Unknown\s+0\/0m/);
    await json.waitFor(/"name": "w1"/);
    await client.patch("nodes", "w1", { spec: { hardware: "t4" } });
    await table.waitFor(/\nMODIFIED\s+w1\s/);
    await json.waitFor(/"hardware": "t4"/);

    // The server goes away (every connection broken); changes made meanwhile through another
    // listener must still reach both watchers once it is back: they resume from the last version.
    await server.kill();
    const side = new EiaasClient({ server: server.sideUrl, token: server.adminToken });
    await side.create("nodes", node("w2"));
    await side.patch("nodes", "w2", { spec: { unschedulable: true } });
    await side.delete("nodes", "w1");
    side.close();
    await new Promise((r) => setTimeout(r, 500));
    await server.start();
    await table.waitFor(/\nDELETED\s+w1\s/);
    await json.waitFor(/"unschedulable": true[\s\S]*"name": "w1"/);
    // A status change that shows in no column is in the JSON stream but not repeated as a row.
    await client.patch("nodes", "w2", { status: { lastHeartbeatTime: new Date().toISOString() } }, { subresource: "status" });
    await json.waitFor(/"lastHeartbeatTime"/);
    await client.patch("nodes", "w2", { spec: { hardware: "nano" } });
    await table.waitFor(/\nMODIFIED\s+w2\s+edge\s+Unknown,SchedulingDisabled[\s\S]*\nMODIFIED\s+w2\s/);
    await json.waitFor(/"hardware": "nano"/);
    table.child.kill("SIGINT");
    json.child.kill("SIGINT");
    const [t] = await Promise.all([table.exit, json.exit]);
    const events = t.stdout
      .trimEnd()
      .split("\n")
      .slice(1)
      .map((l) => l.split(/\s+/).slice(0, 2).join(" "));
    expect(events).toEqual(["ADDED w1", "MODIFIED w1", "ADDED w2", "MODIFIED w2", "DELETED w1", "MODIFIED w2"]);
    // Rows are printed as events arrive: a wider cell later (READY here) widens its column from then on, as in kubectl.
    expect(
      t.stdout
        .trimEnd()
        .split("\n")
        .every((l) => l.split(/ {3,}/).length === 6),
    ).toBe(true);
    const docs = json.stdout.split(/\n(?=\{)/).map((d) => JSON.parse(d));
    expect(docs.map((d) => d.metadata.name)).toEqual(["w1", "w1", "w2", "w2", "w1", "w2", "w2"]);
    expect(t.stderr).toBe("");
  });
});

describe("get endpoints", () => {
  it("lists services' endpoints, ranks them from a client (--client) and finds them by capability (--capability)", async () => {
    await client.create("isvc", {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "InferenceService",
      metadata: { name: "cls", namespace: "demo" },
      spec: { model: "resnet18", clients: { selector: { matchLabels: { tier: "device" } } } },
    });
    const ep = (node: string) => ({ node, address: `${node}:8080`, role: "serve", task: `cls-r1-serve-${node}` });
    await client.patch("isvc", "cls", { status: { phase: "Running", endpoints: [ep("region-a"), ep("edge-lab"), ep("edge-campus")] } }, { ...ns, subresource: "status" });

    const all = await run("get", "endpoints");
    expect(all.code).toBe(0);
    const listed = parseTable(all.stdout);
    expect(listed.header).toEqual(["SERVICE", "NODE", "ROLE", "ADDRESS"]);
    expect(listed.rows).toEqual([
      ["cls", "region-a", "serve", "region-a:8080"],
      ["cls", "edge-lab", "serve", "edge-lab:8080"],
      ["cls", "edge-campus", "serve", "edge-campus:8080"],
    ]);

    // Ranked from each client, as the API ranks them: a camera under edge-lab and a phone under
    // edge-campus each find their own edge server nearer than the other one.
    const nodesFrom = async (c: string) => {
      const r = await run("get", "ep", "cls", "--client", c, "-o", "wide");
      expect(r.code).toBe(0);
      const t = parseTable(r.stdout);
      expect(t.header).toEqual(["SERVICE", "NODE", "ROLE", "ADDRESS", "LATENCY", "TASK"]);
      const ms = t.rows.map((row) => Number(row[4]!.replace(/ms$/, "")));
      expect(ms.every((m, i) => Number.isFinite(m) && (i === 0 || ms[i - 1]! <= m))).toBe(true);
      const api = await client.serviceEndpoints("demo", "cls", c);
      expect(t.rows.map((row) => row[1])).toEqual(api.items.map((e) => e.node));
      return t.rows.map((row) => row[1]!);
    };
    const fromCam = await nodesFrom("cam-1");
    const fromPhone = await nodesFrom("phone-1");
    expect(fromCam.indexOf("edge-lab")).toBeLessThan(fromCam.indexOf("edge-campus"));
    expect(fromPhone.indexOf("edge-campus")).toBeLessThan(fromPhone.indexOf("edge-lab"));

    const found = await run("get", "endpoints", "--capability", "image-classification", "--client", "phone-1", "-o", "json");
    expect(found.code).toBe(0);
    const list = JSON.parse(found.stdout);
    expect(list.kind).toBe("EndpointList");
    expect(list.items.map((e: any) => `${e.service}/${e.node}`)).toEqual(fromPhone.map((n) => `cls/${n}`));
    const none = await run("get", "endpoints", "--capability", "translation", "--client", "phone-1");
    expect([none.code, none.stdout, none.stderr]).toEqual([0, "", "No resources found in demo namespace.\n"]);

    expect(oneErrorLine(await run("get", "ep", "cls", "--client", "nobody"))).toBe('Error from server (NotFound): edgenodes "nobody" not found');
    expect(oneErrorLine(await run("get", "ep", "nope", "--client", "cam-1"))).toBe('Error from server (NotFound): inferenceservices "nope" not found');
    expect(oneErrorLine(await run("get", "ep", "--client", "cam-1"))).toMatch(/^error: --client ranks the endpoints of the services named/);
    expect(oneErrorLine(await run("get", "ep", "--capability", "image-classification"))).toBe("error: --capability needs --client NODE: the endpoints are ranked from the asking client");
    expect(oneErrorLine(await run("get", "isvc", "--client", "cam-1"))).toBe("error: --client and --capability apply to endpoints only: eictl get endpoints SERVICE --client NODE");
  });
});
