import { formatTable } from "./table.js";

/** Column of top-level values: after "Annotations:" and two spaces. */
const TOP_WIDTH = 14;

/** A labelled value; a multi-line value continues under the first line's value column. */
export type Field = [label: string, value: string | undefined];

/**
 * Builds `kubectl describe`-style text: `Label:  value` blocks whose values line up, nested
 * sections indented by two spaces, and embedded tables.
 */
export class DescribeWriter {
  private readonly lines: string[] = [];

  /** Aligned `Label: value` lines at an indent level; undefined values are left out. */
  fields(fields: Field[], level = 0): this {
    const shown = fields.filter((f): f is [string, string] => f[1] !== undefined);
    // Top-level values start in one column (as kubectl's), nested ones after their longest label.
    const width = Math.max(level === 0 ? TOP_WIDTH : 0, ...shown.map(([l]) => l.length + 3));
    const pad = "  ".repeat(level);
    for (const [label, value] of shown) {
      const [first = "", ...rest] = value.split("\n");
      this.lines.push(`${pad}${`${label}:`.padEnd(width)}${first}`.trimEnd());
      for (const r of rest) this.lines.push(`${pad}${" ".repeat(width)}${r}`.trimEnd());
    }
    return this;
  }

  /** A section title (`Spec:`) at an indent level. */
  title(text: string, level = 0): this {
    this.lines.push(`${"  ".repeat(level)}${text}:`);
    return this;
  }

  /** A title with a one-line value, or `<none>`. */
  line(text: string, level = 0): this {
    this.lines.push(`${"  ".repeat(level)}${text}`);
    return this;
  }

  /** A table under a title, with kubectl's dashed underline; `<none>` when empty. */
  table(title: string, header: string[], rows: string[][], level = 0): this {
    if (rows.length === 0) {
      this.lines.push(`${"  ".repeat(level)}${title}:`.padEnd(TOP_WIDTH) + "<none>");
      return this;
    }
    this.title(title, level);
    const underline = header.map((h) => "-".repeat(h.length));
    const pad = "  ".repeat(level + 1);
    for (const l of formatTable([underline, ...rows], { header })
      .trimEnd()
      .split("\n"))
      this.lines.push(`${pad}${l}`);
    return this;
  }

  /** Pre-rendered text (e.g. a plan table), indented. */
  block(text: string, level = 0): this {
    for (const l of text.trimEnd().split("\n")) this.lines.push(`${"  ".repeat(level)}${l}`);
    return this;
  }

  toString(): string {
    return `${this.lines.join("\n")}\n`;
  }
}

/** Several `key=value` pairs, one per line (Labels:, Annotations:), or `<none>`. */
export function pairs(map: Record<string, string> | undefined, skip: string[] = []): string {
  const entries = Object.entries(map ?? {})
    .filter(([k]) => !skip.includes(k))
    .sort(([a], [b]) => a.localeCompare(b));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join("\n") : "<none>";
}

/** A LabelSelector as its string form (`tier=device,app in (a,b)`); `<all>` when empty. */
export function selectorText(sel: { matchLabels?: Record<string, string>; matchExpressions?: Array<{ key: string; operator: string; values?: string[] }> } | undefined): string {
  const parts = Object.entries(sel?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel?.matchExpressions ?? []) {
    if (e.operator === "Exists") parts.push(e.key);
    else if (e.operator === "DoesNotExist") parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator.toLowerCase()} (${(e.values ?? []).join(",")})`);
  }
  return parts.length ? parts.join(",") : "<all>";
}
