// `tsx scripts/check-size.ts`: measures the size habits of issue 22 in production code —
// functions (declarations, methods, accessors, constructors, function expressions and arrow
// functions) longer than 80 lines, files longer than 400 lines, and `as unknown as` casts.
//
// "Function length" is the count of lines from the function's first line to its closing brace;
// a nested function counts inside its parent too (the parent is as long as it reads).
// "Production" is apps/*/src and libs/*/src without tests (*.test.ts), test support
// (libs/testing, src/testing/, *test-harness.ts) and generated code (libs/db/src/generated).
//
// Report only: exits 0 whatever it finds, unless `--strict` is given (then 1 on any finding),
// so `npm run lint` can adopt it once the tree is clean.
// Options: `--strict`; `--json` (machine-readable); any other argument is a path prefix
// (relative to the repository root) that limits the report, e.g. `apps/api-server libs/queue`.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import ts from "typescript";

/** Longest production function, in lines, before it is reported. */
export const MAX_FUNCTION_LINES = 80;
/** Longest production file, in lines, before it is reported. */
export const MAX_FILE_LINES = 400;

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");

export interface LongFunction {
  file: string;
  line: number;
  name: string;
  lines: number;
}

export interface SizeReport {
  longFunctions: LongFunction[];
  longFiles: { file: string; lines: number }[];
  unknownCasts: { file: string; line: number }[];
}

/** Whether a repository-relative path is production code in the sense of issue 22. */
export function isProduction(path: string): boolean {
  if (!/^(apps|libs)\/[^/]+\/src\/.*\.ts$/.test(path)) return false;
  if (path.endsWith(".d.ts") || path.endsWith(".test.ts")) return false;
  if (path.startsWith("libs/testing/") || path.startsWith("libs/db/src/generated/")) return false;
  if (/\/src\/(.*\/)?testing\//.test(path) || /test-harness\.ts$/.test(path)) return false;
  return true;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (e === "node_modules" || e === "dist") continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

/** A readable name for a function node: its own name, or the binding or property it is assigned to. */
function functionName(node: ts.FunctionLikeDeclaration, sf: ts.SourceFile): string {
  if (ts.isConstructorDeclaration(node)) {
    const cls = node.parent;
    return `${cls.name?.text ?? "class"}.constructor`;
  }
  const own = node.name;
  if (own && (ts.isIdentifier(own) || ts.isStringLiteral(own) || ts.isPrivateIdentifier(own))) {
    const owner = ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : "";
    return owner + own.text;
  }
  const p = node.parent;
  if (ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text;
  if (ts.isPropertyAssignment(p) || ts.isPropertyDeclaration(p)) return p.name.getText(sf);
  if (ts.isCallExpression(p)) return `(callback of ${p.expression.getText(sf).slice(0, 40)})`;
  return "(anonymous)";
}

/** Measures one source text; `file` is its repository-relative path. */
export function measureSource(file: string, text: string): SizeReport {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const report: SizeReport = { longFunctions: [], longFiles: [], unknownCasts: [] };
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const fileLines = text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
  if (fileLines > MAX_FILE_LINES) report.longFiles.push({ file, lines: fileLines });
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const start = lineOf(node.getStart(sf));
      const lines = lineOf(node.getEnd()) - start + 1;
      if (lines > MAX_FUNCTION_LINES) {
        report.longFunctions.push({ file, line: start, name: functionName(node as ts.FunctionLikeDeclaration, sf), lines });
      }
    }
    if (ts.isAsExpression(node) && ts.isAsExpression(node.expression) && node.expression.type.kind === ts.SyntaxKind.UnknownKeyword) {
      report.unknownCasts.push({ file, line: lineOf(node.getStart(sf)) });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return report;
}

/** Measures every production file of the repository under `prefixes` (all when empty). */
export function measureTree(prefixes: string[] = []): SizeReport {
  const all: SizeReport = { longFunctions: [], longFiles: [], unknownCasts: [] };
  const files = [...walk(join(root, "apps")), ...walk(join(root, "libs"))]
    .map((p) => relative(root, p))
    .filter(isProduction)
    .filter((p) => prefixes.length === 0 || prefixes.some((pre) => p.startsWith(pre)))
    .sort();
  for (const file of files) {
    const r = measureSource(file, readFileSync(join(root, file), "utf8"));
    all.longFunctions.push(...r.longFunctions);
    all.longFiles.push(...r.longFiles);
    all.unknownCasts.push(...r.unknownCasts);
  }
  all.longFunctions.sort((a, b) => b.lines - a.lines);
  all.longFiles.sort((a, b) => b.lines - a.lines);
  return all;
}

function main(argv: string[]): number {
  const strict = argv.includes("--strict");
  const json = argv.includes("--json");
  const prefixes = argv.filter((a) => !a.startsWith("--")).map((a) => a.replace(/^\.\//, ""));
  const r = measureTree(prefixes);
  if (json) {
    console.log(JSON.stringify(r, null, 2));
  } else {
    console.log(`Functions over ${MAX_FUNCTION_LINES} lines: ${r.longFunctions.length}`);
    for (const f of r.longFunctions) console.log(`  ${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.name}`);
    console.log(`Files over ${MAX_FILE_LINES} lines: ${r.longFiles.length}`);
    for (const f of r.longFiles) console.log(`  ${String(f.lines).padStart(4)}  ${f.file}`);
    const perFile = new Map<string, number>();
    for (const c of r.unknownCasts) perFile.set(c.file, (perFile.get(c.file) ?? 0) + 1);
    console.log(`"as unknown as" casts: ${r.unknownCasts.length}`);
    for (const [file, n] of perFile) console.log(`  ${String(n).padStart(4)}  ${file}`);
  }
  const found = r.longFunctions.length + r.longFiles.length + r.unknownCasts.length;
  return strict && found > 0 ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  process.exitCode = main(process.argv.slice(2));
}
