import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureServingCertificate, loadTlsFromFiles } from "./tls.js";

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), "eiaas-tls-"));
});
afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

/** GET / over HTTPS trusting only `ca`, resolving to the response body. */
function get(port: number, ca: string, servername = "localhost"): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", ca, servername }, (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("ensureServingCertificate", () => {
  it("generates a CA and a serving certificate signed by it with the right SANs", async () => {
    const pki = await ensureServingCertificate({ dataDir, hosts: ["api.example.test", "10.1.2.3"] });
    const ca = new X509Certificate(pki.caPem);
    const cert = new X509Certificate(pki.certPem);
    expect(ca.ca).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(cert.checkHost("localhost")).toBe("localhost");
    expect(cert.checkHost("api.example.test")).toBe("api.example.test");
    expect(cert.checkHost("other.example.test")).toBeUndefined();
    expect(cert.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(cert.checkIP("::1")).toBe("::1");
    expect(cert.checkIP("10.1.2.3")).toBe("10.1.2.3");
    expect(cert.checkPrivateKey((await import("node:crypto")).createPrivateKey(pki.keyPem))).toBe(true);
    const days = (d: string) => (new Date(d).getTime() - Date.now()) / 86_400_000;
    expect(days(cert.validTo)).toBeGreaterThan(360);
    expect(days(cert.validTo)).toBeLessThan(370);
    expect(days(ca.validTo)).toBeGreaterThan(3600);
    expect(pki.caPath).toBe(join(dataDir, "pki", "ca.crt"));
    expect(await readFile(pki.certPath, "utf8")).toBe(pki.certPem);
    expect((await stat(pki.keyPath)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, "pki", "ca.key"))).mode & 0o777).toBe(0o600);
  });

  it("serves HTTPS to a client that trusts only the CA", async () => {
    const pki = await ensureServingCertificate({ dataDir, hosts: [] });
    const server: Server = createServer({ cert: pki.certPem, key: pki.keyPem }, (_req, res) => res.end("ok"));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { port } = server.address() as AddressInfo;
      expect(await get(port, pki.caPem)).toBe("ok");
      // A client trusting another CA refuses the connection.
      const other = await ensureServingCertificate({ dataDir: join(dataDir, "other") });
      await expect(get(port, other.caPem)).rejects.toThrow();
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("reuses the files on a second call", async () => {
    const first = await ensureServingCertificate({ dataDir, hosts: ["a.test"] });
    const second = await ensureServingCertificate({ dataDir, hosts: ["a.test"] });
    expect(second).toEqual(first);
  });

  it("re-issues the serving certificate from the same CA when a new host is asked for", async () => {
    const first = await ensureServingCertificate({ dataDir });
    const second = await ensureServingCertificate({ dataDir, hosts: ["new.test"] });
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).not.toBe(first.certPem);
    const cert = new X509Certificate(second.certPem);
    expect(cert.checkHost("new.test")).toBe("new.test");
    expect(cert.verify(new X509Certificate(first.caPem).publicKey)).toBe(true);
  });

  it("re-issues a serving certificate close to expiry", async () => {
    const first = await ensureServingCertificate({ dataDir });
    const later = new Date(Date.now() + 350 * 86_400_000);
    const second = await ensureServingCertificate({ dataDir, now: later });
    expect(second.caPem).toBe(first.caPem);
    expect(second.certPem).not.toBe(first.certPem);
  });
});

describe("loadTlsFromFiles", () => {
  it("loads a matching pair", async () => {
    const pki = await ensureServingCertificate({ dataDir });
    const loaded = await loadTlsFromFiles(pki.certPath, pki.keyPath);
    expect(loaded.certPem).toBe(pki.certPem);
    expect(loaded.keyPem).toBe(pki.keyPem);
  });

  it("rejects a key that does not match the certificate", async () => {
    const pki = await ensureServingCertificate({ dataDir });
    const other = await ensureServingCertificate({ dataDir: join(dataDir, "other") });
    const wrongKey = join(dataDir, "wrong.key");
    await writeFile(wrongKey, other.keyPem);
    await expect(loadTlsFromFiles(pki.certPath, wrongKey)).rejects.toThrow(/does not match/);
  });
});
