import { API_VERSION } from "@eiaas/api";
import { ApiRequestError, type Endpoint, type EndpointList } from "@eiaas/client";
import { CliError, reportError } from "../cli/errors.js";
import type { Session } from "../cli/session.js";
import { parseOutput, toJson, toYaml } from "../output/printers.js";
import { formatTable } from "../output/table.js";
import { getObjects, kindArg, namespaceFor } from "./objects.js";

/**
 * `endpoints` (`ep`) is not a stored kind, as Endpoints are in Kubernetes: a service's endpoints
 * are in its status, and the ranked answers come from the discovery API (design.md §3).
 */
export function isEndpointsKind(name: string): boolean {
  return ["endpoints", "endpoint", "ep"].includes(name.toLowerCase());
}

export interface EndpointsOptions {
  output?: string;
  headers: boolean;
  /** The asking client's node: rank by the latency predicted from it. */
  client?: string;
  /** Find the Running services whose model has this capability (needs `client`). */
  capability?: string;
}

/** An endpoint as printed: where it came from, when several services or namespaces are shown. */
type Row = Endpoint & { namespace?: string };

/**
 * `get endpoints [SERVICE...]`: the services' endpoints from their status; with `--client NODE`,
 * each named service's endpoints ranked by the latency predicted from that client; with
 * `--capability NAME --client NODE`, the namespace's services that can do it, ranked.
 */
export async function printEndpoints(s: Session, names: string[], opts: EndpointsOptions): Promise<void> {
  const format = parseOutput(opts.output, ["table", "wide", "json", "yaml"]);
  const ranked = opts.client !== undefined;
  let rows: Row[] = [];
  let failed = false;
  if (opts.capability !== undefined) {
    if (names.length > 0) throw new CliError("--capability finds the services by what their model can do: name no service with it");
    if (!ranked) throw new CliError("--capability needs --client NODE: the endpoints are ranked from the asking client");
    if (s.allNamespaces) throw new CliError("--capability searches one namespace: drop -A");
    rows = (await s.client.discover(s.namespace, opts.capability, opts.client!)).items;
  } else if (ranked) {
    if (names.length === 0) throw new CliError("--client ranks the endpoints of the services named: eictl get endpoints SERVICE --client NODE (or --capability NAME --client NODE)");
    if (s.allNamespaces) throw new CliError("a resource cannot be retrieved by name across all namespaces");
    for (const name of names) {
      try {
        rows.push(...(await s.client.serviceEndpoints(s.namespace, name, opts.client!)).items.map((e) => ({ ...e, service: name })));
      } catch (err) {
        if (!(err instanceof ApiRequestError)) throw err;
        reportError(err);
        failed = true;
      }
    }
  } else {
    if (s.allNamespaces && names.length > 0) throw new CliError("a resource cannot be retrieved by name across all namespaces");
    const isvc = kindArg("InferenceService");
    const found = await getObjects(s, isvc, namespaceFor(isvc, s), names, {});
    failed = found.failed;
    for (const svc of found.objects) {
      for (const e of (svc.status?.endpoints ?? []) as Endpoint[]) {
        rows.push({
          ...(s.allNamespaces ? { namespace: svc.metadata.namespace } : {}),
          service: svc.metadata.name,
          node: e.node,
          ...(e.address ? { address: e.address } : {}),
          role: e.role,
          task: e.task,
        });
      }
    }
  }
  if (failed) process.exitCode = 1;

  if (format === "json" || format === "yaml") {
    const list: EndpointList = { apiVersion: API_VERSION, kind: "EndpointList", metadata: {}, items: rows };
    process.stdout.write(format === "json" ? toJson(list) : toYaml(list));
    return;
  }
  if (rows.length === 0) {
    if (!failed) process.stderr.write(s.allNamespaces ? "No resources found\n" : `No resources found in ${s.namespace} namespace.\n`);
    return;
  }
  const wide = format === "wide";
  const header = [...(s.allNamespaces ? ["NAMESPACE"] : []), "SERVICE", "NODE", "ROLE", "ADDRESS", ...(ranked ? ["LATENCY"] : []), ...(wide ? ["TASK"] : [])];
  const table = rows.map((e) => [
    ...(s.allNamespaces ? [e.namespace ?? ""] : []),
    e.service ?? "",
    e.node,
    e.role,
    e.address ?? "<none>",
    ...(ranked ? [latencyText(e.predicted?.latencyMs)] : []),
    ...(wide ? [e.task] : []),
  ]);
  process.stdout.write(formatTable(table, opts.headers ? { header } : {}));
}

/** The API answers an unreachable endpoint with the largest safe integer (JSON has no Infinity). */
function latencyText(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms) || ms >= Number.MAX_SAFE_INTEGER) return "<unreachable>";
  return `${Math.round(ms * 10) / 10}ms`;
}
