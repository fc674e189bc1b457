import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { ConfigError, defaultConfigPath, deleteContext, emptyConfig, loadConfig, resolveConnection, saveConfig, setContext, updateConfig, useContext, writeDemoContext } from "./config.js";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "eiaas-config-"));
  path = join(dir, "sub", "config");
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe("config file", () => {
  it("EIAAS_CONFIG overrides ~/.eiaas/config; a missing file is empty", async () => {
    expect(defaultConfigPath({ EIAAS_CONFIG: "/x/y" })).toBe("/x/y");
    expect(defaultConfigPath({})).toMatch(/\.eiaas\/config$/);
    expect(await loadConfig(path)).toEqual(emptyConfig());
  });

  it("set-context adds and updates field by field; the first becomes current; saved 0600", async () => {
    let c = setContext(emptyConfig(), { name: "a", server: "https://a:8443", token: "t1", namespace: "demo", insecureSkipTlsVerify: true });
    c = setContext(c, { name: "b", server: "https://b:8443", certificateAuthority: "ca.crt" });
    c = setContext(c, { name: "a", namespace: "other", certificateAuthorityData: "Zm9v" });
    expect(c.currentContext).toBe("a");
    expect(c.contexts[0]).toEqual({ name: "a", server: "https://a:8443", token: "t1", namespace: "other", certificateAuthorityData: "Zm9v" });
    c = useContext(c, "b");
    await saveConfig(c, path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const text = await readFile(path, "utf8");
    expect(parse(text)).toMatchObject({ apiVersion: "eiaas.io/v1alpha1", kind: "Config", currentContext: "b" });
    expect(await loadConfig(path)).toEqual(c);
    expect(deleteContext(c, "b").currentContext).toBeUndefined();
  });

  it("concurrent updates under the lock lose nothing; a stale lock is taken over", async () => {
    await Promise.all(Array.from({ length: 12 }, (_, i) => updateConfig(path, (c) => setContext(c, { name: `c${i}`, server: `https://h${i}` }))));
    expect((await loadConfig(path)).contexts.map((c) => c.name).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `c${i}`).sort());
    const { utimes } = await import("node:fs/promises");
    await writeFile(`${path}.lock`, "");
    const old = new Date(Date.now() - 60_000);
    await utimes(`${path}.lock`, old, old);
    await updateConfig(path, (c) => useContext(c, "c3"));
    expect((await loadConfig(path)).currentContext).toBe("c3");
  });

  it("rejects what cannot work", async () => {
    expect(() => setContext(emptyConfig(), { name: "x" })).toThrow(/needs a server/);
    expect(() => setContext(emptyConfig(), { name: "x", server: "nota url" })).toThrow(/invalid server URL/);
    expect(() => setContext(emptyConfig(), { name: "x", server: "https://x", certificateAuthority: "f", insecureSkipTlsVerify: true })).toThrow(ConfigError);
    expect(() => useContext(emptyConfig(), "nope")).toThrow(/no context exists with the name: "nope"/);
    await writeFile(join(dir, "bad"), "contexts: [ {name: a} ]");
    await expect(loadConfig(join(dir, "bad"))).rejects.toThrow(/contexts\[0\].server: required/);
    await writeFile(join(dir, "bad2"), "contexts:\n  - name: a\n    server: x\n    colour: red\n");
    await expect(loadConfig(join(dir, "bad2"))).rejects.toThrow(/unknown field "colour"/);
    await writeFile(join(dir, "bad3"), "{{{");
    await expect(loadConfig(join(dir, "bad3"))).rejects.toThrow(/not valid YAML/);
  });
});

describe("resolveConnection", () => {
  it("no context and no --server: says how to set one up", async () => {
    await expect(resolveConnection({ configPath: path })).rejects.toThrow(
      "no context is set: run 'eictl config set-context ...' or pass --server and --token",
    );
  });

  it("flags override the context field by field; --context picks another; CA files resolve next to the config", async () => {
    let c = setContext(emptyConfig(), { name: "a", server: "https://a:8443", token: "ta", namespace: "demo", certificateAuthority: "ca.crt" });
    c = setContext(c, { name: "b", server: "https://b:8443", token: "tb", insecureSkipTlsVerify: true });
    await saveConfig(c, path);
    await writeFile(join(dir, "sub", "ca.crt"), PEM);
    const a = await resolveConnection({ configPath: path });
    expect(a).toMatchObject({ server: "https://a:8443", token: "ta", namespace: "demo", namespaceExplicit: true, caPem: PEM, context: "a" });
    const b = await resolveConnection({ configPath: path, flags: { context: "b", namespace: "x" } });
    expect(b).toMatchObject({ server: "https://b:8443", token: "tb", namespace: "x", insecureSkipTlsVerify: true, context: "b" });
    const f = await resolveConnection({ configPath: path, flags: { context: "b", server: "http://c", token: "tc" } });
    expect(f).toMatchObject({ server: "http://c", token: "tc", namespace: "default", namespaceExplicit: false });
    await expect(resolveConnection({ configPath: path, flags: { context: "zz" } })).rejects.toThrow(/context "zz" not found/);
    await expect(resolveConnection({ configPath: path, flags: { certificateAuthority: join(dir, "missing.crt") } })).rejects.toThrow(/cannot read the certificate authority file/);
  });

  it("writeDemoContext writes a current `demo` context with the CA inline and keeps the others", async () => {
    await saveConfig(setContext(emptyConfig(), { name: "prod", server: "https://prod" }), path);
    expect(await writeDemoContext({ server: "https://127.0.0.1:8443", token: "secret", caPem: PEM, configPath: path })).toBe(path);
    const c = await loadConfig(path);
    expect(c.currentContext).toBe("demo");
    expect(c.contexts.map((x) => x.name)).toEqual(["prod", "demo"]);
    const r = await resolveConnection({ configPath: path });
    expect(r).toMatchObject({ server: "https://127.0.0.1:8443", token: "secret", namespace: "demo", caPem: PEM, context: "demo" });
    await writeDemoContext({ server: "https://127.0.0.1:9443", token: "s2", caPem: PEM, configPath: path });
    expect((await loadConfig(path)).contexts.filter((x) => x.name === "demo")).toHaveLength(1);
  });
});
