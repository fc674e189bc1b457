import { stringify } from "yaml";
import { GROUP, lookupKind } from "@eiaas/api";
import { CliError } from "../cli/errors.js";

export type OutputFormat = "table" | "wide" | "json" | "yaml" | "name";

/** Parses `-o`; kubectl's message for anything else. */
export function parseOutput<F extends OutputFormat = OutputFormat>(value: string | undefined, allowed: readonly F[] = ["table", "wide", "json", "yaml", "name"] as F[]): F {
  const v = (value ?? "table") as F;
  if (!allowed.includes(v)) {
    const shown = allowed.filter((f) => f !== "table");
    throw new CliError(`unable to match a printer suitable for the output format "${value}", allowed formats are: ${shown.join(",")}`);
  }
  return v;
}

/** JSON as kubectl prints it: four-space indent, one trailing newline. */
export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 4)}\n`;
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}

/** Several objects as kubectl prints them: a v1 List. */
export function asList(items: unknown[]): { apiVersion: "v1"; kind: "List"; items: unknown[]; metadata: { resourceVersion: "" } } {
  return { apiVersion: "v1", kind: "List", items, metadata: { resourceVersion: "" } };
}

/** `-o name`: `<singular>.<group>/<name>`, e.g. `inferenceservice.eiaas.io/camera`. */
export function resourceName(obj: { kind?: string; metadata?: { name?: string } }): string {
  const kind = obj.kind ? lookupKind(obj.kind) : undefined;
  return `${kind?.singular ?? String(obj.kind ?? "").toLowerCase()}.${GROUP}/${obj.metadata?.name ?? ""}`;
}

/** `kind/name` as apply, create, cordon and the like report objects. */
export function shortRef(obj: { kind?: string; metadata?: { name?: string } }): string {
  const kind = obj.kind ? lookupKind(obj.kind) : undefined;
  return `${kind?.singular ?? String(obj.kind ?? "").toLowerCase()}/${obj.metadata?.name ?? ""}`;
}

/** Machine output of objects: one object as itself, several (or a list request) as a List. */
export function formatObjects(objects: unknown[], format: "json" | "yaml" | "name", asListAlways: boolean): string {
  if (format === "name") return objects.map((o) => `${resourceName(o as { kind?: string })}\n`).join("");
  const value = objects.length === 1 && !asListAlways ? objects[0] : asList(objects);
  return format === "json" ? toJson(value) : toYaml(value);
}
