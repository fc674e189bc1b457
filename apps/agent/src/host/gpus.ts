// NVIDIA GPUs as the driver's own tool lists them.
import { execFile } from "node:child_process";

export interface GpuInfo {
  index: number;
  name: string;
  memoryMiB: number;
}

/** The GPUs found, or why none could be listed (no `nvidia-smi`: a host without NVIDIA GPUs, not a fault). */
export type GpuDetection = { gpus: GpuInfo[] } | { gpus: []; problem: string };

/** What is asked of `nvidia-smi`: one CSV line per GPU it may use (CUDA_VISIBLE_DEVICES and the container runtime decide which). */
export const NVIDIA_SMI_ARGS = ["--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"];

/** `nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader,nounits`: `0, NVIDIA A10G, 23028` per GPU. */
export function parseNvidiaSmi(csv: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of csv.split("\n")) {
    const cols = line.split(",").map((c) => c.trim());
    if (cols.length < 3 || !/^\d+$/.test(cols[0]!)) continue;
    gpus.push({ index: Number(cols[0]), name: cols.slice(1, -1).join(","), memoryMiB: Number(cols.at(-1)) || 0 });
  }
  return gpus;
}

/**
 * Lists the GPUs through `nvidia-smi` on PATH (`command` elsewhere). Absent: no GPU. Present but
 * failing (no driver loaded, a GPU fallen off the bus) or slow (5 s): no GPU, and `problem` says
 * why, so the agent can say so rather than register a GPU it cannot use.
 */
export function detectGpus(command = "nvidia-smi", env: NodeJS.ProcessEnv = process.env): Promise<GpuDetection> {
  return new Promise((resolve) => {
    execFile(command, NVIDIA_SMI_ARGS, { timeout: 5_000, env, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT") return resolve({ gpus: [] });
        const why = (stderr || stdout).trim().split("\n")[0] || err.message;
        return resolve({ gpus: [], problem: `${command} failed: ${why}` });
      }
      resolve({ gpus: parseNvidiaSmi(stdout) });
    });
  });
}
