// Offline validation of rendered Kubernetes objects against the API's OpenAPI schemas, as the
// kubernetes-models package carries them:
// - its validate(): types, formats, enums, required fields (ajv, compiled from the OpenAPI spec);
// - unknown fields, which validate() lets through (the schemas leave additionalProperties open) but
//   the API server drops or, with kubectl's strict field validation, refuses: found by walking each
//   object along the package's TypeScript declarations of the same schemas, with the compiler's
//   type checker.
import { join } from "node:path";
import ts from "typescript";
import type { Manifest } from "./helm.js";
import { ROOT } from "./helm.js";

/** kubernetes-models' module of a kind: core "v1" → v1/Secret, "apps/v1" → apps/v1/Deployment. */
const modulePath = (m: Pick<Manifest, "apiVersion" | "kind">) => `kubernetes-models/${m.apiVersion}/${m.kind}`;

type ModelClass = new (data: unknown) => { validate(): void };

async function modelClass(m: Manifest): Promise<ModelClass> {
  const mod = (await import(modulePath(m)).catch(() => {
    throw new Error(`${m.apiVersion} ${m.kind} is not a Kubernetes API kind known to kubernetes-models`);
  })) as Record<string, ModelClass>;
  const cls = mod[m.kind];
  if (!cls) throw new Error(`${modulePath(m)} exports no ${m.kind}`);
  return cls;
}

/** Every kind the chart may render: the declarations are loaded once, in one compiler program. */
const KINDS = [
  "v1 Namespace",
  "v1 ServiceAccount",
  "v1 Secret",
  "v1 ConfigMap",
  "v1 Service",
  "apps/v1 Deployment",
  "apps/v1 StatefulSet",
  "apps/v1 DaemonSet",
  "policy/v1 PodDisruptionBudget",
  "networking.k8s.io/v1 NetworkPolicy",
  "networking.k8s.io/v1 Ingress",
  "rbac.authorization.k8s.io/v1 Role",
  "rbac.authorization.k8s.io/v1 RoleBinding",
  "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy",
  "admissionregistration.k8s.io/v1 ValidatingAdmissionPolicyBinding",
];

let program: ts.Program | undefined;

function declaredType(m: Manifest): { checker: ts.TypeChecker; type: ts.Type } | undefined {
  const n = KINDS.indexOf(`${m.apiVersion} ${m.kind}`);
  if (n < 0) return undefined;
  program ??= buildProgram();
  const checker = program.getTypeChecker();
  const alias = program.getSourceFile(VIRTUAL)!.statements.filter(ts.isTypeAliasDeclaration)[n]!;
  return { checker, type: checker.getTypeAtLocation(alias.name) };
}

function buildProgram(): ts.Program {
  const source = KINDS.map((key, n) => {
    const [apiVersion, kind] = key.split(" ") as [string, string];
    return `import type { I${kind} as K${n} } from "${modulePath({ apiVersion, kind })}";\nexport type T${n} = K${n};`;
  }).join("\n");
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => (name === VIRTUAL ? ts.createSourceFile(name, source, lang) : getSourceFile(name, lang, ...rest));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === VIRTUAL || fileExists(name);
  const p = ts.createProgram([VIRTUAL], options, host);
  const errors = p.getSemanticDiagnostics(p.getSourceFile(VIRTUAL));
  if (errors.length) throw new Error(`kubernetes-models declarations: ${ts.flattenDiagnosticMessageText(errors[0]!.messageText, "\n")}`);
  return p;
}

const VIRTUAL = join(ROOT, "scripts/testkit/.k8s-declared-types.ts");

/** Paths of fields in `value` that `type` does not declare. */
function unknownFields(checker: ts.TypeChecker, value: unknown, type: ts.Type, path: string, out: string[]): void {
  if (value === null || typeof value !== "object") return;
  const t = checker.getNonNullableType(type);
  if (t.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  if (Array.isArray(value)) {
    const element = checker.getIndexTypeOfType(t, ts.IndexKind.Number);
    if (element) value.forEach((v, i) => unknownFields(checker, v, element, `${path}[${i}]`, out));
    return;
  }
  const objectTypes = t.isUnion() ? t.types.filter((x) => x.flags & ts.TypeFlags.Object) : [t];
  const o = objectTypes[0];
  if (!o || !(o.flags & ts.TypeFlags.Object)) return;
  const index = checker.getIndexTypeOfType(o, ts.IndexKind.String);
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    const prop = o.getProperty(key);
    const sub = `${path}.${key}`;
    if (prop) unknownFields(checker, v, checker.getTypeOfSymbol(prop), sub, out);
    else if (index) unknownFields(checker, v, index, sub, out);
    else out.push(sub);
  }
}

/** Every schema violation of `m`, as messages naming the object and the field; empty when valid. */
export async function schemaErrors(m: Manifest): Promise<string[]> {
  const where = `${m.kind}/${m.metadata?.name}`;
  let cls: ModelClass;
  try {
    cls = await modelClass(m);
  } catch (err) {
    return [`${where}: ${(err as Error).message}`];
  }
  const errors: string[] = [];
  try {
    new cls(m).validate();
  } catch (err) {
    errors.push(`${where}: ${(err as Error).message}`);
  }
  const declared = declaredType(m);
  if (!declared) return [...errors, `${where}: ${m.apiVersion} ${m.kind} is not in the kinds scripts/testkit/k8s-schema.ts checks (KINDS)`];
  const unknown: string[] = [];
  unknownFields(declared.checker, m, declared.type, "", unknown);
  for (const f of unknown) errors.push(`${where}: unknown field ${f.slice(1)}`);
  return errors;
}
