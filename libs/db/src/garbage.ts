import type pg from "pg";
import { KINDS, type KindInfo } from "@eiaas/api";
import { rowToObject, type ObjectRow, type StoredObject } from "./codec.js";

/**
 * Of `candidates` (objects of `kind` as some cache last saw them), the ones that are garbage as
 * Kubernetes' garbage collector defines it — they have owner references and not one of their
 * owners exists, by uid — read fresh from Postgres: the objects as they are now (a candidate
 * already gone is left out) and their owners looked up in their own tables. A cache may not show
 * an owner yet, or show one that was since re-created under the same name with another uid; this
 * read is what the decision rests on. Owner uids are never reused, so an owner found missing here
 * stays missing. An owner of a kind this server does not know cannot be checked: its dependents
 * are kept. A reference without a uuid names nothing that can exist: that owner is absent.
 */
export async function findGarbage(pool: pg.Pool, kind: KindInfo, candidates: readonly StoredObject[]): Promise<StoredObject[]> {
  if (candidates.length === 0) return [];
  const fresh = (await pool.query<ObjectRow>(`SELECT * FROM "${kind.table}" WHERE uid = ANY($1::uuid[])`, [candidates.map((c) => c.metadata.uid)])).rows.map((row) => rowToObject(kind, row));
  const byKind = new Map<KindInfo, Set<string>>();
  for (const obj of fresh) {
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const owner = KINDS.find((k) => k.kind === ref.kind);
      // A uid that is no uuid names nothing that can exist: absent, nothing to look up.
      if (!owner || !UUID.test(ref.uid)) continue;
      let uids = byKind.get(owner);
      if (!uids) byKind.set(owner, (uids = new Set()));
      uids.add(ref.uid.toLowerCase());
    }
  }
  const existing = new Set<string>();
  for (const [owner, uids] of byKind) {
    const r = await pool.query<{ uid: string }>(`SELECT uid::text AS uid FROM "${owner.table}" WHERE uid = ANY($1::uuid[])`, [[...uids]]);
    for (const row of r.rows) existing.add(`${owner.kind}/${row.uid}`);
  }
  return fresh.filter((obj) => {
    const refs = obj.metadata.ownerReferences ?? [];
    // Each owner must be known to be gone: of a known kind, and not found by its uid.
    return refs.length > 0 && refs.every((ref) => KINDS.some((k) => k.kind === ref.kind) && !existing.has(`${ref.kind}/${String(ref.uid).toLowerCase()}`));
  });
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
