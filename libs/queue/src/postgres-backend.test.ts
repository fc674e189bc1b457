import { Queue, createPostgresBackend } from "bullmq";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";
import { queueBackendContract } from "./backend-contract.js";
import { createPostgresQueueBackend } from "./postgres-backend.js";

queueBackendContract("postgres", async () => {
  const db: TestDatabase = await createTestDatabase();
  const queues: Array<{ close(): Promise<void> }> = [];
  return {
    backend: (options) => createPostgresQueueBackend({ connectionString: db.url, poolSize: 4, ...options }),
    addRaw: async (queue, jobId, data) => {
      const q = new Queue(queue, { connection: { connectionString: db.url, max: 1, schema: "bullmq" } }, createPostgresBackend);
      queues.push(q);
      await q.add("task", data, { jobId });
    },
    close: async () => {
      await Promise.all(queues.map((q) => q.close()));
      await db.drop();
    },
  };
});
