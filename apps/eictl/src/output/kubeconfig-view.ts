import { stringify } from "yaml";
import type { Kubeconfig } from "@eiaas/client";
import { CliError } from "../cli/errors.js";
import { toJson } from "./printers.js";

/** Fields `kubectl config view` hides unless --raw: data blobs shortened, secrets redacted. */
const HIDDEN: Record<"clusters" | "users", Record<string, string>> = {
  clusters: { "certificate-authority-data": "DATA+OMITTED" },
  users: { "client-certificate-data": "DATA+OMITTED", "client-key-data": "DATA+OMITTED", token: "REDACTED", password: "REDACTED" },
};

const BODY = { clusters: "cluster", users: "user" } as const;

function redact(doc: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone(doc);
  for (const section of ["clusters", "users"] as const) {
    for (const entry of (out[section] as Array<Record<string, unknown>>) ?? []) {
      const body = entry[BODY[section]] as Record<string, unknown> | undefined;
      if (!body) continue;
      for (const [field, shown] of Object.entries(HIDDEN[section])) if (body[field] !== undefined && body[field] !== null && body[field] !== "") body[field] = shown;
    }
  }
  return out;
}

/** Only `context` and the cluster and user it names (`--minify`). */
function minify(doc: Record<string, unknown>, context: string): Record<string, unknown> {
  const pick = (section: string, name: unknown) => ((doc[section] as Array<{ name: string }>) ?? []).filter((e) => e.name === name);
  const contexts = pick("contexts", context) as Array<{ context?: { cluster?: string; user?: string } }>;
  if (!contexts.length) throw new CliError(`cannot locate context ${context}`);
  const body = contexts[0]!.context ?? {};
  return { ...doc, contexts, clusters: pick("clusters", body.cluster), users: pick("users", body.user), "current-context": context };
}

export interface ViewOptions {
  raw?: boolean;
  /** Only this context (the current one, or --context) and its cluster and user. */
  minifyTo?: string;
  format: "yaml" | "json";
}

/** The merged kubeconfig as `kubectl config view` prints it (keys sorted, secrets hidden unless raw). */
export function formatKubeconfigView(kc: Kubeconfig, o: ViewOptions): string {
  let doc = kc.merged();
  if (o.minifyTo !== undefined) doc = minify(doc, o.minifyTo);
  if (!o.raw) doc = redact(doc);
  return o.format === "json" ? toJson(doc) : stringify(doc, { lineWidth: 0, sortMapEntries: true, aliasDuplicateObjects: false });
}
