import { afterAll, beforeAll, beforeEach } from "vitest";
import { createDatabase, ObjectStore, type Database, type DatabaseOptions } from "@eiaas/db";
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

/**
 * A migrated database of the test file's own and a pool on it (`options` as `createDatabase`'s),
 * made before the file's tests and dropped after them, with no reset between tests. Read `db` and
 * `url` inside tests and hooks (they exist from beforeAll on).
 */
export function useTestDatabase(options: DatabaseOptions = {}): { readonly db: Database; readonly url: string } {
  let tdb: TestDatabase | undefined;
  let db: Database | undefined;
  beforeAll(async () => {
    tdb = await createTestDatabase();
    db = createDatabase(tdb.url, options);
  });
  afterAll(async () => {
    await db?.close();
    await tdb?.drop();
  });
  return {
    get db() {
      if (!db) throw new Error("useTestDatabase: read db inside a test or hook");
      return db;
    },
    get url() {
      if (!tdb) throw new Error("useTestDatabase: read url inside a test or hook");
      return tdb.url;
    },
  };
}
