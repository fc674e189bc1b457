import { createHash, randomUUID } from "node:crypto";
import { Readable } from "node:stream";
import type pg from "pg";
import { ArtifactDirectory } from "./artifact-directory.js";
import { StoreError } from "./errors.js";

/** Where an artifact's bytes are. */
export type ArtifactStorage = "postgres" | "directory";

/** A Model's stored artifact, as `model_artifacts` records it. */
export interface ArtifactRecord {
  /** Hex SHA-256 of the bytes. */
  sha256: string;
  sizeBytes: number;
  storage: ArtifactStorage;
  /** RFC 3339, millisecond precision. */
  uploadedAt: string;
}

/**
 * Sees every chunk of an upload as it arrives, before anything is committed, and refuses it by
 * throwing (from `update`, or from `finish` once the last byte has arrived).
 */
export interface ArtifactInspector {
  update(chunk: Uint8Array): void;
  finish(): void;
}

export interface PutArtifactOptions {
  /** Largest artifact accepted; RequestEntityTooLarge as soon as the upload passes it. */
  maxBytes: number;
  inspect?: ArtifactInspector;
  /** Which of the Model's files: 0 (default) its base graph, N ≥ 1 the early-exit head after layer N. */
  exitAfter?: number;
}

export interface ArtifactStoreOptions {
  /** Keep the bytes as files named by their sha256 in this directory instead of in Postgres. */
  directory?: string;
  /** Size of the Postgres chunks. Default 1 MiB. */
  chunkBytes?: number;
}

export interface ArtifactGarbageOptions {
  /**
   * Leave alone what was touched more recently than this: an upload in progress (its blob, its
   * temporary file) or one about to be recorded (its file). Default 1 hour.
   */
  graceMs?: number;
}

const DEFAULT_CHUNK_BYTES = 1024 * 1024;
/** Chunks read per query by a download: 8 MiB in memory per download at most. */
const CHUNKS_PER_READ = 8;
const FOREIGN_KEY_VIOLATION = "23503";

interface ArtifactRow {
  sha256: string;
  size_bytes: string;
  storage: ArtifactStorage;
  blob_id: string | null;
  uploaded_at: Date;
}

/** Which file of which Model: `exitAfter` 0 is its base graph, N ≥ 1 the exit head after layer N. */
interface ArtifactKey {
  modelUid: string;
  exitAfter: number;
}

function recordOf(row: ArtifactRow): ArtifactRecord {
  return { sha256: row.sha256, sizeBytes: Number(row.size_bytes), storage: row.storage, uploadedAt: row.uploaded_at.toISOString() };
}

function modelGone(): StoreError {
  return new StoreError("NotFound", "the model was deleted while its artifact was uploaded");
}

/** Counts, hashes and inspects an upload's chunks; refuses it past `maxBytes`. */
class UploadMeter {
  readonly hash = createHash("sha256");
  size = 0;
  constructor(private readonly opts: PutArtifactOptions) {}

  see(chunk: Uint8Array): void {
    this.size += chunk.byteLength;
    if (this.size > this.opts.maxBytes) throw new StoreError("RequestEntityTooLarge", `the artifact is larger than the limit of ${this.opts.maxBytes} bytes`);
    this.hash.update(chunk);
    this.opts.inspect?.update(chunk);
  }

  finish(): { sha256: string; size: number } {
    this.opts.inspect?.finish();
    return { sha256: this.hash.digest("hex"), size: this.size };
  }
}

/**
 * The ONNX files of Models (their artifacts: the base graph and an early-exit head per declared
 * exit, `exitAfter`), keyed by the Model's uid, so a Model deleted and
 * created again never sees the old bytes, and deleted with the Model (foreign keys cascade; files
 * of a directory go at the next `collectGarbage`). Uploads and downloads stream: an upload is
 * written as it arrives (in 1 MiB chunks to Postgres, or to a temporary file renamed into place),
 * a download reads 8 MiB at a time, so neither holds a whole ~100-550 MB model in memory. An
 * upload replaces the Model's artifact only once complete and accepted, in one short transaction.
 */
export class ArtifactStore {
  private readonly chunkBytes: number;
  private readonly dir: ArtifactDirectory | undefined;

