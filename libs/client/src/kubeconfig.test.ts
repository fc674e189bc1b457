import { lstat, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { resolveConnection } from "./connection.js";
import { Kubeconfig } from "./kubeconfig.js";
import { deleteContext, setContext, useContext, writeDemoContext } from "./kubeconfig-edit.js";
import { importLegacyConfig, legacyImportNotice } from "./legacy-config.js";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "eiaas-kubeconfig-"));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const envOf = (...files: string[]) => ({ KUBECONFIG: files.join(":"), HOME: dir, EIAAS_CONFIG: join(dir, "no-legacy") });
const kubeconfig = (o: { current?: string; contexts?: Array<[string, string, string, string?]>; clusters?: Array<[string, string]>; users?: Array<[string, string]> }) =>
  stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: (o.clusters ?? []).map(([name, server]) => ({ name, cluster: { server } })),
    users: (o.users ?? []).map(([name, token]) => ({ name, user: { token } })),
    contexts: (o.contexts ?? []).map(([name, cluster, user, namespace]) => ({ name, context: { cluster, user, ...(namespace ? { namespace } : {}) } })),
    ...(o.current ? { "current-context": o.current } : {}),
  });

describe("kubeconfig merged as kubectl merges it", () => {
  it("the first file that defines a name or sets current-context wins; missing files in KUBECONFIG are skipped", async () => {
    const [a, b] = [join(dir, "a"), join(dir, "b")];
    await writeFile(a, kubeconfig({ clusters: [["shared", "https://a:1"]], users: [["u", "ta"]], contexts: [["x", "shared", "u", "ns-a"]] }));
    await writeFile(
      b,
      kubeconfig({
        current: "y",
        clusters: [["shared", "https://b:1"]],
        users: [["u", "tb"]],
        contexts: [
          ["x", "shared", "u"],
          ["y", "shared", "u", "ns-y"],
        ],
      }),
    );
    const env = envOf(a, join(dir, "missing"), b);
    const kc = await Kubeconfig.load({ env });
    expect(kc.currentContext).toBe("y");
    expect(kc.list("contexts").map((c) => [c.name, c.file.path])).toEqual([
      ["x", a],
      ["y", b],
    ]);
    expect(await resolveConnection({ location: { env } })).toMatchObject({ server: "https://a:1", token: "ta", namespace: "ns-y", context: "y" });
    expect(await resolveConnection({ location: { env }, flags: { context: "x", namespace: "n" } })).toMatchObject({ server: "https://a:1", namespace: "n", namespaceExplicit: true });
    // --kubeconfig: that file only.
    expect(await resolveConnection({ location: { explicitPath: b, env }, flags: { context: "x" } })).toMatchObject({
      server: "https://b:1",
      token: "tb",
      namespace: "default",
      namespaceExplicit: false,
    });
  });

  it("edits go where kubectl puts them: current-context into the file that set it, new entries into the first existing file", async () => {
    const [a, b, c] = [join(dir, "a"), join(dir, "b"), join(dir, "c")];
    await writeFile(b, kubeconfig({ clusters: [["cb", "https://b:1"]], users: [["ub", "tb"]], contexts: [["in-b", "cb", "ub"]] }));
    await writeFile(c, kubeconfig({ current: "in-b" }));
    const env = envOf(a, b, c);
    await setContext({ env }, { name: "new", server: "https://n:1", token: "tn", namespace: "ns" });
    await setContext({ env }, { name: "in-b", namespace: "changed" });
    await useContext({ env }, "new");
    const [docB, docC] = [parse(await readFile(b, "utf8")), parse(await readFile(c, "utf8"))];
    expect(docB.contexts.map((x: { name: string }) => x.name)).toEqual(["in-b", "new"]);
    expect(docB.contexts[0].context).toEqual({ cluster: "cb", user: "ub", namespace: "changed" });
    expect(docB.users.find((u: { name: string }) => u.name === "new").user.token).toBe("tn");
    expect(docC["current-context"]).toBe("new");
    expect(docB["current-context"]).toBeUndefined();
    await expect(useContext({ env }, "nope")).rejects.toThrow('no context exists with the name: "nope"');
    expect(await deleteContext({ env }, "in-b")).toEqual({ file: b, wasCurrent: false });
    // The file a never existed and got nothing.
    await expect(stat(a)).rejects.toThrow(/ENOENT/);
  });

  it("a new file is 0600; a rewrite keeps every field another tool wrote, and writes through a symbolic link", async () => {
    const real = join(dir, "real");
    const link = join(dir, "link");
    const foreign = {
      apiVersion: "v1",
      kind: "Config",
      preferences: { colors: true },
      extensions: [{ name: "tool.example/x", extension: { a: 1 } }],
      clusters: [{ name: "c", cluster: { server: "https://c:1", extensions: [{ name: "e", extension: { k: "v" } }] } }],
      users: [{ name: "gke", user: { exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "gke-gcloud-auth-plugin" } } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "gke", extensions: [{ name: "e", extension: { z: 1 } }] } }],
      "current-context": "c",
    };
    await writeFile(real, stringify(foreign), { mode: 0o640 });
    await symlink(real, link);
    await setContext({ explicitPath: link }, { name: "c", namespace: "ns" });
    expect((await lstat(link)).isSymbolicLink()).toBe(true);
    expect((await stat(real)).mode & 0o777).toBe(0o640);
    const doc = parse(await readFile(real, "utf8"));
    expect(doc).toEqual({ ...foreign, contexts: [{ name: "c", context: { ...foreign.contexts[0]!.context, namespace: "ns" } }] });
    // client-node's own KubeConfig reads the result.
    const kc = new KubeConfig();
    kc.loadFromFile(real);
    expect(kc.getCurrentContext()).toBe("c");
    expect(kc.getContextObject("c")?.namespace).toBe("ns");
    const fresh = join(dir, "sub", "fresh");
    await setContext({ explicitPath: fresh }, { name: "f", server: "https://f:1", token: "t", certificateAuthorityData: Buffer.from(PEM).toString("base64") });
    expect((await stat(fresh)).mode & 0o777).toBe(0o600);
  });

  it("twelve writers at once lose nothing (the files' locks)", async () => {
    const env = envOf(join(dir, "k"));
    await Promise.all(Array.from({ length: 12 }, (_, i) => setContext({ env }, { name: `c${i}`, server: `https://h${i}:1`, token: `t${i}` })));
    const kc = await Kubeconfig.load({ env });
    expect(
      kc
        .list("contexts")
        .map((c) => c.name)
        .sort(),
    ).toEqual(Array.from({ length: 12 }, (_, i) => `c${i}`).sort());
    expect(kc.list("users")).toHaveLength(12);
  });

  it("writeDemoContext replaces its own entries, keeps the others and says which context was current", async () => {
    const file = join(dir, "k");
    await writeFile(file, kubeconfig({ current: "prod", clusters: [["prod", "https://prod:1"]], users: [["prod", "tp"]], contexts: [["prod", "prod", "prod"]] }));
    expect(await writeDemoContext({ server: "https://127.0.0.1:8443", token: "s1", caPem: PEM, configPath: file })).toEqual({ path: file, previous: "prod" });
    expect(await writeDemoContext({ server: "https://127.0.0.1:9443", token: "s2", caPem: PEM, configPath: file })).toEqual({ path: file });
    const kc = await Kubeconfig.load({ explicitPath: file });
    expect(kc.list("contexts").map((c) => c.name)).toEqual(["prod", "eiaas-demo"]);
    expect(await resolveConnection({ kubeconfig: kc })).toMatchObject({ server: "https://127.0.0.1:9443", token: "s2", caPem: PEM, namespace: "demo", context: "eiaas-demo" });
  });
});

