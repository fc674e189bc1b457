// Links shaped with the kernel's token bucket filter: every byte to or from a server's container
// crosses its veth pair, so a `tbf` qdisc on both ends (the container's eth0, entered through its
// network namespace, and the host's peer) makes that container's link `mbps` in each direction.
// netem is not in this kernel: no delay is added (the link's RTT is what the machine has).
import { run } from "@eiaas/testing";

async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${(r.stderr || r.stdout).trim()}`);
  return r.stdout.trim();
}

/**
 * The container's network namespace (its init's PID) and the host's end of its veth pair: the
 * index after `@if` in the container's own `ip link` (not its /sys, which nsenter -n leaves the
 * host's). Anything but a veth on the host side is refused: shaping the host's own interface by
 * mistake would throttle the whole machine.
 */
async function vethOf(container: string): Promise<{ pid: string; hostIf: string }> {
  const pid = await sh("docker", ["inspect", "-f", "{{.State.Pid}}", container]);
  const own = await sh("nsenter", ["-t", pid, "-n", "ip", "-o", "link", "show", "eth0"]);
  const peer = /^\d+: eth0@if(\d+):/.exec(own)?.[1];
  if (!peer) throw new Error(`${container}'s eth0 is not one end of a veth pair: ${own}`);
  const line = (await sh("ip", ["-o", "link"])).split("\n").find((l) => l.startsWith(`${peer}: `));
  const hostIf = line?.split(": ")[1]!.split("@")[0];
  if (!hostIf?.startsWith("veth")) throw new Error(`the peer of ${container}'s eth0 (index ${peer}) is not a host veth: ${line ?? "none"}`);
  return { pid, hostIf };
}

/**
 * tbf at `mbps` on both ends of the container's link (replacing any earlier shaping). The bucket
 * holds 10 ms of traffic (at least 4 full frames) so that the rate holds at the scale of one request.
 */
export async function shapeLink(container: string, mbps: number): Promise<void> {
  const { pid, hostIf } = await vethOf(container);
  const burst = Math.max(4 * 1514, Math.round((mbps * 1e6) / 8 / 100));
  const tbf = ["root", "tbf", "rate", `${mbps}mbit`, "burst", String(burst), "limit", String(8 * 2 ** 20)];
  await sh("nsenter", ["-t", pid, "-n", "tc", "qdisc", "replace", "dev", "eth0", ...tbf]);
  await sh("tc", ["qdisc", "replace", "dev", hostIf, ...tbf]);
}
