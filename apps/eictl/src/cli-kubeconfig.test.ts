// eictl and the real kubectl binary on the same kubeconfig files, against two real API servers:
// KUBECONFIG merged as kubectl merges it, contexts switched by either tool, -n/--context/--kubeconfig
// overrides, the one-time import of the old ~/.eiaas/config, and bad kubeconfig as one line.
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse, stringify } from "yaml";
import { EiaasClient } from "@eiaas/client";
import { eictl, oneErrorLine, startServer, type TestServer } from "@eiaas/testing/eictl";

vi.setConfig({ testTimeout: 90_000 });

const run = promisify(execFile);
let a: TestServer;
let b: TestServer;
let dir: string;

/** Stock kubectl on the given KUBECONFIG (its discovery cache kept out of the real home). */
async function kubectl(kubeconfig: string, ...args: string[]): Promise<string> {
  const r = await run("kubectl", ["--cache-dir", join(dir, "kubectl-cache"), ...args], { env: { ...process.env, KUBECONFIG: kubeconfig }, timeout: 30_000 });
  return r.stdout;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eictl-kubeconfig-"));
  [a, b] = await Promise.all([startServer(), startServer()]);
  // One tenant on each server tells them apart.
  for (const [server, name] of [
    [a, "on-a"],
    [b, "on-b"],
  ] as const) {
    const client = new EiaasClient({ server: server.url, token: server.adminToken, caPem: server.caPem });
    await client.create("tenants", { apiVersion: "eiaas.io/v1alpha1", kind: "Tenant", metadata: { name } });
    client.close();
  }
}, 180_000);
afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await rm(dir, { recursive: true, force: true });
});

describe("eictl on kubeconfig, beside kubectl", () => {
  it("kubectl config use-context switches eictl's server; eictl config use-context switches kubectl's", async () => {
    const [fa, fb] = [join(dir, "a"), join(dir, "b")];
    const config = `${fa}:${fb}`;
    const e = (...args: string[]) => eictl(args, { config });
    const setup = [
      await e("--kubeconfig", fb, "config", "set-context", "beta", "--server", b.url, "--token", b.adminToken, "--certificate-authority", b.caPath, "-n", "ns-b"),
      await e("--kubeconfig", fa, "config", "set-context", "alpha", "--server", a.url, "--token", a.adminToken, "--certificate-authority", a.caPath, "--embed-certs", "-n", "ns-a"),
      // The same name in the second file: the first file's wins, for kubectl as for eictl.
      await e("--kubeconfig", fb, "config", "set-context", "alpha", "--cluster", "beta", "--user", "beta"),
    ];
    expect(setup.map((r) => r.stdout)).toEqual(['Context "beta" created.\n', 'Context "alpha" created.\n', 'Context "alpha" created.\n']);

    expect(await kubectl(config, "config", "use-context", "beta")).toBe('Switched to context "beta".\n');
    const onB = await e("get", "tenants", "-o", "name");
    expect(onB.stdout).toContain("tenant.eiaas.io/on-b\n");
    expect(onB.stdout).not.toContain("on-a");
    // The context's namespace is the default namespace.
    expect((await e("get", "models")).stderr).toBe("No resources found in ns-b namespace.\n");

    await kubectl(config, "config", "use-context", "alpha");
    const [onA, current, other, flagContext, explicit] = await Promise.all([
      e("get", "tenants", "-o", "name"),
      e("config", "current-context"),
      e("get", "models", "-n", "other"),
      e("--context", "beta", "get", "tenants", "-o", "name"),
      e("--kubeconfig", fb, "--context", "alpha", "get", "tenants", "-o", "name"),
    ]);
    expect(onA.stdout).toContain("tenant.eiaas.io/on-a\n");
    expect(onA.stdout).not.toContain("on-b");
    expect(current.stdout).toBe("alpha\n");
    expect(other.stderr).toBe("No resources found in other namespace.\n");
    expect(flagContext.stdout).toContain("on-b");
    expect(explicit.stdout).toContain("on-b");

    expect((await e("config", "use-context", "beta")).stdout).toBe('Switched to context "beta".\n');
    expect(await kubectl(config, "config", "current-context")).toBe("beta\n");
    // kubectl put current-context into the first file; new entries went where kubectl puts them.
    expect(parse(await readFile(fa, "utf8"))["current-context"]).toBe("beta");
    expect(parse(await readFile(fb, "utf8"))["current-context"]).toBeUndefined();
    // Both list the same contexts and print the same merged, redacted view.
    expect((await e("config", "get-contexts", "-o", "name")).stdout.split("\n").sort()).toEqual((await kubectl(config, "config", "get-contexts", "-o", "name")).split("\n").sort());
    const [ours, theirs] = await Promise.all([e("config", "view", "-o", "json"), kubectl(config, "config", "view", "-o", "json")]);
    expect(JSON.parse(ours.stdout)).toEqual(JSON.parse(theirs));
    expect(ours.stdout).not.toContain(b.adminToken);
    // And kubectl itself talks to eiaas with what eictl wrote.
    expect(await kubectl(config, "get", "tenants", "-o", "name")).toContain("tenant.eiaas.io/on-b");
  });

  it("keeps what other tools put in kubeconfig (extensions, exec users, preferences)", async () => {
    const file = join(dir, "foreign");
    const foreign = {
      apiVersion: "v1",
      kind: "Config",
      preferences: {},
      clusters: [{ name: "c", cluster: { server: a.url, extensions: [{ name: "tool.example/c", extension: { zone: "x" } }] } }],
      users: [{ name: "cloud", user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "cloud-auth-plugin", interactiveMode: "Never" } } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "cloud", extensions: [{ name: "tool.example/ctx", extension: { k: "v" } }] } }],
      "current-context": "c",
    };
    await writeFile(file, stringify(foreign));
    const r = await eictl(["config", "set-context", "c", "-n", "team"], { config: file });
    expect(r.stdout).toBe('Context "c" modified.\n');
    expect(JSON.parse(await kubectl(file, "config", "view", "--raw", "-o", "json")).contexts[0].context.extensions[0]).toEqual({ name: "tool.example/ctx", extension: { k: "v" } });
    expect(parse(await readFile(file, "utf8"))).toEqual({ ...foreign, contexts: [{ name: "c", context: { ...foreign.contexts[0]!.context, namespace: "team" } }] });
    // An exec user is not eictl's to run: one line says what to do.
    expect(oneErrorLine(await eictl(["get", "tenants"], { config: file }))).toBe(
      `error: user "cloud" in ${file} signs in with an exec plugin, which eictl does not support: give it a token ('eictl config set-context c --token TOKEN')`,
    );
  });
});