describe("bad kubeconfig: one ConfigError naming what to fix", () => {
  it("unreadable, not YAML, missing context, no cluster, no user, a user eictl cannot use", async () => {
    const file = join(dir, "k");
    const at = (text: string) => writeFile(file, text).then(() => resolveConnection({ location: { explicitPath: file } }));
    await mkdir(join(dir, "isdir"));
    await expect(resolveConnection({ location: { explicitPath: join(dir, "isdir") } })).rejects.toThrow(`cannot read the kubeconfig file ${join(dir, "isdir")}: EISDIR`);
    await expect(resolveConnection({ location: { explicitPath: join(dir, "absent") } })).rejects.toThrow("(--kubeconfig) does not exist");
    await expect(at("a: [")).rejects.toThrow(/is not valid YAML/);
    await expect(at("contexts: {}")).rejects.toThrow("contexts must be a list");
    await expect(at(kubeconfig({ current: "gone" }))).rejects.toThrow(`the current context "gone" is not in the kubeconfig (${file}): run 'eictl config use-context NAME'`);
    await expect(at(kubeconfig({}))).rejects.toThrow(/^no context is set in the kubeconfig/);
    await expect(at(kubeconfig({ current: "x", contexts: [["x", "nowhere", "u"]] }))).rejects.toThrow('context "x" names the cluster "nowhere", which is not in the kubeconfig');
    await expect(at(kubeconfig({ current: "x", clusters: [["c", "https://c:1"]], contexts: [["x", "c", ""]] }))).rejects.toThrow(
      `context "x" has no user: run 'eictl config set-context x --token TOKEN', or pass --token`,
    );
    await expect(at(kubeconfig({ current: "x", clusters: [["c", "https://c:1"]], contexts: [["x", "c", "ghost"]] }))).rejects.toThrow('context "x" names the user "ghost"');
    await expect(at(kubeconfig({ current: "x", clusters: [["c", "ftp://c"]], users: [["u", "t"]], contexts: [["x", "c", "u"]] }))).rejects.toThrow('invalid server URL "ftp://c"');
    await expect(at(kubeconfig({ current: "x", clusters: [["c", "https://c:1"]], users: [["u", "t\r\nX-Admin: 1"]], contexts: [["x", "c", "u"]] }))).rejects.toThrow(
      'the token of context "x" is not printable ASCII without spaces',
    );
    const exec = stringify({
      "current-context": "x",
      clusters: [{ name: "c", cluster: { server: "https://c:1" } }],
      users: [{ name: "u", user: { exec: { command: "x" } } }],
      contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    });
    await expect(at(exec)).rejects.toThrow(`user "u" in ${file} signs in with an exec plugin, which eictl does not support`);
    const tokenFile = exec.replace(/exec:\n\s+command: x/, "token-file: tok");
    await expect(at(tokenFile)).rejects.toThrow(`cannot read its token-file ${join(dir, "tok")}: ENOENT`);
    await writeFile(join(dir, "tok"), "from-file\n");
    expect((await resolveConnection({ location: { explicitPath: file } })).token).toBe("from-file");
    await expect(setContext({ explicitPath: file }, { name: "y", namespace: "n" })).rejects.toThrow('context "y" needs a cluster');
    await expect(setContext({ explicitPath: file }, { name: "y", server: "https://y:1", token: "a b" })).rejects.toThrow("invalid token");
  });
});

