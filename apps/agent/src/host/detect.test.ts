// Host detection on synthetic /proc and /sys trees (cgroup v2 in a namespace, v2 nested without
// one, v1 and hybrid hosts, a Docker v1 container), a recording `nvidia-smi` stand-in on PATH (no
// GPU here), and the real benchmark.
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cgroupMounts, cgroupPaths, readCgroupLimits, type FileReader } from "./cgroup.js";
import { detectHost, labelValueOf, type HostProbes } from "./detect.js";
import { measureHostSpeed } from "./dnn-gflops.js";
import { measureGflops, twoSignificant } from "./gflops.js";
import { detectGpus, NVIDIA_SMI_ARGS, parseNvidiaSmi } from "./gpus.js";

const GiB = 1024 ** 3;
const tree =
  (files: Record<string, string>): FileReader =>
  (path) =>
    files[path];

const V2_MOUNT = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot";
const v1Mount = (id: number, controllers: string, root = "/") =>
  `${id} 31 0:${id} ${root} /sys/fs/cgroup/${controllers} rw,nosuid,nodev,noexec,relatime shared:${id} - cgroup cgroup rw,${controllers}`;

/** A container with its own cgroup namespace (Docker, containerd, Kubernetes on cgroup v2): its cgroup is the mount's root. */
const V2_CONTAINER = {
  "/proc/self/mountinfo": `1 0 8:1 / / rw - overlay overlay rw\n${V2_MOUNT}\n`,
  "/proc/self/cgroup": "0::/\n",
  "/sys/fs/cgroup/cpu.max": "150000 100000\n",
  "/sys/fs/cgroup/memory.max": `${2 * GiB}\n`,
};

/** A systemd service on a v2 host without a namespace: the limit of a parent slice binds its children. */
const V2_NESTED = {
  "/proc/self/mountinfo": `${V2_MOUNT}\n`,
  "/proc/self/cgroup": "0::/eiaas.slice/agent.service\n",
  "/sys/fs/cgroup/eiaas.slice/cpu.max": "200000 100000\n",
  "/sys/fs/cgroup/eiaas.slice/memory.max": `${3 * GiB}\n`,
  "/sys/fs/cgroup/eiaas.slice/agent.service/cpu.max": "max 100000\n",
  "/sys/fs/cgroup/eiaas.slice/agent.service/memory.max": `${4 * GiB}\n`,
};

/** A hybrid host (v1 controllers, v2 mounted with none), like the machine these tests run on. */
const V1_HYBRID = {
  "/proc/self/mountinfo": [
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
    v1Mount(32, "cpu"),
    v1Mount(33, "cpuacct"),
    v1Mount(35, "memory"),
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
  ].join("\n"),
  "/proc/self/cgroup": "9:name=systemd:/\n4:memory:/jobs/42\n2:cpuacct:/\n1:cpu:/jobs/42\n0::/\n",
  "/sys/fs/cgroup/cpu/cpu.cfs_quota_us": "-1\n",
  "/sys/fs/cgroup/cpu/jobs/42/cpu.cfs_quota_us": "50000\n",
  "/sys/fs/cgroup/cpu/jobs/42/cpu.cfs_period_us": "100000\n",
  "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
  "/sys/fs/cgroup/memory/jobs/42/memory.limit_in_bytes": `${1 * GiB}\n`,
  // The unified hierarchy has no controllers here: a cpu.max in it must not be read.
  "/sys/fs/cgroup/unified/cpu.max": "10000 100000\n",
};

/** Docker on cgroup v1 without a namespace: /proc/self/cgroup names the container's path, which is also the mount's root. */
const V1_DOCKER = {
  "/proc/self/mountinfo": [v1Mount(40, "cpu,cpuacct", "/docker/abc"), v1Mount(41, "memory", "/docker/abc")].join("\n"),
  "/proc/self/cgroup": "5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
  "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us": "300000\n",
  "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
  "/sys/fs/cgroup/memory/memory.limit_in_bytes": `${512 * 1024 * 1024}\n`,
};

/** A host with 8 CPUs and 32 GiB, its files from `files`, no GPU, and a benchmark that reports the threads it was given. */
const probes = (files: Record<string, string>, extra: Partial<HostProbes> = {}): Partial<HostProbes> => ({
  readFile: tree(files),
  cpus: () => 8,
  totalMemoryBytes: () => 32 * GiB,
  arch: "x64",
  platform: "linux",
  gpus: async () => ({ gpus: [] }),
  gflops: async (threads) => ({ gflops: threads * 1.5, source: `stand-in on ${threads} thread(s)` }),
  ...extra,
});
const ALL = { cpu: true, memory: true, gpu: true, gflops: true };

