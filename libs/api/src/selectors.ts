import type { LabelSelector } from "./meta.js";

/** One requirement of a label selector (string or object form). */
export interface LabelRequirement {
  key: string;
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist" | "Equals" | "NotEquals";
  values: string[];
}

/** Converts a LabelSelector object into requirements. */
export function selectorRequirements(selector: LabelSelector | undefined): LabelRequirement[] {
  if (!selector) return [];
  const reqs: LabelRequirement[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    reqs.push({ key, operator: "Equals", values: [value] });
  }
  for (const e of selector.matchExpressions ?? []) {
    reqs.push({ key: e.key, operator: e.operator, values: e.values ?? [] });
  }
  return reqs;
}

/** Whether `labels` satisfy every requirement (an empty list matches everything). */
export function matchesRequirements(reqs: readonly LabelRequirement[], labels: Readonly<Record<string, string>>): boolean {
  for (const r of reqs) {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    const v = labels[r.key];
    switch (r.operator) {
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
      case "Equals":
      case "In":
        if (!has || !r.values.includes(v as string)) return false;
        break;
      case "NotEquals":
      case "NotIn":
        if (has && r.values.includes(v as string)) return false;
        break;
    }
  }
  return true;
}

/** Whether `labels` match a LabelSelector object. */
export function matchesLabelSelector(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>>): boolean {
  return matchesRequirements(selectorRequirements(selector), labels);
}

export class SelectorParseError extends Error {}

/**
 * Parses the string form used by `?labelSelector=` and `-l`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x)`, `a`, `!a`, comma-separated.
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  const parts = splitTopLevel(text.trim());
  for (const raw of parts) {
    const part = raw.trim();
    if (part === "") continue;
    let m: RegExpMatchArray | null;
    if ((m = part.match(/^([^\s!=(),]+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!
        .split(",")
        .map((s) => s.trim())
        .filter((s) => s !== "");
      reqs.push({ key: m[1]!, operator: m[2] === "in" ? "In" : "NotIn", values });
    } else if ((m = part.match(/^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/))) {
      reqs.push({ key: m[1]!, operator: m[2] === "!=" ? "NotEquals" : "Equals", values: [m[3]!] });
    } else if ((m = part.match(/^!\s*([^\s!=(),]+)$/))) {
      reqs.push({ key: m[1]!, operator: "DoesNotExist", values: [] });
    } else if ((m = part.match(/^([^\s!=(),]+)$/))) {
      reqs.push({ key: m[1]!, operator: "Exists", values: [] });
    } else {
      throw new SelectorParseError(`unable to parse requirement: "${part}"`);
    }
  }
  return reqs;
}

function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

/** A field selector requirement: `field=value`, `field==value` or `field!=value`. */
export interface FieldRequirement {
  field: string;
  value: string;
  negate: boolean;
}

export function parseFieldSelector(text: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  for (const raw of text.split(",")) {
    const part = raw.trim();
    if (part === "") continue;
    const m = part.match(/^([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*)$/);
    if (!m) throw new SelectorParseError(`invalid field selector: "${part}"`);
    out.push({ field: m[1]!, value: m[3]!.trim(), negate: m[2] === "!=" });
  }
  return out;
}
