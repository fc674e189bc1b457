/**
 * Serving certificates for the API server.
 *
 * kubectl sends bearer tokens only over TLS, so the server always speaks HTTPS. With no
 * certificate configured, a self-signed CA and a serving certificate signed by it are generated
 * into `<dataDir>/pki/` on first start and reused afterwards, so kubeconfigs written earlier
 * (which pin the CA) keep working across restarts. Pure JS (`@peculiar/x509` on Node's
 * webcrypto): no openssl on the machine is needed.
 */
import { X509Certificate as NodeX509, createPrivateKey, webcrypto } from "node:crypto";

// The repository compiles without the DOM lib: take the WebCrypto types from Node.
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { isIP } from "node:net";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import type * as X509 from "@peculiar/x509";

type X509Module = typeof X509;
let x509Module: Promise<X509Module> | undefined;

/**
 * Loads `@peculiar/x509` on first use. It registers its algorithms through tsyringe, which throws at
 * import time unless the Reflect metadata API exists; the package does not bring a polyfill and the
 * server needs only the three calls tsyringe makes, so a minimal one is installed first (only when
 * nothing else provided it). Loading lazily also keeps the library out of processes that are given
 * their own certificate.
 */
function loadX509(): Promise<X509Module> {
  x509Module ??= (async () => {
    installReflectMetadata();
    const mod = await import("@peculiar/x509");
    mod.cryptoProvider.set(webcrypto);
    return mod;
  })();
  return x509Module;
}

type MetadataKey = unknown;
type Target = object;
interface ReflectMetadataApi {
  getMetadata?(key: MetadataKey, target: Target, prop?: string | symbol): unknown;
  getOwnMetadata?(key: MetadataKey, target: Target, prop?: string | symbol): unknown;
  defineMetadata?(key: MetadataKey, value: unknown, target: Target, prop?: string | symbol): void;
}

function installReflectMetadata(): void {
  // Another copy (reflect-metadata, or this one installed before) stays as it is.
  if (typeof Reflect.get(Reflect, "getMetadata") === "function") return;
  const store = new WeakMap<Target, Map<string | symbol | undefined, Map<MetadataKey, unknown>>>();
  const own = (target: Target, prop: string | symbol | undefined, create: boolean) => {
    let byProp = store.get(target);
    if (!byProp) {
      if (!create) return undefined;
      byProp = new Map();
      store.set(target, byProp);
    }
    let entries = byProp.get(prop);
    if (!entries && create) {
      entries = new Map();
      byProp.set(prop, entries);
    }
    return entries;
  };
  const api: Required<ReflectMetadataApi> = {
    defineMetadata: (key, value, target, prop) => void own(target, prop, true)!.set(key, value),
    getOwnMetadata: (key, target, prop) => own(target, prop, false)?.get(key),
    // Like reflect-metadata: walk the prototype chain.
    getMetadata: (key, target, prop) => {
      for (let t: Target | null = target; t; t = Object.getPrototypeOf(t) as Target | null) {
        const entries = own(t, prop, false);
        if (entries?.has(key)) return entries.get(key);
      }
      return undefined;
    },
  };
  Object.assign(Reflect, api);
}

/** PEM material and where it lives on disk. */
export interface ServingCertificate {
  caPem: string;
  certPem: string;
  keyPem: string;
  caPath: string;
  certPath: string;
  keyPath: string;
}

export interface EnsureServingCertificateOptions {
  /** The server's data directory; files go into `<dataDir>/pki/`. */
  dataDir: string;
  /** Extra DNS names or IP addresses for the serving certificate's SANs. */
  hosts?: string[];
  /** Clock for validity periods (tests). */
  now?: Date;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_DAYS = 3650;
const SERVING_VALIDITY_DAYS = 365;
/** Re-issue the serving certificate when it has less than this left. */
const RENEW_BEFORE_DAYS = 30;
/** Always in the serving certificate: what a local kubectl or eictl dials. */
const DEFAULT_HOSTS = ["localhost", "127.0.0.1", "::1"];

const EC_KEY: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };

/**
 * Returns the serving certificate in `<dataDir>/pki/`, creating what is missing.
 *
 * - CA (`ca.crt`, `ca.key`): reused when present, else generated (ECDSA P-256, 10 years).
 * - Serving pair (`tls.crt`, `tls.key`): reused when present, signed by that CA, not expiring
 *   within 30 days and covering every requested host; otherwise re-issued from the existing CA
 *   (1 year), so clients that trust the CA need no change.
 *
 * Private keys are written with mode 0600.
 */