describe("cgroup limits", () => {
  it("parses mountinfo (escaped paths, v1 controllers) and /proc/self/cgroup (v1 controller lists, v2's line)", () => {
    const mounts = cgroupMounts(`${V2_MOUNT}\n${v1Mount(40, "cpu,cpuacct", "/docker/abc")}\n50 1 0:1 / /mnt/with\\040space rw - cgroup2 cgroup2 rw\n7 1 8:1 / / rw - ext4 /dev/sda rw`);
    expect(mounts).toEqual([
      { version: 2, root: "/", mountPoint: "/sys/fs/cgroup", controllers: [] },
      { version: 1, root: "/docker/abc", mountPoint: "/sys/fs/cgroup/cpu,cpuacct", controllers: ["rw", "cpu", "cpuacct"] },
      { version: 2, root: "/", mountPoint: "/mnt/with space", controllers: [] },
    ]);
    expect(Object.fromEntries(cgroupPaths("3:cpu,cpuacct:/a\n0::/b\n9:name=systemd:/c\n"))).toEqual({ cpu: "/a", cpuacct: "/a", "": "/b", "name=systemd": "/c" });
  });

  it.each([
    ["cgroup v2 in a container's namespace", V2_CONTAINER, { cpuCores: 1.5, memoryBytes: 2 * GiB }],
    ["cgroup v2 nested: the parent slice's limits bind", V2_NESTED, { cpuCores: 2, memoryBytes: 3 * GiB }],
    ["a hybrid host: the v1 controllers, not the empty unified hierarchy", V1_HYBRID, { cpuCores: 0.5, memoryBytes: 1 * GiB }],
    ["Docker on cgroup v1 without a namespace", V1_DOCKER, { cpuCores: 3, memoryBytes: 512 * 1024 * 1024 }],
    ["no limits (v1 unlimited, v2 max)", { ...V2_CONTAINER, "/sys/fs/cgroup/cpu.max": "max 100000", "/sys/fs/cgroup/memory.max": "max" }, {}],
    ["nothing readable (not Linux)", {}, {}],
  ])("%s", (_name, files, limits) => {
    expect(readCgroupLimits(tree(files))).toEqual(limits);
  });
});

describe("detectHost", () => {
  it("bounds the host's CPUs and memory by the cgroup when the tasks run inside it, and benchmarks the cores it may use", async () => {
    const d = await detectHost(ALL, { withinCgroup: true, probes: probes(V2_CONTAINER) });
    expect(d).toMatchObject({ cpu: 1500, memoryMiB: 2048, gpu: 0, gflops: 1.5, problems: [] });
    expect(d.labels).toEqual({ "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux" });
    expect(d.sources).toMatchObject({ cpu: "cgroup quota 1.5 of 8 CPUs", memory: "cgroup limit of 32768 MiB", gflops: "stand-in on 1 thread(s)" });
  });

  it("gives the host's resources when the tasks run beside the agent (docker, kubernetes runtimes)", async () => {
    const d = await detectHost(ALL, { withinCgroup: false, probes: probes(V2_CONTAINER, { arch: "arm64" }) });
    expect(d).toMatchObject({ cpu: 8000, memoryMiB: 32768, gflops: 12 });
    expect(d.labels["kubernetes.io/arch"]).toBe("arm64");
  });

  it("detects only what it is asked for: no GPU query, no benchmark when the operator set them", async () => {
    let asked = 0;
    const d = await detectHost(
      { cpu: false, memory: true, gpu: false, gflops: false },
      {
        withinCgroup: true,
        probes: probes(V1_HYBRID, {
          gpus: async () => {
            asked++;
            return { gpus: [] };
          },
          gflops: async () => {
            asked++;
            return { gflops: 1, source: "stand-in" };
          },
        }),
      },
    );
    expect(asked).toBe(0);
    expect(d).toEqual({ memoryMiB: 1024, labels: { "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux" }, sources: { memory: "cgroup limit of 32768 MiB" }, problems: [] });
  });

  it("label values from any GPU name", () => {
    expect(labelValueOf("NVIDIA A10G")).toBe("NVIDIA-A10G");
    expect(labelValueOf(" Tesla T4 (PCIe) ")).toBe("Tesla-T4-PCIe");
    expect(labelValueOf("x".repeat(80))).toHaveLength(63);
  });
});