  constructor(
    private readonly pool: pg.Pool,
    opts: ArtifactStoreOptions = {},
  ) {
    this.chunkBytes = opts.chunkBytes ?? DEFAULT_CHUNK_BYTES;
    this.dir = opts.directory ? new ArtifactDirectory(opts.directory) : undefined;
  }

  /** Where new uploads go. */
  get storage(): ArtifactStorage {
    return this.dir ? "directory" : "postgres";
  }

  /**
   * The artifact of the Model with this uid, if one was uploaded: its base graph, or with
   * `exitAfter` ≥ 1 the early-exit head after that layer.
   */
  async head(modelUid: string, exitAfter = 0): Promise<ArtifactRecord | undefined> {
    const r = await this.pool.query<ArtifactRow>(`SELECT sha256, size_bytes, storage, blob_id, uploaded_at FROM model_artifacts WHERE model_uid = $1 AND exit_after = $2`, [modelUid, exitAfter]);
    return r.rows[0] ? recordOf(r.rows[0]) : undefined;
  }

  /**
   * Stores `body` as the artifact of the Model with this uid, replacing any earlier one once the
   * whole body has arrived and `opts.inspect` accepted it. NotFound when the Model is gone (or
   * goes during the upload); RequestEntityTooLarge past `opts.maxBytes`; the inspector's error
   * when it refuses. A failed upload leaves nothing behind and the earlier artifact in place.
   */
  async put(modelUid: string, body: AsyncIterable<Uint8Array>, opts: PutArtifactOptions): Promise<ArtifactRecord> {
    const meter = new UploadMeter(opts);
    const key = { modelUid, exitAfter: opts.exitAfter ?? 0 };
    return this.dir ? this.putFile(this.dir, key, body, meter) : this.putBlob(key, body, meter);
  }

