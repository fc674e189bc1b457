// Started as root, embedded PostgreSQL runs as the "postgres" OS user: a data directory under a
// directory others cannot enter must be refused up front with a clear reason.
import { chmod, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { unreachableAncestor } from "./embedded-postgres.js";

describe("unreachableAncestor", () => {
  it("names the first directory on the way that others cannot enter, and nothing once they can", async () => {
    const top = await mkdtemp(join(tmpdir(), "eiaas-pg-path-"));
    try {
      await chmod(top, 0o700);
      expect(unreachableAncestor(join(top, "data", "postgres"))).toBe(top);
      await chmod(top, 0o711);
      expect(unreachableAncestor(join(top, "data", "postgres"))).toBeUndefined();
      // The directory itself is not an ancestor: embedded PostgreSQL takes it over.
      await chmod(top, 0o700);
      expect(unreachableAncestor(top)).toBeUndefined();
    } finally {
      await rm(top, { recursive: true, force: true });
    }
  });
});