describe("nvidia-smi", () => {
  let dir: string;
  const PATH = () => `${dir}:${process.env.PATH}`;
  /** A stand-in `nvidia-smi` that records its arguments and answers as `body` says. */
  const standIn = async (body: string) => {
    await writeFile(join(dir, "nvidia-smi"), `#!/bin/sh\nprintf '%s\\n' "$@" > "${dir}/args"\n${body}\n`);
    await chmod(join(dir, "nvidia-smi"), 0o755);
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "eiaas-nvidia-smi-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("absent: no GPU and no problem", async () => {
    expect(await detectGpus("nvidia-smi", { PATH: "/nonexistent" })).toEqual({ gpus: [] });
  });

  it("lists every GPU with its name and memory, asked for CSV without header or units", async () => {
    await standIn(`echo "0, NVIDIA A10G, 23028"\necho "1, NVIDIA A10G, 23028"`);
    const found = await detectGpus("nvidia-smi", { PATH: PATH() });
    expect(found).toEqual({
      gpus: [
        { index: 0, name: "NVIDIA A10G", memoryMiB: 23028 },
        { index: 1, name: "NVIDIA A10G", memoryMiB: 23028 },
      ],
    });
    expect((await readFile(join(dir, "args"), "utf8")).trim().split("\n")).toEqual(NVIDIA_SMI_ARGS);
    // Through detectHost: the count, and the product as kubelet's GPU feature discovery labels it.
    const d = await detectHost(ALL, { withinCgroup: false, probes: { ...probes({}), gpus: () => detectGpus("nvidia-smi", { PATH: PATH() }) } });
    expect(d.gpu).toBe(2);
    expect(d.labels["nvidia.com/gpu.product"]).toBe("NVIDIA-A10G");
  });

  it("failing (no driver loaded): no GPU, and the problem is reported", async () => {
    await standIn(`echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver." >&2\nexit 9`);
    const d = await detectHost(ALL, { withinCgroup: false, probes: { ...probes({}), gpus: () => detectGpus("nvidia-smi", { PATH: PATH() }) } });
    expect(d.gpu).toBe(0);
    expect(d.problems).toEqual(["nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."]);
    expect(d.labels["nvidia.com/gpu.product"]).toBeUndefined();
  });

  it("parses only GPU lines", () => {
    expect(parseNvidiaSmi("No devices were found\n")).toEqual([]);
    expect(parseNvidiaSmi("0, Tesla T4, 15360\n\n")).toEqual([{ index: 0, name: "Tesla T4", memoryMiB: 15360 }]);
  });
});

describe("measureGflops", () => {
  it("measures a positive speed on each thread it runs, to two significant figures", async () => {
    const m = await measureGflops({ threads: 2, durationMs: 50, n: 64 });
    expect(m.threads).toBe(2);
    expect(m.multiplies).toBeGreaterThanOrEqual(2);
    expect(m.gflops).toBeGreaterThan(0);
    expect(m.gflops).toBe(twoSignificant(m.gflops));
    expect([twoSignificant(1234), twoSignificant(0.01234), twoSignificant(0)]).toEqual([1200, 0.012, 0]);
  });
});

describe("measureHostSpeed", () => {
  it("times onnxruntime, the runtime that runs the layers: a figure in the planner's unit, far above a JavaScript multiply's, and one per operator class", async () => {
    const s = await measureHostSpeed(1, { durationMs: 100 });
    expect(s.problem).toBeUndefined();
    expect(s.source).toMatch(
      /^onnxruntime on 1 thread: 3x3 convolutions \(0\.92 GFLOP\), 1x1 and depthwise convolutions, a 4096x4096 matrix multiply, local response normalization; medians of \d+ runs$/,
    );
    expect(s.gflops).toBe(twoSignificant(s.gflops));
    // A batch-1 fully connected layer reads each weight once: memory-bound, slower than the convolutions.
    expect(s.gflopsByOperator!.matmul).toBeLessThan(s.gflops);
    expect(s.gflopsByOperator!.pointwise).toBeGreaterThan(0);
    // LRN (a window sum and a power per element) does far less per second than a convolution: why it has a class.
    expect(s.gflopsByOperator!.lrn).toBeLessThan(s.gflops / 10);
    // The same cores, measured the old way: onnxruntime's kernels (SIMD, blocking) run many times
    // faster than scalar JavaScript. A ratio of two speeds measured together, not a timing.
    const js = await measureGflops({ threads: 1, durationMs: 100 });
    expect(s.gflops).toBeGreaterThan(3 * js.gflops);
  });

  it("falls back to the JavaScript multiply when onnxruntime cannot run, and says so", async () => {
    const s = await measureHostSpeed(2, { durationMs: 30, onnx: async () => Promise.reject(new Error("no onnxruntime binary for this platform\nstack")) });
    expect(s.gflops).toBeGreaterThan(0);
    expect(s.source).toBe("fp32 matrix multiply in JavaScript on 2 threads");
    expect(s.problem).toMatch(/^onnxruntime could not be timed \(no onnxruntime binary for this platform\): .*--gflops/);
  });
});