describe("the old private config", () => {
  it("is imported once into kubeconfig (kubeconfig wins on a name), then kept aside", async () => {
    const legacy = join(dir, "old", "config");
    await mkdir(join(dir, "old"));
    await writeFile(join(dir, "old", "ca.crt"), PEM);
    await writeFile(
      legacy,
      stringify({
        apiVersion: "eiaas.io/v1alpha1",
        kind: "Config",
        currentContext: "lab",
        contexts: [
          { name: "lab", server: "https://lab:8443", token: "tl", namespace: "vision", certificateAuthority: "ca.crt" },
          { name: "prod", server: "https://other:1", token: "tx" },
        ],
      }),
    );
    const kube = join(dir, "kube");
    await writeFile(
      kube,
      kubeconfig({
        clusters: [
          ["lab", "https://taken:1"],
          ["prod", "https://prod:1"],
        ],
        users: [["prod", "tp"]],
        contexts: [["prod", "prod", "prod"]],
      }),
    );
    const env = { KUBECONFIG: kube, EIAAS_CONFIG: legacy, HOME: dir };
    const done = (await importLegacyConfig({ env }))!;
    expect(done).toEqual({ from: legacy, into: kube, keptAs: `${legacy}.imported`, imported: ["lab"], skipped: ["prod"] });
    expect(legacyImportNotice(done)).toBe(
      `eictl: imported the contexts lab of the old config ${legacy} into the kubeconfig ${kube} (the old file is kept as ${legacy}.imported); left out prod: the kubeconfig has contexts of those names`,
    );
    expect(await importLegacyConfig({ env })).toBeUndefined();
    // The cluster name "lab" was taken: the context got a cluster of its own, its CA path absolute.
    expect(await resolveConnection({ location: { env } })).toMatchObject({ context: "lab", server: "https://lab:8443", token: "tl", namespace: "vision", caPem: PEM });
    expect((await Kubeconfig.load({ env })).find("contexts", "lab")?.body.cluster).toBe("lab-1");
    await writeFile(legacy, "contexts: {}");
    await expect(importLegacyConfig({ env })).rejects.toThrow(`cannot import the old eictl config ${legacy} into kubeconfig: contexts is not a list; fix it, or move it away`);
  });
});
