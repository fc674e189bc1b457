// The CPU and memory limits of the cgroup this process runs in, cgroup v2 or v1 (or both mounted, a
// "hybrid" host: a v1 hierarchy that has the controller is the one the kernel enforces).
import { readFileSync } from "node:fs";

/** Reads a file of /proc or /sys; undefined when it is missing or unreadable. Injected in tests. */
export type FileReader = (path: string) => string | undefined;

export const readHostFile: FileReader = (path) => {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
};

/** What the cgroups this process is in allow it, at most (a limit of an ancestor binds too). */
export interface CgroupLimits {
  /** CPU time per wall-clock second, in cores (`cpu.max` / `cpu.cfs_quota_us`); absent: no quota. */
  cpuCores?: number;
  /** Memory in bytes (`memory.max` / `memory.limit_in_bytes`); absent: no limit. */
  memoryBytes?: number;
}

interface CgroupMount {
  version: 1 | 2;
  /** The hierarchy's directory mounted (not "/" inside a container without a cgroup namespace). */
  root: string;
  mountPoint: string;
  /** v1: the controllers of the hierarchy (`cpu`, `cpuacct`, `memory`, ...). */
  controllers: string[];
}

/** mountinfo escapes space, tab, newline and backslash in paths as octal (`\040`). */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup mounts of `/proc/self/mountinfo` (proc(5): `id parent maj:min root mountpoint opts [tags] - fstype source superopts`). */
export function cgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split("\n")) {
    const [pre, post] = line.split(" - ");
    if (!pre || !post) continue;
    const f = pre.split(" ");
    const [fstype, , superOpts = ""] = post.split(" ");
    if (f.length < 5 || (fstype !== "cgroup" && fstype !== "cgroup2")) continue;
    mounts.push({
      version: fstype === "cgroup2" ? 2 : 1,
      root: unescape(f[3]!),
      mountPoint: unescape(f[4]!),
      controllers: fstype === "cgroup" ? superOpts.split(",") : [],
    });
  }
  return mounts;
}

/** `/proc/self/cgroup`: `hierarchy-id:controllers:path`; v2's line is `0::path`. Keyed by controller, "" for v2. */
export function cgroupPaths(procCgroup: string): Map<string, string> {
  const paths = new Map<string, string>();
  for (const line of procCgroup.split("\n")) {
    const m = /^\d+:([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    for (const controller of m[1] === "" ? [""] : m[1]!.split(",")) paths.set(controller, m[2]!);
  }
  return paths;
}

/** The process's cgroup directory under `mount` and every ancestor up to the mount point, innermost first. */
function directories(mount: CgroupMount, path: string | undefined): string[] {
  const base = mount.mountPoint.replace(/\/+$/, "");
  // Inside a cgroup namespace the path is "/" and the mount is the namespace's root; a path outside
  // the mounted root (a mount of another namespace) leaves the mount point alone to read.
  const root = mount.root === "/" ? "" : mount.root.replace(/\/+$/, "");
  const rel = path !== undefined && (path === root || path.startsWith(`${root}/`)) ? path.slice(root.length) : "";
  const parts = rel.split("/").filter(Boolean);
  const dirs: string[] = [];
  for (let i = parts.length; i >= 0; i--) dirs.push([base, ...parts.slice(0, i)].join("/"));
  return dirs;
}

/** The lowest of the values `read` finds in `dirs` (each absent value: no limit there). */
function lowest(dirs: string[], read: (dir: string) => number | undefined): number | undefined {
  let min: number | undefined;
  for (const d of dirs) {
    const v = read(d);
    if (v !== undefined && (min === undefined || v < min)) min = v;
  }
  return min;
}

const int = (s: string | undefined): number | undefined => {
  if (s === undefined) return undefined;
  const t = s.trim();
  return /^-?\d+$/.test(t) ? Number(t) : undefined;
};

/** v1 writes "no limit" as a huge page-aligned number (2^63 rounded down to a page). */
const V1_UNLIMITED = 2 ** 60;

function cpuV2(read: FileReader, dir: string): number | undefined {
  const [quota, period] = (read(`${dir}/cpu.max`) ?? "").trim().split(/\s+/);
  const q = int(quota);
  const p = int(period) ?? 100_000;
  return q !== undefined && q > 0 && p > 0 ? q / p : undefined; // "max": none
}

function cpuV1(read: FileReader, dir: string): number | undefined {
  const q = int(read(`${dir}/cpu.cfs_quota_us`));
  const p = int(read(`${dir}/cpu.cfs_period_us`)) ?? 100_000;
  return q !== undefined && q > 0 && p > 0 ? q / p : undefined; // -1: none
}

function memoryV2(read: FileReader, dir: string): number | undefined {
  return int(read(`${dir}/memory.max`)); // "max": none
}

function memoryV1(read: FileReader, dir: string): number | undefined {
  const v = int(read(`${dir}/memory.limit_in_bytes`));
  return v !== undefined && v > 0 && v < V1_UNLIMITED ? v : undefined;
}

/**
 * The CPU quota and memory limit binding this process: for each, the v1 hierarchy that has the
 * controller when one is mounted, else the v2 (unified) one; the lowest limit of the process's
 * cgroup and its ancestors. Nothing mounted or readable (not Linux, a locked-down /sys): no limits.
 */
export function readCgroupLimits(read: FileReader = readHostFile): CgroupLimits {
  const mounts = cgroupMounts(read("/proc/self/mountinfo") ?? "");
  const paths = cgroupPaths(read("/proc/self/cgroup") ?? "");
  const unified = mounts.find((m) => m.version === 2);
  const limit = (controller: string, v1: (r: FileReader, d: string) => number | undefined, v2: (r: FileReader, d: string) => number | undefined) => {
    const legacy = mounts.find((m) => m.version === 1 && m.controllers.includes(controller));
    if (legacy) return lowest(directories(legacy, paths.get(controller)), (d) => v1(read, d));
    if (unified) return lowest(directories(unified, paths.get("")), (d) => v2(read, d));
    return undefined;
  };
  const cpuCores = limit("cpu", cpuV1, cpuV2);
  const memoryBytes = limit("memory", memoryV1, memoryV2);
  return { ...(cpuCores !== undefined ? { cpuCores } : {}), ...(memoryBytes !== undefined ? { memoryBytes } : {}) };
}