  private async putBlob(key: ArtifactKey, body: AsyncIterable<Uint8Array>, meter: UploadMeter): Promise<ArtifactRecord> {
    const { modelUid } = key;
    const blobId = randomUUID();
    try {
      await this.pool.query(`INSERT INTO model_artifact_blobs (id, model_uid) VALUES ($1, $2)`, [blobId, modelUid]);
    } catch (err) {
      throw isForeignKeyViolation(err) ? new StoreError("NotFound", "the model does not exist") : err;
    }
    try {
      let seq = 0;
      let pending: Buffer[] = [];
      let pendingBytes = 0;
      const flush = async (all: boolean) => {
        while (pendingBytes >= this.chunkBytes || (all && pendingBytes > 0)) {
          const joined = Buffer.concat(pending, pendingBytes);
          const chunk = joined.subarray(0, Math.min(this.chunkBytes, joined.length));
          const rest = joined.subarray(chunk.length);
          await this.writeChunk(blobId, seq++, chunk);
          pending = rest.length ? [rest] : [];
          pendingBytes = rest.length;
        }
      };
      // Awaiting each chunk's insert before reading on is the backpressure: the socket is not
      // read faster than Postgres takes the bytes.
      for await (const piece of body) {
        meter.see(piece);
        pending.push(Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength));
        pendingBytes += piece.byteLength;
        await flush(false);
      }
      const { sha256, size } = meter.finish();
      await flush(true);
      return await this.record(key, { sha256, size, storage: "postgres", blobId });
    } catch (err) {
      await this.pool.query(`DELETE FROM model_artifact_blobs WHERE id = $1`, [blobId]).catch(() => undefined);
      throw isForeignKeyViolation(err) ? modelGone() : err;
    }
  }

  private async writeChunk(blobId: string, seq: number, data: Buffer): Promise<void> {
    // The touch keeps a slow upload's blob from looking abandoned to the garbage collection.
    const r = await this.pool.query(
      `WITH c AS (INSERT INTO model_artifact_chunks (blob_id, seq, data) VALUES ($1, $2, $3) RETURNING 1)
       UPDATE model_artifact_blobs SET touched_at = now() WHERE id = $1 AND EXISTS (SELECT 1 FROM c)`,
      [blobId, seq, data],
    );
    if (r.rowCount === 0) throw modelGone();
  }

  private async putFile(dir: ArtifactDirectory, key: ArtifactKey, body: AsyncIterable<Uint8Array>, meter: UploadMeter): Promise<ArtifactRecord> {
    const { modelUid } = key;
    // Refuse early a Model that is already gone: the file would be written for nothing.
    const exists = await this.pool.query(`SELECT 1 FROM models WHERE uid = $1`, [modelUid]);
    if (exists.rowCount === 0) throw new StoreError("NotFound", "the model does not exist");
    const { sha256, size } = await dir.write(body, meter);
    try {
      return await this.record(key, { sha256, size, storage: "directory", blobId: null });
    } catch (err) {
      // The file may be another Model's too: the garbage collection decides.
      throw isForeignKeyViolation(err) ? modelGone() : err;
    }
  }

  /** Makes an upload the Model's artifact (of its key), deleting the blob of the one it replaces. */
  private async record(key: ArtifactKey, a: { sha256: string; size: number; storage: ArtifactStorage; blobId: string | null }): Promise<ArtifactRecord> {
    const { modelUid, exitAfter } = key;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      const old = await client.query<{ blob_id: string | null }>(`SELECT blob_id FROM model_artifacts WHERE model_uid = $1 AND exit_after = $2 FOR UPDATE`, [modelUid, exitAfter]);
      const r = await client.query<ArtifactRow>(
        `INSERT INTO model_artifacts (model_uid, sha256, size_bytes, storage, blob_id, uploaded_at, exit_after) VALUES ($1, $2, $3, $4, $5, now(), $6)
         ON CONFLICT (model_uid, exit_after) DO UPDATE SET sha256 = EXCLUDED.sha256, size_bytes = EXCLUDED.size_bytes, storage = EXCLUDED.storage,
           blob_id = EXCLUDED.blob_id, uploaded_at = EXCLUDED.uploaded_at
         RETURNING sha256, size_bytes, storage, blob_id, uploaded_at`,
        [modelUid, a.sha256, a.size, a.storage, a.blobId, exitAfter],
      );
      const replaced = old.rows[0]?.blob_id;
      if (replaced && replaced !== a.blobId) await client.query(`DELETE FROM model_artifact_blobs WHERE id = $1`, [replaced]);
      await client.query("COMMIT");
      return recordOf(r.rows[0]!);
    } catch (err) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  /**
   * The bytes of the Model's current artifact, streamed, with its record; undefined when it has
   * none. A download that an upload replaces midway fails (the stream errors) rather than mixing
   * two files: the client sees a short body and retries.
   */
  async open(modelUid: string, exitAfter = 0): Promise<{ record: ArtifactRecord; stream: Readable } | undefined> {
    const r = await this.pool.query<ArtifactRow>(`SELECT sha256, size_bytes, storage, blob_id, uploaded_at FROM model_artifacts WHERE model_uid = $1 AND exit_after = $2`, [modelUid, exitAfter]);
    const row = r.rows[0];
    if (!row) return undefined;
    const record = recordOf(row);
    if (row.storage === "directory") {
      if (!this.dir) throw new StoreError("Unavailable", "the artifact is kept in a directory, but no artifact directory is configured (EIAAS_ARTIFACT_DIR)");
      return { record, stream: await this.dir.open(row.sha256) };
    }
    return { record, stream: Readable.from(this.readBlob(row.blob_id!, record.sizeBytes)) };
  }

  private async *readBlob(blobId: string, sizeBytes: number): AsyncGenerator<Buffer> {
    let seq = 0;
    let sent = 0;
    while (sent < sizeBytes) {
      const r = await this.pool.query<{ seq: number; data: Buffer }>(`SELECT seq, data FROM model_artifact_chunks WHERE blob_id = $1 AND seq >= $2 ORDER BY seq LIMIT $3`, [
        blobId,
        seq,
        CHUNKS_PER_READ,
      ]);
      if (r.rows.length === 0) throw new Error("the artifact was replaced or deleted during the download");
      for (const row of r.rows) {
        if (row.seq !== seq) throw new Error("the artifact was replaced or deleted during the download");
        seq++;
        sent += row.data.length;
        yield row.data;
      }
    }
  }

  /**
   * Deletes the early-exit heads of exits their Model no longer declares (no `spec.exits[]` with
   * that `afterLayer`): of the Model with `modelUid`, or of every Model. Their Postgres bytes go
   * at once; a directory's files at the next `collectGarbage`. Answers what was deleted.
   */
  async removeUndeclaredExits(modelUid?: string): Promise<Array<{ modelUid: string; namespace: string; name: string; exitAfter: number }>> {
    const r = await this.pool.query<{ model_uid: string; namespace: string; name: string; exit_after: number }>(
      `WITH gone AS (
         DELETE FROM model_artifacts a USING models m
         WHERE a.model_uid = m.uid AND a.exit_after > 0 AND ($1::uuid IS NULL OR a.model_uid = $1::uuid)
           AND NOT EXISTS (
             SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.spec->'exits') = 'array' THEN m.spec->'exits' ELSE '[]'::jsonb END) e
             WHERE e->>'afterLayer' = a.exit_after::text)
         RETURNING a.model_uid, a.exit_after, a.blob_id, m.namespace, m.name
       ), blobs AS (
         DELETE FROM model_artifact_blobs b USING gone WHERE b.id = gone.blob_id
       )
       SELECT model_uid, namespace, name, exit_after FROM gone`,
      [modelUid ?? null],
    );
    return r.rows.map((row) => ({ modelUid: row.model_uid, namespace: row.namespace, name: row.name, exitAfter: row.exit_after }));
  }

  /**
   * Models with an exit head whose `status.exitArtifacts[].checkedAgainst` is not the digest of
   * the stored base graph: heads nobody has checked against it (a server stopped between storing
   * a base graph and checking its heads, or heads older than the check).
   */
  async modelsWithUncheckedHeads(): Promise<Array<{ namespace: string; name: string; uid: string }>> {
    const r = await this.pool.query<{ namespace: string; name: string; uid: string }>(
      `SELECT m.namespace, m.name, m.uid FROM models m JOIN model_artifacts base ON base.model_uid = m.uid AND base.exit_after = 0
       WHERE EXISTS (SELECT 1 FROM model_artifacts h WHERE h.model_uid = m.uid AND h.exit_after > 0)
         AND EXISTS (
           SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(m.status->'exitArtifacts') = 'array' THEN m.status->'exitArtifacts' ELSE '[]'::jsonb END) e
           WHERE e->>'checkedAgainst' IS DISTINCT FROM base.sha256)`,
    );
    return r.rows;
  }

  /**
   * Deletes the head of the exit after layer `exitAfter` of the Model with `modelUid` if it is still
   * the version with this digest (a head uploaded since is another one, and stays). Its Postgres
   * bytes go at once; a directory's file at the next `collectGarbage`. Answers whether it went.
   */
  async removeExit(modelUid: string, exitAfter: number, sha256: string): Promise<boolean> {
    const r = await this.pool.query<{ n: number }>(
      `WITH gone AS (
         DELETE FROM model_artifacts WHERE model_uid = $1 AND exit_after = $2 AND exit_after > 0 AND sha256 = $3 RETURNING blob_id
       ), blobs AS (
         DELETE FROM model_artifact_blobs b USING gone WHERE b.id = gone.blob_id
       )
       SELECT count(*)::int AS n FROM gone`,
      [modelUid, exitAfter, sha256],
    );
    return r.rows[0]!.n > 0;
  }

  /**
   * Removes what no Model's artifact uses any more: blobs of uploads that died with their server,
   * and (with a directory) files no artifact names and temporary files of dead uploads. Safe to
   * run from several API servers at once.
   */
  async collectGarbage(opts: ArtifactGarbageOptions = {}): Promise<{ blobs: number; files: number }> {
    const graceMs = opts.graceMs ?? 60 * 60 * 1000;
    const blobs = await this.pool.query(
      `DELETE FROM model_artifact_blobs b WHERE touched_at < now() - make_interval(secs => $1::double precision / 1000)
         AND NOT EXISTS (SELECT 1 FROM model_artifacts a WHERE a.blob_id = b.id)`,
      [graceMs],
    );
    let files = 0;
    if (this.dir) {
      files = await this.dir.collect(graceMs, async (digests) => {
        const r = await this.pool.query<{ sha256: string }>(`SELECT DISTINCT sha256 FROM model_artifacts WHERE storage = 'directory' AND sha256 = ANY($1::text[])`, [digests]);
        return new Set(r.rows.map((row) => row.sha256));
      });
    }
    return { blobs: blobs.rowCount ?? 0, files };
  }
}

function isForeignKeyViolation(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === FOREIGN_KEY_VIOLATION;
}
