// eictl as a child process against the real API server: apply/create/delete from the examples, get in
// every output format, describe with plans, tasks, conditions and events, and the token verbs.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { EiaasClient, writeDemoContext } from "@eiaas/client";
import { eictl, eictlBundle, oneErrorLine, parseTable, startServer, type TestServer } from "@eiaas/testing/eictl";

// Each test runs several CLI processes; a busy machine (other test files in parallel) slows them.
vi.setConfig({ testTimeout: 60_000 });

let server: TestServer;
let client: EiaasClient;
let dir: string;
let config: string;
const run = (...args: string[]) => eictl(args, { config });
const ex = (f: string) => `deploy/examples/${f}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eictl-objects-"));
  config = join(dir, "config");
  [server] = await Promise.all([startServer(), eictlBundle()]);
  client = new EiaasClient({ server: server.url, token: server.adminToken, caPem: server.caPem });
  await writeDemoContext({ server: server.url, token: server.adminToken, caPem: server.caPem, configPath: config });
});
afterAll(async () => {
  client?.close();
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("apply", () => {
  it("creates in dependency order, then reports unchanged, configured (three-way: removed fields go) and dry runs", async () => {
    const first = await run("apply", "-f", ex("isvc-auto.yaml"), "-f", ex("resnet18.yaml"), ex("mobilenetv2.yaml"), ex("fleet.yaml"), ex("tj-federated.yaml"), ex("tenant-demo.yaml"));
    expect(first.stderr).toBe("");
    const lines = first.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("tenant/demo created");
    expect(lines.slice(1, 11).every((l) => /^edgenode\/[a-z0-9-]+ created$/.test(l))).toBe(true);
    expect(lines.slice(11)).toEqual(["model/resnet18 created", "model/mobilenetv2 created", "inferenceservice/classify-auto created", "trainingjob/street-federated created"]);

    const edited = (await readFile(ex("isvc-auto.yaml"), "utf8")).replace("latencyMs: 250", "latencyMs: 180").replace(/  labels:\n    example: auto\n/, "");
    const again = await run("apply", "-f", ex("isvc-auto.yaml"), "-f", ex("tenant-demo.yaml"));
    const [stdin, dryNew] = await Promise.all([eictl(["apply", "-f", "-"], { config, stdin: edited }), run("apply", "-f", ex("isvc-edge.yaml"), "--dry-run=server")]);
    expect(again.stdout).toBe("tenant/demo unchanged\ninferenceservice/classify-auto unchanged\n");
    expect(stdin.stdout).toBe("inferenceservice/classify-auto configured\n");
    expect(dryNew.stdout.split("\n")[0]).toBe("inferenceservice/vgg16-edge created (server dry run)");
    const live = await client.get("isvc", "classify-auto", { namespace: "demo" });
    expect(live.spec.slo.latencyMs).toBe(180);
    expect(live.metadata.labels).toBeUndefined();
    expect(JSON.parse(live.metadata.annotations!["kubectl.kubernetes.io/last-applied-configuration"]!).spec.slo.latencyMs).toBe(180);
    await expect(client.get("isvc", "vgg16-edge", { namespace: "demo" })).rejects.toMatchObject({ code: 404 });

    // -n must agree with the manifest's namespace; -o prints the objects instead of lines.
    const [mismatch, asYaml] = await Promise.all([run("apply", "-f", ex("isvc-auto.yaml"), "-n", "other"), run("apply", "-f", ex("tenant-demo.yaml"), "-o", "yaml")]);
    expect(oneErrorLine(mismatch)).toBe(`error: the namespace from the provided object "demo" does not match the namespace "other". You must pass '--namespace=demo' to perform this operation.`);
    expect(parse(asYaml.stdout)).toMatchObject({ kind: "Tenant", metadata: { name: "demo" } });
  });
});

describe("get", () => {
  it("tables from the server's printing, aligned; wide, labels, selectors, -A, names and errors", async () => {
    const [table, wide, edges, byField, all, some, none, labels] = await Promise.all([
      run("get", "nodes"),
      run("get", "edgenodes", "-o", "wide"),
      run("get", "en", "-l", "tier=edge", "--no-headers"),
      run("get", "node", "--field-selector", "metadata.name=cam-1", "-o", "name"),
      run("get", "isvc", "-A"),
      run("get", "nodes", "cam-1", "nope"),
      run("get", "tasks"),
      run("get", "tenants", "--show-labels"),
    ]);
    const t = parseTable(table.stdout);
    expect(t.header).toEqual(["NAME", "TIER", "READY", "CPU", "AGE"]);
    expect(t.rows).toHaveLength(10);
    expect(t.rows.find((r) => r[0] === "edge-lab")).toEqual(["edge-lab", "edge", "Unknown", "0/16000m", expect.stringMatching(/^\d+s$/)]);
    expect(parseTable(wide.stdout).header).toEqual(["NAME", "TIER", "READY", "CPU", "HARDWARE", "PARENT", "LOAD", "AGE"]);
    expect(
      parseTable(wide.stdout)
        .rows.find((r) => r[0] === "cam-2")
        ?.slice(4, 7),
    ).toEqual(["raspberry-pi-4", "edge-lab", "0.00"]);
    expect(edges.stdout.split("\n").map((l) => l.split(" ")[0])).toEqual(["edge-campus", "edge-lab", "edge-street", ""]);
    expect(byField.stdout).toBe("edgenode.eiaas.io/cam-1\n");
    const a = parseTable(all.stdout);
    expect(a.header).toEqual(["NAMESPACE", "NAME", "MODEL", "PHASE", "LATENCY", "AGE"]);
    expect(a.rows[0]?.slice(0, 3)).toEqual(["demo", "classify-auto", "resnet18"]);
    expect(some.code).toBe(1);
    expect(parseTable(some.stdout).rows.map((r) => r[0])).toEqual(["cam-1"]);
    expect(some.stderr).toBe('Error from server (NotFound): edgenodes "nope" not found\n');
    expect(none).toMatchObject({ code: 0, stdout: "", stderr: "No resources found in demo namespace.\n" });
    expect(parseTable(labels.stdout).rows[0]).toEqual(["demo", "1", "0.000", "0", "Active", expect.any(String), "team=vision"]);
  });

  it("machine output: a List for collections, the object for one name, names", async () => {
    const [several, severalJson] = await Promise.all([run("get", "isvc,tj,mdl"), run("get", "isvc,tj", "-o", "json")]);
    const [isvcs, tjs, mdls] = several.stdout.split("\n\n");
    expect(parseTable(isvcs!).rows.map((r) => r[0])).toEqual(["inferenceservice.eiaas.io/classify-auto"]);
    expect(parseTable(tjs!).header).toEqual(["NAME", "MODEL", "MODE", "PHASE", "PARTICIPANTS", "ROUND", "AGE"]);
    expect(parseTable(mdls!).rows).toHaveLength(2);
    expect(JSON.parse(severalJson.stdout).items.map((o: any) => o.kind)).toEqual(["InferenceService", "TrainingJob"]);
    const [json, one, yaml, names, coloured, plainJson] = await Promise.all([
      run("get", "isvc", "-o", "json"),
      run("get", "isvc", "classify-auto", "-o", "json"),
      run("get", "models", "-o", "yaml"),
      run("get", "mdl", "-o", "name"),
      eictl(["get", "nodes"], { config, env: { FORCE_COLOR: "1" } }),
      eictl(["get", "nodes", "cam-1", "-o", "json"], { config, env: { FORCE_COLOR: "1" } }),
    ]);
    // Colour only where a terminal would get it (forced here), and never in machine output.
    expect(coloured.stdout).toContain("\u001b[33mUnknown\u001b[0m");
    expect(parseTable(coloured.stdout.replace(/\u001b\[[0-9;]*m/g, "")).rows).toHaveLength(10);
    expect(plainJson.stdout).not.toContain("\u001b[");
    const list = JSON.parse(json.stdout);
    expect(Object.keys(list)).toEqual(["apiVersion", "kind", "items", "metadata"]);
    expect(list).toMatchObject({ apiVersion: "v1", kind: "List", items: [{ kind: "InferenceService", metadata: { name: "classify-auto" } }] });
    expect(json.stdout).toMatch(/^\{\n {4}"apiVersion"/);
    expect(JSON.parse(one.stdout)).toMatchObject({ kind: "InferenceService", spec: { model: "resnet18" } });
    expect(parse(yaml.stdout).items.map((m: any) => m.metadata.name)).toEqual(["mobilenetv2", "resnet18"]);
    expect(names.stdout).toBe("model.eiaas.io/mobilenetv2\nmodel.eiaas.io/resnet18\n");
  });
});

describe("describe", () => {
  it("an InferenceService: spec, the plan per client, predicted and measured latency per client, cache hit and filter skip rates, its tasks, conditions and events with ages", async () => {
    const isvc = await client.get("isvc", "classify-auto", { namespace: "demo" });
    const now = new Date().toISOString();
    const predicted = (latencyMs: number) => ({ latencyMs, deviceEnergyMj: 134.4, accuracy: 0.698, uplinkBytes: 0 });
    await client.patch(
      "isvc",
      "classify-auto",
      {
        status: {
          phase: "Running",
          conditions: [
            { type: "Scheduled", status: "True", reason: "Planned", message: "planned 2 client(s)", lastTransitionTime: now },
            { type: "Ready", status: "True", reason: "TasksRunning", message: "", lastTransitionTime: now },
          ],
          plan: {
            clients: [
              { client: "cam-1", architecture: "device", split: 10, headNode: "cam-1", variant: "base", exitAfterLayer: 10, predicted: predicted(13.4) },
              { client: "cam-2", architecture: "edge", split: 0, tailNode: "edge-lab", variant: "resnet18-int8", exitAfterLayer: 7, predicted: { ...predicted(198.4), uplinkBytes: 602112 } },
            ],
          },
          // cam-2 measured its plan (and an option it had before); cam-1 measured nothing yet.
          measured: [
            { client: "cam-2", architecture: "edge", split: 0, tailNode: "edge-lab", variant: "resnet18-int8", exitAfterLayer: 7, latencyMs: 250, count: 40, predictedMs: 198.4, observedTime: now },
            { client: "cam-2", architecture: "cloud", split: 0, tailNode: "cloud-1", variant: "base", exitAfterLayer: 10, latencyMs: 400, count: 12, observedTime: now },
          ],
          serving: { requests: 400, cacheHits: 100, cacheMisses: 300, filterSkips: 36, cacheHitRate: 0.25, filterSkipRate: 0.09 },
        },
      },
      { namespace: "demo", subresource: "status" },
    );
    const owner = [{ apiVersion: "eiaas.io/v1alpha1", kind: "InferenceService", name: "classify-auto", uid: isvc.metadata.uid, controller: true }];
    for (const [name, node, role] of [
      ["classify-auto-cam-1", "cam-1", "serve"],
      ["classify-auto-edge-lab", "edge-lab", "tail"],
    ] as const) {
      await client.create("tasks", { apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name, namespace: "demo", ownerReferences: owner }, spec: { nodeName: node, role } });
      await client.patch("tasks", name, { status: { phase: "Running" } }, { namespace: "demo", subresource: "status" });
    }
    await client.create("tasks", { apiVersion: "eiaas.io/v1alpha1", kind: "Task", metadata: { name: "someone-else", namespace: "demo" }, spec: { nodeName: "cam-1", role: "serve" } });
    await client.create("events", {
      apiVersion: "eiaas.io/v1alpha1",
      kind: "Event",
      metadata: { name: "classify-auto.1", namespace: "demo" },
      involvedObject: { kind: "InferenceService", name: "classify-auto", namespace: "demo", uid: isvc.metadata.uid },
      reason: "Scheduled",
      message: "planned 2 client(s) with 2 task(s)",
      source: { component: "eiaas-scheduler" },
      lastTimestamp: now,
    });
    const [out, node] = await Promise.all([run("describe", "isvc", "classify-auto"), run("describe", "node", "cam-1")]);
    expect(out.stderr).toBe("");
    const text = out.stdout;
    expect(text).toMatch(/^Name:         classify-auto\nNamespace:    demo\nLabels:       <none>\n/);
    expect(text).toContain("  Clients:       tier=device (2 req/s each)\n");
    expect(text).toContain("  SLO:           latency <= 180ms\n");
    expect(text).toMatch(/Plan:\n  CLIENT\s+ARCHITECTURE\s+SPLIT\s+HEAD\s+TAIL\s+EXIT\s+VARIANT\s+LATENCY\s+ENERGY\s+ACCURACY\s+UPLINK\n/);
    expect(text).toMatch(/\n  cam-1\s+device\s+10\s+cam-1\s+-\s+10\s+base\s+13\.4ms\s+134\.4mJ\s+0\.698\s+0B\n/);
    expect(text).toMatch(/\n  cam-2\s+edge\s+0\s+-\s+edge-lab\s+7\s+resnet18-int8\s+198\.4ms\s+134\.4mJ\s+0\.698\s+588Ki\n/);
    expect(text).toMatch(/\nServing:\n  Requests:\s+400\n  Cache hits:\s+100 \(25\.0%\)\n  Cache misses:\s+300\n  Filter skips:\s+36 \(9\.0%\)\n/);
    expect(text).toContain("  Caching:       <none>\n");
    expect(text).toMatch(/Latency:\n  CLIENT\s+PREDICTED\s+MEASURED\s+OFF\s+REQUESTS\s+OBSERVED\n/);
    expect(text).toMatch(/\n  cam-1\s+13\.4ms\s+-\s+-\s+-\s+-\n/);
    expect(text).toContain(`cam-2`);
    expect(text).toMatch(new RegExp(`\\n  cam-2\\s+198\\.4ms\\s+250\\.0ms\\s+\\+26%\\s+40\\s+${now.replace(/\./g, "\\.")}\\n`));
    expect(text).not.toContain("400.0ms");
    expect(text).toMatch(/Tasks:\n  NAME\s+ROLE\s+NODE\s+PHASE\s+LAYERS\s+AGE\n  -+\s+-+/);
    expect(text).toMatch(/\n  classify-auto-cam-1\s+serve\s+cam-1\s+Running\s+-\s+\d+s\n/);
    expect(text).toMatch(/\n  classify-auto-edge-lab\s+tail\s+edge-lab\s+Running/);
    expect(text).not.toContain("someone-else");
    expect(text).toMatch(/Conditions:\n  TYPE\s+STATUS\s+REASON\s+MESSAGE\s+AGE\n.*\n  Scheduled\s+True\s+Planned\s+planned 2 client\(s\)\s+\d+s\n  Ready\s+True\s+TasksRunning\s+-\s+\d+s\n/);
    expect(text).toMatch(/Events:\n  TYPE\s+REASON\s+AGE\s+FROM\s+MESSAGE\n.*\n  Normal\s+Scheduled\s+\d+s\s+eiaas-scheduler\s+planned 2 client\(s\) with 2 task\(s\)\n$/);
    expect(node.stdout).toContain("  Hardware:       jetson-nano\n");
    expect(node.stdout).toMatch(/Tasks:\n  NAME\s+NAMESPACE\s+ROLE\s+NODE\s+PHASE/);
    expect(node.stdout).toMatch(/\n  classify-auto-cam-1\s+demo\s+serve\s+cam-1\s+Running/);
    expect(node.stdout).toMatch(/\n  someone-else\s+demo\s+serve\s+cam-1\s+Pending/);
  });

  it("a TrainingJob's plan; unknown names are one error line each", async () => {
    await client.patch(
      "tj",
      "street-federated",
      { status: { phase: "Running", round: 3, plan: { participants: ["cam-1", "cam-3", "pi-1"], aggregator: "edge-3", localSteps: 10 } } },
      { namespace: "demo", subresource: "status" },
    );
    const [tj, missing] = await Promise.all([run("describe", "tj", "street-federated"), run("describe", "tj", "nope")]);
    expect(tj.stdout).toContain("  Mode:          federated\n");
    expect(tj.stdout).toContain("  Local steps:   auto (at most 100)\n");
    expect(tj.stdout).toMatch(/Round:\s+3\/50\n/);
    expect(tj.stdout).toMatch(/Plan:\n  Participants:\s+cam-1, cam-3, pi-1\n  Aggregator:\s+edge-3\n  Local steps:\s+10\n/);
    expect(oneErrorLine(missing)).toBe('Error from server (NotFound): trainingjobs "nope" not found');
  });

  it("a training job's KPIs: describe draws the loss and accuracy curves, get -o wide shows the latest loss, accuracy and bytes", async () => {
    const history = Array.from({ length: 12 }, (_, i) => ({
      round: i + 1,
      tau: 10,
      loss: 2 / (i + 1),
      testLoss: 2.1 / (i + 1),
      accuracy: 0.4 + 0.05 * i,
      bytesUp: 1300,
      bytesDown: 4890,
      wallSeconds: 0.25,
      energyJoules: 1.5,
      participants: i === 11 ? 1 : 2,
      ...(i === 11 ? { missed: ["pi-1"] } : {}),
    }));
    await client.patch(
      "tj",
      "street-federated",
      { status: { training: { round: 12, tau: 10, loss: history[11]!.loss, accuracy: history[11]!.accuracy, bytesUp: 15_600, bytesDown: 58_680, budgetUsedSeconds: 3, history } } },
      { namespace: "demo", subresource: "status" },
    );
    const [tj, wide] = await Promise.all([run("describe", "tj", "street-federated"), run("get", "tj", "-o", "wide")]);
    expect(tj.stdout).toMatch(/Training:\n  Data:\s+synthetic \(α 0.5, β 0.5\)\n/);
    expect(tj.stdout).toMatch(/Accuracy:\s+95\.0% held-out\n/);
    expect(tj.stdout).toMatch(/Last round:\s+0\.25s, 1 participant\(s\), missed pi-1, 1\.50 J\n/);
    // falling loss: the curve starts at its highest bar and ends at its lowest; accuracy the other way
    expect(tj.stdout).toMatch(/Loss curve:\s+█[▁-█]{10}▁  2\.000 → 0\.167 \(rounds 1\.\.12\)\n/);
    expect(tj.stdout).toMatch(/Accuracy curve:\s+▁[▁-█]{10}█  0\.400 → 0\.950\n/);
    const { header, rows } = parseTable(wide.stdout);
    const row = rows.find((r) => r[header.indexOf("NAME")] === "street-federated")!;
    expect(["LOSS", "ACCURACY", "BYTES"].map((c) => row[header.indexOf(c)])).toEqual(["0.1667", "0.9500", "15600/58680"]);
  });
});

describe("create, delete, tokens", () => {
  it("create -f, AlreadyExists, delete by name and from a file with --wait, --ignore-not-found", async () => {
    const created = await run("create", "-f", ex("vgg16.yaml"), "-f", ex("isvc-edge.yaml"));
    expect(created.stdout).toBe("model/vgg16 created\ninferenceservice/vgg16-edge created\n");
    const [dup, byName] = await Promise.all([run("create", "-f", ex("isvc-edge.yaml")), run("delete", "model", "vgg16")]);
    expect(oneErrorLine(dup)).toBe('Error from server (AlreadyExists): inferenceservices "vgg16-edge" already exists');
    expect(byName.stdout).toBe('model.eiaas.io "vgg16" deleted\n');
    const [fromFile, missing, ignored] = await Promise.all([run("delete", "-f", ex("isvc-edge.yaml"), "--wait"), run("delete", "isvc", "nope"), run("delete", "isvc", "nope", "--ignore-not-found")]);
    expect(fromFile.stdout).toBe('inferenceservice.eiaas.io "vgg16-edge" deleted\n');
    await expect(client.get("isvc", "vgg16-edge", { namespace: "demo" })).rejects.toMatchObject({ code: 404 });
    expect(oneErrorLine(missing)).toBe('Error from server (NotFound): inferenceservices "nope" not found');
    expect(ignored).toMatchObject({ code: 0, stdout: "", stderr: "" });
  });

  it("create token prints the secret once; get tokens; the token works until deleted; bootstrap tokens", async () => {
    const minted = await run("create", "token", "demo", "--name", "ci", "--expires-in", "1h");
    const secret = minted.stdout.trim();
    expect(secret).toMatch(/^\S{32,}$/);
    const [asTenant, list, boot] = await Promise.all([
      run("get", "isvc", "-o", "name", "--token", secret),
      run("get", "tokens", "demo"),
      run("create", "bootstraptoken", "--name", "fleet", "-o", "json"),
    ]);
    expect(asTenant.stdout).toBe("inferenceservice.eiaas.io/classify-auto\n");
    const t = parseTable(list.stdout);
    expect(t.header).toEqual(["NAME", "AGE", "EXPIRES"]);
    expect(t.rows).toEqual([["ci", expect.stringMatching(/^\d+s$/), expect.stringMatching(/^\d{4}-\d\d-\d\dT/)]]);
    expect(list.stdout).not.toContain(secret);
    // Single-use and 24 h unless told otherwise.
    expect(JSON.parse(boot.stdout)).toMatchObject({ kind: "Token", metadata: { name: "fleet" }, token: expect.any(String), maxUses: 1, uses: 0, expiresAt: expect.any(String) });
    const [deleted, bootList] = await Promise.all([run("delete", "token", "demo", "ci"), run("get", "bootstraptokens", "-o", "name")]);
    expect(deleted.stdout).toBe('token "ci" deleted\n');
    expect(bootList.stdout).toBe("token/fleet\n");
    const [revoked, badExpiry] = await Promise.all([run("get", "isvc", "--token", secret), run("create", "token", "demo", "--expires-in", "-5m")]);
    expect(oneErrorLine(revoked)).toMatch(/^Error from server \(Unauthorized\): /);
    expect(oneErrorLine(badExpiry)).toMatch(/^error: /);
  });

  it("create bootstraptoken --max-uses N --ttl D; get bootstraptokens shows USES; bad values are one-line errors", async () => {
    const [three, forever] = await Promise.all([
      run("create", "bootstraptoken", "--name", "rack-3", "--max-uses", "3", "--ttl", "1h", "-o", "json"),
      run("create", "bootstraptoken", "--name", "lab", "--max-uses", "0", "--ttl", "0", "-o", "json"),
    ]);
    const t3 = JSON.parse(three.stdout);
    expect(t3).toMatchObject({ metadata: { name: "rack-3" }, maxUses: 3, uses: 0 });
    expect(Date.parse(t3.expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000);
    expect(Date.parse(t3.expiresAt) - Date.now()).toBeGreaterThan(3000_000);
    const tl = JSON.parse(forever.stdout);
    expect(tl.expiresAt).toBeUndefined();
    expect(tl.maxUses).toBeUndefined();
    // One registration spends one use.
    const agent = new EiaasClient({ server: server.url, token: t3.token, caPem: server.caPem });
    try {
      await agent.request({ method: "POST", path: "/apis/eiaas.io/v1alpha1/edgenodes/rack-3-node/register", body: { spec: { tier: "edge" } } });
    } finally {
      agent.close();
    }
    const table = parseTable((await run("get", "bootstraptokens")).stdout);
    expect(table.header).toEqual(["NAME", "AGE", "EXPIRES", "USES"]);
    expect(table.rows.find((r) => r[0] === "lab")).toEqual(["lab", expect.stringMatching(/^\d+s$/), "<never>", "0/unlimited"]);
    expect(table.rows.find((r) => r[0] === "rack-3")?.[3]).toBe("1/3");
    const [negative, notNumber, both] = await Promise.all([
      run("create", "bootstraptoken", "--max-uses", "-1"),
      run("create", "bootstraptoken", "--max-uses", "two"),
      run("create", "bootstraptoken", "--ttl", "1h", "--expires-in", "1h"),
    ]);
    for (const r of [negative, notNumber, both]) expect(oneErrorLine(r)).toMatch(/^error: /);
  });
});
