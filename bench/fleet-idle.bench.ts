// `npm run bench:fleet-idle`: what a simulated fleet costs while no task arrives — one process
// consuming every node's queue over libs/queue's multiplexed Redis backend (as the demo's fleet and
// bench:dispatch's agents do), and the redis-server serving it. At 5,000 nodes this is a fixed
// load under every dispatch figure, so it is measured on its own: CPU as a share of one core of
// this machine, for the process and for Redis, over a window after start-up has settled.
// Env: BENCH_NODES (default 5000), BENCH_SETTLE_S (default 35: past the first stalled checks),
// BENCH_DURATION_S (default 30), BENCH_QUEUE_OPTIONS (JSON merged into the backend's options, to
// compare settings, e.g. '{"idlePollSeconds":30,"muxBlockSeconds":1}', the defaults before).
import { readFileSync } from "node:fs";
import { createRedisQueueBackend, type QueueConsumer } from "@eiaas/queue";
import { startRedis } from "@eiaas/testing";

const NODES = Number(process.env.BENCH_NODES ?? 5000);
const SETTLE_S = Number(process.env.BENCH_SETTLE_S ?? 35);
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 30);
const extra = JSON.parse(process.env.BENCH_QUEUE_OPTIONS ?? "{}") as Record<string, unknown>;

/** CPU ticks (1/100 s) a process has used, user + system. */
function ticks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

const redis = await startRedis();
const redisPid = Number(readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, "utf8").trim().split(/\s+/)[0]);
const queue = createRedisQueueBackend({ url: redis.url, ...extra });
const consumers: QueueConsumer[] = [];
const t0 = performance.now();
for (let i = 0; i < NODES; i++) consumers.push(queue.consumeNodeQueue(`idle-${i}`, async () => undefined, { concurrency: 4 }));
await Promise.all(consumers.map((c) => c.waitUntilReady()));
console.log(`${NODES} node consumers ready in ${((performance.now() - t0) / 1000).toFixed(1)} s; settling ${SETTLE_S} s, then measuring ${DURATION_S} s`);
await new Promise((r) => setTimeout(r, SETTLE_S * 1000));

const own0 = process.cpuUsage();
const redis0 = ticks(redisPid);
const w0 = performance.now();
await new Promise((r) => setTimeout(r, DURATION_S * 1000));
const own = process.cpuUsage(own0);
const redisTicks = ticks(redisPid) - redis0;
const seconds = (performance.now() - w0) / 1000;

const ownShare = (own.user + own.system) / 1e6 / seconds;
const redisShare = redisTicks / 100 / seconds;
console.log(`\n== bench:fleet-idle (${NODES} idle node queues, one process; redis-server on this machine) ==`);
console.log(`options: ${JSON.stringify(extra)}`);
console.log(`fleet process: ${(100 * ownShare).toFixed(1)}% of one core; redis-server: ${(100 * redisShare).toFixed(1)}% of one core; together ${(100 * (ownShare + redisShare)).toFixed(1)}%`);
console.log(`per idle node: ${((1e6 * (ownShare + redisShare)) / NODES).toFixed(1)} µs of CPU per second`);

await Promise.all(consumers.map((c) => c.close({ force: true })));
await queue.close({ force: true });
await redis.stop();
