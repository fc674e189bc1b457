// `npm run lint`: keeps the dependency direction of docs/architecture.md ("Dependency direction")
// and finds import cycles.
//  - libs never import apps (libs/testing, test code, excepted); an app may import another app only
//    through its package (the demo starts the API server, scheduler and agents), never by a path
//    into apps/;
//  - a package imports another only if its package.json declares it (tests excepted), and a
//    subpath only if that package exports it;
//  - libs/api imports nothing internal; libs/scheduling only @eiaas/api and stays pure
//    (no node: modules, env, clock or randomness); libs/onnx likewise, plus onnx-proto;
//    libs/training only @eiaas/scheduling, pure too;
//  - eictl never imports @eiaas/db or @eiaas/queue; agent and libs/client never @eiaas/db;
//  - no relative import leaves its package (an app's tests excepted); no cycles between files.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const problems: string[] = [];

interface Pkg {
  name: string;
  dir: string;
  deps: Set<string>;
}

const workspaces: string[] = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).workspaces;
const pkgs: Pkg[] = workspaces.map((w) => {
  const pj = JSON.parse(readFileSync(join(root, w, "package.json"), "utf8"));
  return { name: pj.name, dir: join(root, w), deps: new Set(Object.keys({ ...pj.dependencies, ...pj.devDependencies })) };
});
const byName = new Map(pkgs.map((p) => [p.name, p]));

// `allow`: the outside packages a pure package may import.
const RULES: Record<string, { only?: string[]; forbid?: string[]; pure?: boolean; allow?: string[] }> = {
  "@eiaas/api": { only: [] },
  "@eiaas/scheduling": { only: ["@eiaas/api"], pure: true },
  "@eiaas/onnx": { only: ["@eiaas/api"], pure: true, allow: ["onnx-proto"] },
  // Seeded, clock-free numerics: the same job gives the same data and models everywhere.
  "@eiaas/training": { only: ["@eiaas/scheduling"], pure: true },
  "@eiaas/eictl": { forbid: ["@eiaas/db", "@eiaas/queue"] },
  "@eiaas/agent": { forbid: ["@eiaas/db"] },
  "@eiaas/client": { forbid: ["@eiaas/db"] },
};

function files(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    if (e === "node_modules" || e === "generated") continue;
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

const IMPORT = /(?:^|[^\w.])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|^\s*import\s*["']([^"']+)["']/gm;
const graph = new Map<string, string[]>();

for (const pkg of pkgs) {
  const src = join(pkg.dir, "src");
  let list: string[] = [];
  try {
    list = files(src);
  } catch {
    continue;
  }
  const rule = RULES[pkg.name] ?? {};
  const isLib = relative(root, pkg.dir).startsWith("libs/");
  for (const file of list) {
    const text = readFileSync(file, "utf8");
    const rel = relative(root, file);
    const isTest = /\.test\.ts$|test-harness\.ts$|\/testing\//.test(rel);
    const edges: string[] = [];
    for (const m of text.matchAll(IMPORT)) {
      const spec = (m[1] ?? m[2] ?? m[3])!;
      if (spec.startsWith(".")) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
        // End-to-end tests may start another app (e.g. the scheduler's tests run the API server).
        if (!target.startsWith(pkg.dir + "/") && !(isTest && !isLib)) problems.push(`${rel}: relative import "${spec}" leaves ${pkg.name}`);
        if (!isTest) edges.push(target);
        continue;
      }
      if (spec.startsWith("@eiaas/")) {
        // A subpath (`@eiaas/scheduling/testing`) is its package's, and must be one it exports.
        const name = spec.split("/").slice(0, 2).join("/");
        const dep = byName.get(name);
        const subpath = `.${spec.slice(name.length)}`;
        if (!dep || (subpath !== "." && !(subpath in (JSON.parse(readFileSync(join(dep.dir, "package.json"), "utf8")).exports ?? {})))) {
          problems.push(`${rel}: unknown package ${spec}`);
          continue;
        }
        // libs/testing is test code (the harnesses that start an API app or a control plane in a
        // test's process): it alone may import an app, through that app's package.
        if (isLib && pkg.name !== "@eiaas/testing" && relative(root, dep.dir).startsWith("apps/")) problems.push(`${rel}: a lib imports an app (${spec})`);
        if (!isTest && !pkg.deps.has(name)) problems.push(`${rel}: imports ${spec} but ${pkg.name}'s package.json does not declare it`);
        if (!isTest && rule.only && !rule.only.includes(name)) problems.push(`${rel}: ${pkg.name} may import only ${rule.only.join(", ") || "nothing internal"}, not ${spec}`);
        if (rule.forbid?.includes(name)) problems.push(`${rel}: ${pkg.name} must not import ${spec}`);
        if (!isTest) edges.push(join(dep.dir, "src/index.ts"));
        continue;
      }
      if (spec.includes("/apps/") || spec.startsWith("apps/")) problems.push(`${rel}: imports an app by path (${spec})`);
      if (rule.pure && !isTest && !rule.allow?.includes(spec)) problems.push(`${rel}: ${pkg.name} is pure and may not import "${spec}"`);
    }
    if (rule.pure && !isTest) {
      const code = text.replace(/\/\/.*$/gm, "").replace(/\/\*[\s\S]*?\*\//g, "");
      for (const [re, what] of [
        [/process\.env/, "reads the environment"],
        [/Date\.now\(|new Date\(\s*\)|performance\.now\(/, "reads the clock"],
        [/Math\.random\(/, "uses unseeded randomness"],
      ] as const) {
        if (re.test(code)) problems.push(`${rel}: ${pkg.name} is pure but ${what}`);
      }
    }
    graph.set(file, edges);
  }
}

// Cycles between files (Tarjan's strongly connected components).
let index = 0;
const idx = new Map<string, number>();
const low = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
function strong(v: string): void {
  idx.set(v, index);
  low.set(v, index++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!idx.has(w)) {
      strong(w);
      low.set(v, Math.min(low.get(v)!, low.get(w)!));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
  }
  if (low.get(v) === idx.get(v)) {
    const comp: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      comp.push(w);
    } while (w !== v);
    if (comp.length > 1) problems.push(`import cycle: ${comp.map((f) => relative(root, f)).join(" → ")}`);
  }
}
for (const v of graph.keys()) if (!idx.has(v)) strong(v);

if (problems.length) {
  for (const p of problems) console.error(`lint: ${p}`);
  console.error(`lint: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`lint: ${graph.size} files, dependency direction and import cycles OK`);
