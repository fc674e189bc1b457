// bench:dispatch stage 3: the raw limits of the same Redis and Postgres, for the ratios.
import { randomUUID } from "node:crypto";
import { Queue } from "bullmq";
import pg from "pg";
import { NS } from "./config.js";
import type { BenchServices } from "./services.js";

export interface RawResult {
  /** BullMQ addBulk, batches of 1,000 into one queue. */
  addBulkJobsPerSec: number;
  /** Single-row INSERT transactions (autocommit) over 10 connections. */
  insertTxPerSec: number;
}

export async function rawStage(services: BenchServices): Promise<RawResult> {
  const q = new Queue("bench-raw", { connection: { url: services.redisUrl } as any, prefix: "raw" });
  const batch = Array.from({ length: 1000 }, (_, i) => ({
    name: "task",
    data: { namespace: NS, name: `t-${i}`, uid: randomUUID(), attempt: 1, nodeName: "dev-0-0", role: "serve", env: {}, template: {}, resources: { cpu: 10, memoryMiB: 16, gpu: 0 } },
  }));
  await q.addBulk(batch.map((b, i) => ({ ...b, opts: { jobId: `warm-${i}` } })));
  let jobs = 0;
  const r0 = performance.now();
  for (let round = 0; round < 20; round++) {
    await q.addBulk(batch.map((b, i) => ({ ...b, opts: { jobId: `${round}-${i}`, removeOnComplete: true } })));
    jobs += batch.length;
  }
  const addBulkJobsPerSec = jobs / ((performance.now() - r0) / 1000);
  await q.obliterate({ force: true });
  await q.close();

  const url = await services.freshDatabase("raw");
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  await pool.query("CREATE TABLE bench_raw (id bigserial PRIMARY KEY, name text, body jsonb)");
  const body = JSON.stringify({ spec: { nodeName: "dev-0-0", role: "serve", resources: { cpu: 10, memoryMiB: 16, gpu: 0 } }, status: { phase: "Scheduled", attempt: 1 } });
  const n = 5_000;
  let next = 0;
  const p0 = performance.now();
  await Promise.all(
    Array.from({ length: 10 }, async () => {
      while (next < n) {
        const i = next++;
        await pool.query("INSERT INTO bench_raw (name, body) VALUES ($1, $2::jsonb)", [`t-${i}`, body]);
      }
    }),
  );
  const insertTxPerSec = n / ((performance.now() - p0) / 1000);
  await pool.end();
  return { addBulkJobsPerSec, insertTxPerSec };
}
