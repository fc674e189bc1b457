import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { renderKubeconfig, writeKubeconfig } from "./kubeconfig.js";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

describe("renderKubeconfig", () => {
  it("renders a self-contained config with the CA, token and current context", () => {
    const cfg = parse(renderKubeconfig({ server: "https://127.0.0.1:8443", caPem: CA, token: "s3cret", namespace: "acme" }));
    expect(cfg.apiVersion).toBe("v1");
    expect(cfg.kind).toBe("Config");
    expect(cfg["current-context"]).toBe("eiaas");
    expect(cfg.clusters).toEqual([{ name: "eiaas", cluster: { server: "https://127.0.0.1:8443", "certificate-authority-data": Buffer.from(CA).toString("base64") } }]);
    expect(cfg.users).toEqual([{ name: "eiaas-acme", user: { token: "s3cret" } }]);
    expect(cfg.contexts).toEqual([{ name: "eiaas", context: { cluster: "eiaas", user: "eiaas-acme", namespace: "acme" } }]);
    expect(Buffer.from(cfg.clusters[0].cluster["certificate-authority-data"], "base64").toString()).toBe(CA);
  });

  it("honours the context name and leaves out what is not given", () => {
    const cfg = parse(renderKubeconfig({ server: "https://api.test", token: "t", contextName: "prod" }));
    expect(cfg["current-context"]).toBe("prod");
    expect(cfg.clusters[0]).toEqual({ name: "prod", cluster: { server: "https://api.test" } });
    expect(cfg.contexts[0]).toEqual({ name: "prod", context: { cluster: "prod", user: "prod-admin" } });
  });

  it("keeps long tokens and CA data on one line", () => {
    const token = "x".repeat(200);
    const text = renderKubeconfig({ server: "https://a", token, caPem: CA.repeat(20) });
    expect(text).toContain(`token: ${token}\n`);
    expect(parse(text).users[0].user.token).toBe(token);
  });
});

describe("writeKubeconfig", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "eiaas-kubeconfig-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the file with mode 0600, replacing an older one", async () => {
    const path = join(dir, "sub", "kubeconfig");
    await writeKubeconfig(path, { server: "https://a", token: "one" });
    await writeKubeconfig(path, { server: "https://a", token: "two" });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(parse(await readFile(path, "utf8")).users[0].user.token).toBe("two");
  });
});
