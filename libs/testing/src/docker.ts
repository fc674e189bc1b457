// A real Docker engine for the tests, the way the suite has a real redis-server:
// scripts/ensure-docker.sh installs and starts one when we are root on Debian and it is missing;
// otherwise the docker tests skip, saying why. scripts/docker-test-images.sh makes the local base
// images (no image registry is reachable from these machines), once per machine.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../..", import.meta.url));

export type DockerAvailability = { available: true } | { available: false; reason: string };

let availability: DockerAvailability | undefined;

/**
 * Whether the docker tests can run here; installs and starts the engine when it can (root on
 * Debian). Memoized per process. Throws when an install or start that should work fails.
 */
export function dockerAvailability(): DockerAvailability {
  if (availability) return availability;
  const r = spawnSync("bash", [`${ROOT}scripts/ensure-docker.sh`], { encoding: "utf8", timeout: 10 * 60_000 });
  if (r.status === 0) availability = { available: true };
  else if (r.status === 3) availability = { available: false, reason: r.stderr.trim().split("\n").at(-1) ?? "no Docker engine" };
  else throw new Error(`scripts/ensure-docker.sh failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
  if (!availability.available) console.warn(availability.reason);
  return availability;
}

export interface TestImages {
  /** debootstrap'ed Debian bookworm (minbase): sh, coreutils. */
  BOOKWORM_IMAGE: string;
  /** bookworm + the host's node and npm: deploy/Dockerfile's NODE_IMAGE. */
  NODE_IMAGE: string;
  /** Debian's PostgreSQL with the official image's POSTGRES_* interface. */
  POSTGRES_IMAGE: string;
  /** Debian's redis-server. */
  REDIS_IMAGE: string;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion without blocking the event loop (builds take minutes). */
export function run(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: options.env ?? process.env, cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("error", (err) => resolve({ code: 127, stdout, stderr: err.message }));
    child.once("close", (code) => resolve({ code: code ?? 128, stdout, stderr }));
    // A child that exits without reading its input (EPIPE) still answers with its exit code,
    // which is what the caller looks at; unhandled, the error would fail an unrelated test.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
  });
}

/** `docker ARGS…`; throws with its output when it fails. */
export async function docker(...args: string[]): Promise<string> {
  const r = await run("docker", args, { env: { ...process.env, DOCKER_BUILDKIT: "0" } });
  if (r.code !== 0) throw new Error(`docker ${args.join(" ")} exited with ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** The local base images, built when missing (a few minutes on a new machine, then cached). */
export async function testImages(): Promise<TestImages> {
  const r = await run("bash", [`${ROOT}scripts/docker-test-images.sh`]);
  if (r.code !== 0) throw new Error(`scripts/docker-test-images.sh failed (${r.code}): ${r.stderr.trim()}`);
  return Object.fromEntries(
    r.stdout
      .trim()
      .split("\n")
      .map((l) => l.split("=", 2) as [string, string]),
  ) as unknown as TestImages;
}

/**
 * deploy/Dockerfile built with the local Node base (classic builder: BuildKit would need buildx).
 * One tag per work tree, so that test runs of other checkouts on the machine do not overwrite it;
 * builds of the same tag are serialised by a lock, and a rebuild of unchanged sources is all
 * cache hits. The image it replaces is removed.
 */
export async function projectImage(images: TestImages): Promise<string> {
  const tag = `eiaas-test/eiaas:wt-${createHash("sha256").update(ROOT).digest("hex").slice(0, 12)}`;
  const before = (await run("docker", ["image", "inspect", "-f", "{{.Id}}", tag])).stdout.trim();
  const lock = `/tmp/eiaas-test-build-${tag.split(":")[1]}.lock`;
  const r = await run("flock", [lock, "docker", "build", "-q", "-f", "deploy/Dockerfile", "--build-arg", `NODE_IMAGE=${images.NODE_IMAGE}`, "-t", tag, "."], {
    cwd: ROOT,
    env: { ...process.env, DOCKER_BUILDKIT: "0" },
  });
  if (r.code !== 0) throw new Error(`docker build of deploy/Dockerfile failed (${r.code}):\n${(r.stderr || r.stdout).trim().split("\n").slice(-30).join("\n")}`);
  const after = (await run("docker", ["image", "inspect", "-f", "{{.Id}}", tag])).stdout.trim();
  if (before && before !== after) await run("docker", ["rmi", before]);
  return tag;
}
