import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

export interface TestDatabase {
  /** URL of this test file's own database (a clone of the migrated template). */
  url: string;
  /** Empties every table (keeps the counters' rows) — for a reset between tests. */
  reset(): Promise<void>;
  /** Drops the database. */
  drop(): Promise<void>;
}

function withDatabase(serverUrl: string, database: string): string {
  const u = new URL(serverUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Clones the migrated template into a fresh database (CREATE DATABASE ... TEMPLATE). */
export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject("postgresUrl");
  const template = inject("templateDatabase");
  const name = `eiaas_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`);
  } finally {
    await admin.end();
  }
  const url = withDatabase(serverUrl, name);
  return {
    url,
    reset: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(
          `TRUNCATE agent_redis_users, model_artifact_chunks, model_artifacts, model_artifact_blobs, edge_nodes, tenants, models, model_profiles, inference_services, training_jobs, tasks, events, watch_events, api_tokens, node_leases, task_logs, node_usage, namespace_usage, namespace_object_counts`,
        );
      } finally {
        await c.end();
      }
    },
    drop: async () => {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** The test run's Redis URL (started by the global setup, or REDIS_URL). */
export function testRedisUrl(): string {
  return inject("redisUrl");
}
