// The chaos run's TCP load balancer on real sockets: round robin over its backends, a dead backend
// taken out (its connections go to the other), and taken back once it listens again.
import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { startLoadBalancer, type LoadBalancer } from "./balancer.js";

/** A backend answering every connection with its name, then closing it. */
function backend(name: string, port = 0): Promise<net.Server> {
  return new Promise((resolve) => {
    const s = net.createServer((c) => {
      c.on("error", () => undefined);
      c.end(name);
    });
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

const portOf = (s: net.Server) => (s.address() as net.AddressInfo).port;

function ask(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    const c = net.connect({ host: "127.0.0.1", port });
    c.on("data", (d) => (text += String(d)));
    c.on("close", () => resolve(text));
    c.on("error", reject);
  });
}

const close = (s: net.Server) => new Promise<void>((r) => s.close(() => r()));
let cleanup: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe("load balancer", () => {
  it("spreads connections round robin, routes around a dead backend, and takes it back", async () => {
    const a = await backend("a");
    const b = await backend("b");
    const portB = portOf(b);
    const lb: LoadBalancer = await startLoadBalancer([portOf(a), portB], { probeMs: 50 });
    cleanup.push(
      () => lb.close(),
      () => close(a),
    );
    const answers = [await ask(lb.port), await ask(lb.port), await ask(lb.port), await ask(lb.port)];
    expect(answers.sort()).toEqual(["a", "a", "b", "b"]);

    await close(b);
    for (let i = 0; i < 4; i++) expect(await ask(lb.port)).toBe("a");
    expect(lb.backends[1]!.up).toBe(false);

    const again = await backend("b", portB);
    cleanup.push(() => close(again));
    for (let i = 0; i < 100 && !lb.backends[1]!.up; i++) await new Promise((r) => setTimeout(r, 20));
    const later = new Set<string>();
    for (let i = 0; i < 4; i++) later.add(await ask(lb.port));
    expect([...later].sort()).toEqual(["a", "b"]);
  });
});
