// Helpers for this package's tests (not exported from index.ts).
import { afterAll, beforeAll } from "vitest";
import { createTestDatabase, type TestDatabase } from "@eiaas/testing";
import { createDatabase, type Database, type DatabaseOptions } from "./client.js";

/**
 * A migrated database of the test file's own and a pool on it, made before the file's tests and
 * dropped after them. Read `db` and `url` inside tests and hooks (they exist from beforeAll on).
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
