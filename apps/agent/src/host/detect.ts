// What the agent finds out about its host at registration: CPUs and memory (bounded by its cgroup
// when its tasks run inside it), GPUs, architecture, and a measured compute speed.
import os from "node:os";
import type { GflopsByOperator } from "@eiaas/api";
import { readCgroupLimits, readHostFile, type CgroupLimits, type FileReader } from "./cgroup.js";
import { measureHostSpeed, type HostSpeed } from "./dnn-gflops.js";
import { detectGpus, type GpuDetection } from "./gpus.js";

/** Where the agent reads its host: the real OS by default, synthetic trees and stand-ins in tests. */
export interface HostProbes {
  readFile: FileReader;
  /** CPUs this process may run on (its affinity mask, which is its cpuset). */
  cpus: () => number;
  totalMemoryBytes: () => number;
  /** Node's `process.arch` (`x64`, `arm64`, ...). */
  arch: string;
  /** Node's `process.platform`. */
  platform: string;
  gpus: () => Promise<GpuDetection>;
  /** The measured speed of `threads` cores, in GFLOPS, and how it was measured (see `measureHostSpeed`). */
  gflops: (threads: number) => Promise<HostSpeed>;
}

export const realHostProbes: HostProbes = {
  readFile: readHostFile,
  cpus: () => os.availableParallelism(),
  totalMemoryBytes: () => os.totalmem(),
  arch: process.arch,
  platform: process.platform,
  gpus: () => detectGpus(),
  gflops: (threads) => measureHostSpeed(threads),
};

/** Which values to find: the ones the operator left unset (a GPU query or a benchmark costs time). */
export interface DetectNeeds {
  cpu: boolean;
  memory: boolean;
  gpu: boolean;
  gflops: boolean;
}

export interface DetectOptions {
  /**
   * The agent's tasks run inside its own cgroup (runtime `process` or `simulated`): its cgroup's
   * limits bound what it can give them. Runtimes that start tasks beside it (`docker`,
   * `kubernetes`) give them the host's CPUs and memory, whatever the agent's own container has.
   */
  withinCgroup: boolean;
  probes?: Partial<HostProbes>;
}

export interface DetectedHost {
  /** Millicores. */
  cpu?: number;
  memoryMiB?: number;
  gpu?: number;
  gflops?: number;
  /** Measured with `gflops`: the operator classes' speeds (see `measureHostSpeed`). */
  gflopsByOperator?: GflopsByOperator;
  /** `kubernetes.io/arch`, `kubernetes.io/os`, and `nvidia.com/gpu.product` when a GPU is found (kubelet and GPU feature discovery name them so). */
  labels: Record<string, string>;
  /** What bounded each value, for the agent's log (`cpu: cgroup quota 1.5 of 4 CPUs`). */
  sources: Record<string, string>;
  /** What could not be detected and why (a failing `nvidia-smi`, say). */
  problems: string[];
}

/** Go's GOARCH names, which Kubernetes' `kubernetes.io/arch` uses, for Node's `process.arch`. */
const GOARCH: Record<string, string> = { x64: "amd64", ia32: "386", arm64: "arm64", arm: "arm", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64", loong64: "loong64" };

/** A label value made of `s`: runs of other characters become '-', at most 63, alphanumeric at both ends. */
export function labelValueOf(s: string): string {
  return s
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

const MiB = 1024 * 1024;

/**
 * Detects what `needs` asks for. CPUs: the ones this process may run on, bounded by its cgroup's
 * CPU quota (`withinCgroup`); memory: the host's, bounded by its cgroup's memory limit
 * (`withinCgroup`); GPUs: `nvidia-smi`'s list; speed: a short measured benchmark on as many threads
 * as the node has whole cores for its tasks.
 */
export async function detectHost(needs: DetectNeeds, o: DetectOptions): Promise<DetectedHost> {
  const p: HostProbes = { ...realHostProbes, ...o.probes };
  const limits: CgroupLimits = o.withinCgroup ? readCgroupLimits(p.readFile) : {};
  const out: DetectedHost = { labels: {}, sources: {}, problems: [] };
  const hostCpus = p.cpus();
  const cores = limits.cpuCores !== undefined ? Math.min(hostCpus, limits.cpuCores) : hostCpus;
  if (needs.cpu) {
    out.cpu = Math.floor(cores * 1000);
    out.sources.cpu = cores < hostCpus ? `cgroup quota ${cores} of ${hostCpus} CPUs` : `${hostCpus} CPUs`;
  }
  if (needs.memory) {
    const host = p.totalMemoryBytes();
    const bytes = limits.memoryBytes !== undefined ? Math.min(host, limits.memoryBytes) : host;
    out.memoryMiB = Math.floor(bytes / MiB);
    out.sources.memory = bytes < host ? `cgroup limit of ${Math.floor(host / MiB)} MiB` : "host memory";
  }
  out.labels["kubernetes.io/arch"] = GOARCH[p.arch] ?? labelValueOf(p.arch);
  out.labels["kubernetes.io/os"] = labelValueOf(p.platform);
  if (needs.gpu) {
    const found = await p.gpus();
    out.gpu = found.gpus.length;
    out.sources.gpu = found.gpus.length ? `nvidia-smi: ${found.gpus.map((g) => g.name).join(", ")}` : "no GPU listed by nvidia-smi";
    if ("problem" in found) out.problems.push(found.problem);
    const product = found.gpus[0] && labelValueOf(found.gpus[0].name);
    if (product) out.labels["nvidia.com/gpu.product"] = product;
  }
  if (needs.gflops) {
    const threads = Math.max(1, Math.floor(cores));
    const speed = await p.gflops(threads);
    out.gflops = speed.gflops;
    if (speed.gflopsByOperator && Object.keys(speed.gflopsByOperator).length) out.gflopsByOperator = speed.gflopsByOperator;
    out.sources.gflops = speed.source;
    if (speed.problem) out.problems.push(speed.problem);
  }
  return out;
}