export async function ensureServingCertificate(opts: EnsureServingCertificateOptions): Promise<ServingCertificate> {
  const now = opts.now ?? new Date();
  const dir = join(opts.dataDir, "pki");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caPath = join(dir, "ca.crt");
  const caKeyPath = join(dir, "ca.key");
  const certPath = join(dir, "tls.crt");
  const keyPath = join(dir, "tls.key");
  const hosts = uniqueHosts([...DEFAULT_HOSTS, ...(opts.hosts ?? [])]);

  const x509 = await loadX509();
  let ca: { pem: string; key: CryptoKey; cert: X509.X509Certificate };
  if (existsSync(caPath) && existsSync(caKeyPath)) {
    const pem = await readFile(caPath, "utf8");
    ca = { pem, cert: new x509.X509Certificate(pem), key: await importPrivateKey(await readFile(caKeyPath, "utf8")) };
  } else {
    ca = await createCa(now);
    await writeSecret(caKeyPath, await exportPrivateKey(ca.key));
    await writePublic(caPath, ca.pem);
  }

  if (existsSync(certPath) && existsSync(keyPath)) {
    const certPem = await readFile(certPath, "utf8");
    const keyPem = await readFile(keyPath, "utf8");
    if (servingCertUsable(certPem, ca.pem, hosts, now)) {
      return { caPem: ca.pem, certPem, keyPem, caPath, certPath, keyPath };
    }
  }

  const serving = await createServingCert(ca, hosts, now);
  await writeSecret(keyPath, serving.keyPem);
  await writePublic(certPath, serving.certPem);
  return { caPem: ca.pem, certPem: serving.certPem, keyPem: serving.keyPem, caPath, certPath, keyPath };
}

/**
 * Reads a user-supplied certificate and key (`EIAAS_TLS_CERT` / `EIAAS_TLS_KEY`) for
 * `https.createServer`. `caPem` is the certificate file itself (the chain as given), which is what a
 * kubeconfig should carry when the certificate is self-signed; with a publicly trusted chain callers
 * may omit it from the kubeconfig.
 */
export async function loadTlsFromFiles(certPath: string, keyPath: string): Promise<ServingCertificate> {
  const certPem = await readFile(certPath, "utf8");
  const keyPem = await readFile(keyPath, "utf8");
  // Fail at start-up, not on the first handshake, when the pair is unusable.
  const cert = new NodeX509(certPem);
  if (!cert.checkPrivateKey(createPrivateKey(keyPem))) {
    throw new Error(`TLS key ${keyPath} does not match certificate ${certPath}`);
  }
  return { caPem: certPem, certPem, keyPem, caPath: certPath, certPath, keyPath };
}

function uniqueHosts(hosts: string[]): string[] {
  return [...new Set(hosts.map((h) => h.trim().replace(/^\[|\]$/g, "")).filter((h) => h.length > 0))];
}

async function createCa(now: Date): Promise<{ pem: string; key: CryptoKey; cert: X509.X509Certificate }> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: "CN=eiaas-ca,O=eiaas",
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { pem: cert.toString("pem") + "\n", key: keys.privateKey, cert };
}

async function createServingCert(ca: { key: CryptoKey; cert: X509.X509Certificate }, hosts: string[], now: Date): Promise<{ certPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const keys = (await webcrypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: "CN=eiaas-api-server,O=eiaas",
    issuer: ca.cert.subject,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + SERVING_VALIDITY_DAYS * DAY_MS),
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(hosts.map((h) => ({ type: isIP(h) ? ("ip" as const) : ("dns" as const), value: h }))),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { certPem: cert.toString("pem") + "\n", keyPem: await exportPrivateKey(keys.privateKey) };
}

/** Whether an existing serving certificate is signed by the CA, fresh enough and covers `hosts`. */
function servingCertUsable(certPem: string, caPem: string, hosts: string[], now: Date): boolean {
  try {
    const cert = new NodeX509(certPem);
    const ca = new NodeX509(caPem);
    if (!cert.verify(ca.publicKey)) return false;
    if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_DAYS * DAY_MS) return false;
    return hosts.every((h) => (isIP(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined));
  } catch {
    // Unreadable or foreign material: issue a fresh certificate rather than fail to start.
    return false;
  }
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  // A positive serial: clear the top bit so DER does not read it as negative.
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}

async function exportPrivateKey(key: CryptoKey): Promise<string> {
  const x509 = await loadX509();
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY") + "\n";
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const x509 = await loadX509();
  const der = x509.PemConverter.decodeFirst(pem);
  return webcrypto.subtle.importKey("pkcs8", der, EC_KEY, true, ["sign"]);
}

/** Writes through a temporary file so a crash never leaves a half-written key behind. */
async function writeSecret(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, path);
}

async function writePublic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, path);
}
