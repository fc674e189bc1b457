import { randomUUID } from "node:crypto";
import type { ReadStream } from "node:fs";
import { mkdir, open, readdir, rename, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { StoreError } from "./errors.js";

/** What the directory needs of an upload's meter (artifact-store.ts): see each chunk, then the digest. */
interface Meter {
  see(chunk: Uint8Array): void;
  finish(): { sha256: string; size: number };
}

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * Artifact files, content-addressed: `<dir>/sha256/<first two hex digits>/<sha256>`, written to
 * `<dir>/tmp/<uuid>` first, flushed to disk and renamed into place, so a reader never sees a
 * partial file and two uploads of the same bytes end as one file. Nothing here knows which
 * Models use a file: `collect` asks.
 */
export class ArtifactDirectory {
  constructor(private readonly root: string) {}

  private pathOf(sha256: string): string {
    return join(this.root, "sha256", sha256.slice(0, 2), sha256);
  }

  /** Writes `body` to its content-addressed file; the temporary file goes if anything fails. */
  async write(body: AsyncIterable<Uint8Array>, meter: Meter): Promise<{ sha256: string; size: number }> {
    const tmpDir = join(this.root, "tmp");
    await mkdir(tmpDir, { recursive: true });
    const tmp = join(tmpDir, randomUUID());
    const file = await open(tmp, "wx", 0o600);
    let closed = false;
    try {
      for await (const chunk of body) {
        meter.see(chunk);
        // One write at a time: the socket is read no faster than the disk takes the bytes.
        await file.write(chunk);
      }
      const result = meter.finish();
      await file.sync();
      await file.close();
      closed = true;
      const target = this.pathOf(result.sha256);
      await mkdir(join(this.root, "sha256", result.sha256.slice(0, 2)), { recursive: true });
      await rename(tmp, target);
      return result;
    } catch (err) {
      if (!closed) await file.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  /** A stream of the file with this digest. */
  async open(sha256: string): Promise<ReadStream> {
    const path = this.pathOf(sha256);
    // Opened before answering, so a missing file is an error the caller can still answer.
    const handle = await open(path, "r").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") throw new StoreError("NotFound", `the artifact's file ${sha256} is missing from the artifact directory`);
      throw err;
    });
    return handle.createReadStream();
  }

  /**
   * Deletes files no artifact names (`inUse` answers which of the given digests are named) and
   * temporary files of dead uploads, both only when older than `graceMs` (a file just renamed into
   * place may not be recorded yet; a temporary file is renewed by every write). Returns how many
   * files it deleted.
   */
  async collect(graceMs: number, inUse: (digests: string[]) => Promise<Set<string>>): Promise<number> {
    const cutoff = Date.now() - graceMs;
    let deleted = 0;
    const old = async (path: string) => (await stat(path).catch(() => undefined))?.mtimeMs ?? Infinity;
    for (const name of await readdir(join(this.root, "tmp")).catch(() => [] as string[])) {
      const path = join(this.root, "tmp", name);
      if (
        (await old(path)) < cutoff &&
        (await unlink(path).then(
          () => true,
          () => false,
        ))
      )
        deleted++;
    }
    for (const prefix of await readdir(join(this.root, "sha256")).catch(() => [] as string[])) {
      const names = (await readdir(join(this.root, "sha256", prefix)).catch(() => [] as string[])).filter((n) => HEX64.test(n));
      if (names.length === 0) continue;
      const candidates: string[] = [];
      for (const n of names) if ((await old(this.pathOf(n))) < cutoff) candidates.push(n);
      if (candidates.length === 0) continue;
      const used = await inUse(candidates);
      for (const n of candidates) {
        // Looked at again: an upload of the same bytes may have renamed a fresh file into place.
        if (used.has(n) || (await old(this.pathOf(n))) >= cutoff) continue;
        if (
          await unlink(this.pathOf(n)).then(
            () => true,
            () => false,
          )
        )
          deleted++;
      }
    }
    return deleted;
  }
}
