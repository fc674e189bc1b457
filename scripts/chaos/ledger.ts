// The ledger of every write the traffic sent: what the API acknowledged, refused, or left unknown
// (no answer: a timeout, a connection cut by a dying API server — the write may or may not have
// happened). At any sample it says, for each object whose writes have all been answered before the
// sample began, what Postgres must hold: acknowledged creates exist unless deleted since, deleted
// objects never come back, edits are there at (at least) their acknowledged generation.

export type LedgerKind = "Tenant" | "Model" | "InferenceService" | "TrainingJob";
export type Outcome = "pending" | "acked" | "rejected" | "unknown";

export interface LedgerOp {
  type: "create" | "edit" | "delete" | "unfinalize";
  start: number;
  end?: number;
  outcome: Outcome;
  status?: number;
  /** Acknowledged edit: the generation answered and the spec field it set. */
  generation?: number;
  expect?: { path: string[]; value: unknown };
  /** Acknowledged delete: the answer still showed the object (finalizers pending). */
  terminating?: boolean;
}

/** One object the traffic created (names are never reused, except tenants re-created: a new entry). */
export interface LedgerEntry {
  kind: LedgerKind;
  namespace: string;
  name: string;
  uid?: string;
  ops: LedgerOp[];
  /** An op is in flight on it: the traffic sends one write at a time per object. */
  busy: boolean;
}

export interface TenantDeletion {
  namespace: string;
  /** The tenant's uid at its deletion: entries of its namespace created before are gone with it. */
  op: LedgerOp;
  /** Set once the same name was created again (acknowledged): its old objects must be gone. */
  recreatedAt?: number;
}

/** What Postgres holds of one object (any table of the ledger's kinds). */
export interface StoredRow {
  kind: LedgerKind;
  uid: string;
  namespace: string;
  name: string;
  generation: number;
  spec: any;
  deleting: boolean;
}

export interface LedgerFindings {
  /** Acknowledged, never deleted, not in Postgres. */
  lost: string[];
  /** Deleted (acknowledged, finalizers gone) and in Postgres again. */
  resurrected: string[];
  /** In Postgres below its acknowledged generation, or at it without the acknowledged value. */
  staleEdits: string[];
  /** In Postgres though its create was refused, or never sent by the traffic. */
  phantoms: string[];
  /** Objects the check skipped because a write to them was in flight. */
  inFlight: number;
}

export interface LedgerCounts {
  ops: number;
  acked: number;
  rejected: number;
  unknown: number;
  byType: Record<string, number>;
}

const finished = (op: LedgerOp, before: number) => op.outcome !== "pending" && op.end !== undefined && op.end < before;

function at(obj: any, path: string[]): unknown {
  return path.reduce((o, k) => (o === undefined || o === null ? undefined : o[k]), obj);
}

export class Ledger {
  readonly entries: LedgerEntry[] = [];
  readonly tenantDeletions: TenantDeletion[] = [];

  entry(kind: LedgerKind, namespace: string, name: string): LedgerEntry {
    const e: LedgerEntry = { kind, namespace, name, ops: [], busy: false };
    this.entries.push(e);
    return e;
  }

  /** Starts an op on `e`; the caller settles it with {@link Ledger.answer} or {@link Ledger.noAnswer}. */
  begin(e: LedgerEntry, type: LedgerOp["type"]): LedgerOp {
    const op: LedgerOp = { type, start: Date.now(), outcome: "pending" };
    e.ops.push(op);
    e.busy = true;
    return op;
  }

  /**
   * An answer came. 2xx acknowledges; 429 and 4xx refuse (nothing written); a 5xx other than a
   * refusal is unknown (the database may have committed before the server failed to answer).
   */
  answer(e: LedgerEntry, op: LedgerOp, status: number, body: any): void {
    op.end = Date.now();
    op.status = status;
    e.busy = false;
    if (status >= 200 && status < 300) {
      op.outcome = "acked";
      if (op.type === "create") e.uid = body?.metadata?.uid;
      if (op.type === "edit" || op.type === "unfinalize") op.generation = Number(body?.metadata?.generation ?? 0);
      if (op.type === "delete") op.terminating = Boolean(body?.metadata?.deletionTimestamp && body?.metadata?.finalizers?.length);
      return;
    }
    op.outcome = status >= 500 ? "unknown" : "rejected";
  }

  noAnswer(e: LedgerEntry, op: LedgerOp): void {
    op.end = Date.now();
    op.outcome = "unknown";
    e.busy = false;
  }

  /** Whether the entry is live as far as the traffic knows (acked create, no delete sent). */
  isLive(e: LedgerEntry): boolean {
    const create = e.ops[0];
    if (!create || create.type !== "create" || create.outcome !== "acked") return false;
    if (e.ops.some((o) => o.type === "delete" && o.outcome !== "rejected")) return false;
    const d = this.deletionOf(e);
    return !d || d.op.outcome === "rejected";
  }

  /** The deletion of the tenant the entry lives in (or is), sent after the entry was created. */
  deletionOf(e: LedgerEntry): TenantDeletion | undefined {
    const ns = e.kind === "Tenant" ? e.name : e.namespace;
    const since = e.ops[0]?.start ?? 0;
    return this.tenantDeletions.find((d) => d.namespace === ns && d.op.start >= since);
  }

