import { isIPv6 } from "node:net";
import type { IncomingMessage } from "node:http";

/** An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, as dual-stack sockets report) as plain IPv4. */
function unmapped(address: string): string {
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1] ?? address;
}

/** The eight groups of an IPv6 address, `::` expanded. */
function ipv6Groups(address: string): string[] {
  const [head = "", tail] = address.split("%")[0]!.split("::");
  const left = head ? head.split(":") : [];
  if (tail === undefined) return left;
  const right = tail ? tail.split(":") : [];
  return [...left, ...Array<string>(Math.max(0, 8 - left.length - right.length)).fill("0"), ...right];
}

/**
 * The key a client's failed authentications are counted under: its IPv4 address, or the /64 of
 * an IPv6 one (a single host usually holds a whole /64, so counting per address would let it
 * pick a fresh one per guess).
 */
export function addressKey(address: string): string {
  const plain = unmapped(address);
  if (!isIPv6(plain)) return plain;
  const prefix = ipv6Groups(plain)
    .slice(0, 4)
    .map((g) => (parseInt(g, 16) || 0).toString(16));
  return `${prefix.join(":")}::/64`;
}

/**
 * The address of the client that sent `req`: the socket's peer, unless that peer is a trusted
 * proxy — then the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (entries
 * further left were written by the client and prove nothing). Without trusted proxies the header
 * is ignored: anyone can send it.
 */
export function clientAddress(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const peer = unmapped(req.socket?.remoteAddress ?? "unknown");
  if (!trustedProxies.has(peer)) return peer;
  const header = req.headers["x-forwarded-for"];
  const hops = (Array.isArray(header) ? header.join(",") : (header ?? ""))
    .split(",")
    .map((h) => unmapped(h.trim()))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i--) {
    if (!trustedProxies.has(hops[i]!)) return hops[i]!;
  }
  return peer;
}

/** The trusted proxies of a comma-separated list (EIAAS_TRUSTED_PROXIES), as `clientAddress` compares them. */
export function parseTrustedProxies(list: string): Set<string> {
  return new Set(
    list
      .split(",")
      .map((a) => unmapped(a.trim()))
      .filter(Boolean),
  );
}
