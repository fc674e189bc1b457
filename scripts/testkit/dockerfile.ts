// deploy/Dockerfile and .dockerignore read as text: instructions by stage, the files COPY takes
// from the build context, and the packages the image's processes load.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helm.js";

export const read = (p: string) => readFileSync(join(ROOT, p), "utf8");

export interface Instruction {
  op: string;
  args: string;
  line: number;
}
export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

/** Instructions (continuations joined, comments dropped) grouped by stage; ARGs before FROM kept apart. */
export function parseDockerfile(src: string): { preamble: Instruction[]; stages: Stage[] } {
  const lines = src.split("\n");
  const instructions: Instruction[] = [];
  let buf = "";
  let start = 0;
  lines.forEach((raw, i) => {
    const line = raw.trimEnd();
    if (!buf && (line.trim() === "" || line.trim().startsWith("#"))) return;
    if (buf && line.trim().startsWith("#")) return;
    if (!buf) start = i + 1;
    if (line.endsWith("\\")) {
      buf += line.slice(0, -1) + " ";
      return;
    }
    buf += line;
    const m = /^\s*([A-Za-z]+)\s+([\s\S]*)$/.exec(buf);
    if (!m) throw new Error(`Dockerfile:${start}: cannot parse ${buf}`);
    instructions.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buf = "";
  });
  const preamble: Instruction[] = [];
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === "FROM") {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (!m) throw new Error(`Dockerfile:${ins.line}: bad FROM`);
      stages.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (stages.length === 0) {
      preamble.push(ins);
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { preamble, stages };
}

/** A minimal .dockerignore matcher: `*` within a path segment, `**` across segments, directory prefixes. */
export function dockerignore(): (path: string) => boolean {
  const patterns = read(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const regexes = patterns.map((p) => {
    const negate = p.startsWith("!");
    const body = (negate ? p.slice(1) : p).replace(/^\/+/, "").replace(/\/+$/, "");
    const re = body
      .split("/")
      .map((seg) =>
        seg === "**"
          ? "(?:.*/)?"
          : seg
              .replace(/[.+^${}()|[\]\\]/g, "\\$&")
              .replace(/\*/g, "[^/]*")
              .replace(/\?/g, "[^/]") + "/",
      )
      .join("");
    // A pattern matches the path itself or anything below it.
    return { negate, re: new RegExp(`^${re.replace(/\/$/, "")}(?:/.*)?$`) };
  });
  return (path: string) => {
    let ignored = false;
    for (const { negate, re } of regexes) if (re.test(path)) ignored = !negate;
    return ignored;
  };
}

export const dockerfile = () => parseDockerfile(read("deploy/Dockerfile"));

/** Sources of a COPY without --from, as paths relative to the build context (the repository root). */
export function copySources(ins: Instruction): string[] {
  let args = ins.args;
  if (/--from=/.test(args)) return [];
  args = args.replace(/--\S+\s+/g, "");
  const parts = args.startsWith("[") ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  return parts.slice(0, -1);
}

/**
 * Bare package names loaded at run time by the image's entry points (apps' main.ts and the
 * migrator), following relative and @eiaas/* imports through the sources. `import type` is erased
 * by tsx and not counted.
 */
export function runtimePackages(): Set<string> {
  const workspaces = new Map<string, string>();
  for (const w of (JSON.parse(read("package.json")) as { workspaces: string[] }).workspaces) {
    const pj = JSON.parse(read(`${w}/package.json`)) as { name: string };
    workspaces.set(pj.name, join(ROOT, w, "src/index.ts"));
  }
  const entries = ["apps/api-server/src/main.ts", "apps/scheduler/src/main.ts", "apps/agent/src/main.ts", "apps/eictl/src/main.ts", "libs/db/src/migrate-cli.ts"]
    .map((p) => join(ROOT, p))
    .filter((p) => existsSync(p));
  const seen = new Set<string>();
  const packages = new Set<string>();
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop()!;
    if (seen.has(file) || !existsSync(file)) continue;
    seen.add(file);
    const src = readFileSync(file, "utf8")
      .replace(/^\s*import\s+type\b[^;]*;/gm, "")
      .replace(/^\s*export\s+type\b[^;]*;/gm, "");
    for (const m of src.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) {
        const base = join(file, "..", spec.replace(/\.js$/, ""));
        queue.push(existsSync(`${base}.ts`) ? `${base}.ts` : join(base, "index.ts"));
      } else if (workspaces.has(spec)) {
        queue.push(workspaces.get(spec)!);
      } else if (!spec.startsWith("node:")) {
        packages.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
      }
    }
  }
  return packages;
}