  counts(): LedgerCounts {
    const c: LedgerCounts = { ops: 0, acked: 0, rejected: 0, unknown: 0, byType: {} };
    for (const e of this.entries) {
      for (const op of e.ops) {
        c.ops++;
        if (op.outcome === "acked") {
          c.acked++;
          const k = `${op.type} ${e.kind}`;
          c.byType[k] = (c.byType[k] ?? 0) + 1;
        } else if (op.outcome === "rejected") c.rejected++;
        else if (op.outcome === "unknown") c.unknown++;
      }
    }
    return c;
  }

  /**
   * Compares the ledger with `rows` (every object of the ledger's kinds, read in one snapshot that
   * began at `snapshotStart`). Objects with a write answered at or after the snapshot began, or
   * still unanswered, are skipped: either state may be right.
   */
  check(rows: StoredRow[], snapshotStart: number, namespacesOfTraffic: Set<string>): LedgerFindings {
    const f: LedgerFindings = { lost: [], resurrected: [], staleEdits: [], phantoms: [], inFlight: 0 };
    const byUid = new Map(rows.map((r) => [r.uid, r]));
    const byName = new Map(rows.map((r) => [`${r.kind}/${r.namespace}/${r.name}`, r]));
    const explained = new Set<string>();
    for (const e of this.entries) {
      const id = `${e.kind} ${e.namespace ? `${e.namespace}/` : ""}${e.name}`;
      const nameKey = `${e.kind}/${e.namespace}/${e.name}`;
      const nsDeletion = this.deletionOf(e);
      if (e.ops.some((o) => !finished(o, snapshotStart)) || (nsDeletion && !finished(nsDeletion.op, snapshotStart))) {
        f.inFlight++;
        if (e.uid) explained.add(e.uid);
        explained.add(nameKey);
        continue;
      }
      const create = e.ops[0]!;
      const row = e.uid ? byUid.get(e.uid) : byName.get(nameKey);
      if (row) explained.add(row.uid);
      if (create.outcome === "rejected") {
        if (row) f.phantoms.push(`${id}: created though its create was refused (${create.status})`);
        continue;
      }
      if (create.outcome === "unknown") {
        // It may exist; what it must not do is outlive an acknowledged delete.
        if (row && this.goneBy(e, nsDeletion, snapshotStart)) f.resurrected.push(`${id}: exists after its acknowledged delete`);
        continue;
      }
      if (this.goneBy(e, nsDeletion, snapshotStart)) {
        if (row) f.resurrected.push(`${id} (uid ${row.uid}): exists after its acknowledged delete`);
        continue;
      }
      const mayBeGone =
        e.ops.some((o) => (o.type === "delete" && o.outcome !== "rejected") || (o.type === "unfinalize" && o.outcome === "unknown")) ||
        (nsDeletion !== undefined && nsDeletion.op.outcome !== "rejected");
      if (!row) {
        if (!mayBeGone) f.lost.push(`${id} (uid ${e.uid}): acknowledged at ${new Date(create.end!).toISOString()}, not in Postgres`);
        continue;
      }
      const edits = e.ops.filter((o) => o.type === "edit");
      const lastAcked = [...edits].reverse().find((o) => o.outcome === "acked");
      if (lastAcked?.generation !== undefined) {
        if (row.generation < lastAcked.generation) f.staleEdits.push(`${id}: generation ${row.generation} < acknowledged ${lastAcked.generation}`);
        else if (row.generation === lastAcked.generation && lastAcked.expect) {
          const laterUnknown = edits.slice(edits.indexOf(lastAcked) + 1).some((o) => o.outcome === "unknown");
          const actual = at(row.spec, lastAcked.expect.path);
          if (!laterUnknown && JSON.stringify(actual) !== JSON.stringify(lastAcked.expect.value)) {
            f.staleEdits.push(
              `${id}: spec.${lastAcked.expect.path.join(".")} is ${JSON.stringify(actual)}, acknowledged ${JSON.stringify(lastAcked.expect.value)} at generation ${lastAcked.generation}`,
            );
          }
        }
      }
    }
    for (const r of rows) {
      if (explained.has(r.uid) || explained.has(`${r.kind}/${r.namespace}/${r.name}`)) continue;
      const ns = r.kind === "Tenant" ? r.name : r.namespace;
      if (!namespacesOfTraffic.has(ns)) continue;
      f.phantoms.push(`${r.kind} ${r.namespace ? `${r.namespace}/` : ""}${r.name} (uid ${r.uid}): never created by the traffic`);
    }
    return f;
  }

  /** Whether the object must be gone: deleted with nothing left to wait for, or its tenant re-created. */
  private goneBy(e: LedgerEntry, nsDeletion: TenantDeletion | undefined, before: number): boolean {
    // A tenant is created again only once the old one is gone, with everything in its namespace.
    if (nsDeletion && nsDeletion.op.outcome !== "rejected" && nsDeletion.recreatedAt !== undefined && nsDeletion.recreatedAt < before) return true;
    for (let i = 0; i < e.ops.length; i++) {
      const op = e.ops[i]!;
      if (op.type !== "delete" || op.outcome !== "acked") continue;
      if (!op.terminating) return true;
      // Terminating: gone once a later removal of its finalizers was acknowledged.
      if (e.ops.slice(i + 1).some((o) => o.type === "unfinalize" && o.outcome === "acked")) return true;
    }
    return false;
  }
}