describe("the old private config (~/.eiaas/config)", () => {
  it("is imported once into kubeconfig with a one-line notice, then kubectl and eictl use it", async () => {
    const home = join(dir, "home");
    await mkdir(join(home, ".eiaas"), { recursive: true });
    const legacy = join(home, ".eiaas", "config");
    await writeFile(
      legacy,
      stringify({
        apiVersion: "eiaas.io/v1alpha1",
        kind: "Config",
        currentContext: "old",
        contexts: [{ name: "old", server: b.url, token: b.adminToken, namespace: "ns-old", certificateAuthority: b.caPath }],
      }),
    );
    const config = join(home, ".kube", "config");
    const env = { HOME: home, EIAAS_CONFIG: "" };
    const first = await eictl(["get", "tenants", "-o", "name"], { config, env });
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("tenant.eiaas.io/on-b");
    expect(first.stderr).toBe(`eictl: imported the contexts old of the old config ${legacy} into the kubeconfig ${config} (the old file is kept as ${legacy}.imported)\n`);
    const again = await eictl(["get", "models"], { config, env });
    expect(again.stderr).toBe("No resources found in ns-old namespace.\n");
    expect(await kubectl(config, "config", "current-context")).toBe("old\n");
    expect(await readFile(`${legacy}.imported`, "utf8")).toContain("eiaas.io/v1alpha1");
  });

  it("that cannot be read is refused with how to migrate", async () => {
    const legacy = join(dir, "bad-legacy");
    await writeFile(legacy, "contexts:\n  - name: x\n");
    const r = await eictl(["get", "tenants"], { config: join(dir, "unused"), env: { EIAAS_CONFIG: legacy } });
    expect(oneErrorLine(r)).toBe(
      `error: cannot import the old eictl config ${legacy} into kubeconfig: contexts[0] needs a name and a server; fix it, or move it away and re-create its contexts with 'eictl config set-context NAME --server URL --token TOKEN'`,
    );
  });
});

describe("bad kubeconfig: exit 1, one line, no stack", () => {
  it("unreadable, not YAML, a missing context, a context without user, a missing --kubeconfig", async () => {
    const notYaml = join(dir, "not-yaml");
    await writeFile(notYaml, "clusters: [\n");
    const noUser = join(dir, "no-user");
    await writeFile(noUser, stringify({ clusters: [{ name: "c", cluster: { server: a.url } }], contexts: [{ name: "c", context: { cluster: "c" } }], "current-context": "c" }));
    const [unreadable, yaml, missing, userless, absent] = await Promise.all([
      eictl(["get", "tenants"], { config: dir }),
      eictl(["get", "tenants"], { config: notYaml }),
      eictl(["--context", "nope", "get", "tenants"], { config: noUser }),
      eictl(["get", "tenants"], { config: noUser }),
      eictl(["--kubeconfig", join(dir, "absent"), "get", "tenants"], { config: noUser }),
    ]);
    expect(oneErrorLine(unreadable)).toBe(`error: cannot read the kubeconfig file ${dir}: EISDIR`);
    expect(oneErrorLine(yaml)).toMatch(new RegExp(`^error: the kubeconfig file ${notYaml} is not valid YAML: `));
    expect(oneErrorLine(missing)).toBe(`error: context "nope" not found in the kubeconfig (${noUser}): see 'eictl config get-contexts'`);
    expect(oneErrorLine(userless)).toBe(`error: context "c" has no user: run 'eictl config set-context c --token TOKEN', or pass --token`);
    expect(oneErrorLine(absent)).toBe(`error: the kubeconfig file ${join(dir, "absent")} (--kubeconfig) does not exist`);
  });
});
