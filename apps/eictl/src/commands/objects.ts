import { lookupKind, type KindInfo } from "@eiaas/api";
import { ApiRequestError, type AnyObject } from "@eiaas/client";
import { CliError, reportError } from "../cli/errors.js";
import type { Session } from "../cli/session.js";

/** `-l` and `--field-selector` as typed. */
export interface Selectors {
  selector?: string;
  fieldSelector?: string;
}

/** Resolves a kind name as typed on the command line (plural, singular, short name, `nodes`). */
export function kindArg(name: string): KindInfo {
  const kind = lookupKind(name);
  if (!kind) throw new CliError(`the server doesn't have a resource type "${name}"`);
  return kind;
}

/** The namespace a command acts in: undefined for cluster-scoped kinds and with -A. */
export function namespaceFor(kind: KindInfo, s: Session): string | undefined {
  return kind.namespaced && !s.allNamespaces ? s.namespace : undefined;
}

export function selectors(opts: Selectors): { labelSelector?: string; fieldSelector?: string } {
  return { ...(opts.selector ? { labelSelector: opts.selector } : {}), ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}) };
}

/** The named objects (each missing one reported, as kubectl does), else the list. */
export async function getObjects(s: Session, kind: KindInfo, ns: string | undefined, names: string[], opts: Selectors): Promise<{ objects: AnyObject[]; failed: boolean }> {
  if (names.length === 0) {
    const list = await s.client.listAll(kind, { ...(ns !== undefined ? { namespace: ns } : {}), ...selectors(opts) });
    return { objects: list.items, failed: false };
  }
  const objects: AnyObject[] = [];
  let failed = false;
  for (const name of names) {
    try {
      objects.push(await s.client.get(kind, name, ns !== undefined ? { namespace: ns } : {}));
    } catch (err) {
      if (!(err instanceof ApiRequestError)) throw err;
      reportError(err);
      failed = true;
    }
  }
  return { objects, failed };
}
