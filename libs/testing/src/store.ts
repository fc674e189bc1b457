import { afterAll, beforeAll, beforeEach } from "vitest";
import { createDatabase, ObjectStore, type Database } from "@eiaas/db";
import { createTestDatabase, type TestDatabase } from "./database.js";

/** A test file's database, its pool and an ObjectStore on it (set once `beforeAll` has run). */
export interface TestStore {
  readonly tdb: TestDatabase;
  readonly db: Database;
  readonly store: ObjectStore;
}

/**
 * Registers the hooks every database test repeats: a database cloned from the migrated template
 * before the file's tests, a pool and an ObjectStore on it, a reset before each test (before the
 * file's own `beforeEach` hooks), all dropped after.
 */
export function useTestStore(options: { /** Pool size. Default 4. */ poolSize?: number } = {}): TestStore {
  const handle = {} as { tdb: TestDatabase; db: Database; store: ObjectStore };
  beforeAll(async () => {
    handle.tdb = await createTestDatabase();
    handle.db = createDatabase(handle.tdb.url, { poolSize: options.poolSize ?? 4 });
    handle.store = new ObjectStore(handle.db.pool);
  });
  afterAll(async () => {
    await handle.db?.close();
    await handle.tdb?.drop();
  });
  beforeEach(() => handle.tdb.reset());
  return handle;
}
