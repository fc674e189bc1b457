// eictl as a child process against the real API server over HTTPS: contexts (in kubeconfig), TLS
// trust, global flags, discovery, version, completion and failures that print one line.
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { freePort } from "@eiaas/testing";
import { eictl, oneErrorLine, startServer, type TestServer } from "@eiaas/testing/eictl";

// Each test runs several CLI processes; a busy machine (other test files in parallel) slows them.
vi.setConfig({ testTimeout: 60_000 });

let server: TestServer;
let dir: string;
let config: string;
const run = (...args: string[]) => eictl(args, { config });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "eictl-config-"));
  config = join(dir, "config");
  server = await startServer();
});
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("contexts", () => {
  it("without a context every command says how to set one up", async () => {
    // Through tsx, as `npm run eictl` runs it; the other tests use the same source bundled.
    const r = await eictl(["get", "nodes"], { config, tsx: true });
    expect(oneErrorLine(r)).toBe(
      `error: no context is set in the kubeconfig (${config}): run 'eictl config set-context NAME --server URL --token TOKEN' and 'eictl config use-context NAME', or pass --server and --token`,
    );
  });

  it("set-context with a CA file, use-context, get-contexts, view (redacted unless --raw), then HTTPS calls work", async () => {
    const [a, b] = await Promise.all([
      run("config", "set-context", "local", "--server", server.url, "--token", server.adminToken, "-n", "demo", "--certificate-authority", server.caPath),
      run("config", "set-context", "insecure", "--server", server.url, "--token", server.adminToken, "--insecure-skip-tls-verify"),
    ]);
    expect(a.stdout + b.stdout).toMatch(/Context "(local|insecure)" created\./);
    const contexts = await run("config", "get-contexts");
    // As kubectl's set-context: a new context does not become the current one.
    expect(parse(await readFile(config, "utf8"))["current-context"]).toBeUndefined();
    expect((await run("config", "use-context", "local")).stdout).toBe('Switched to context "local".\n');
    const [list, view, raw, name, version] = await Promise.all([
      run("config", "get-contexts"),
      run("config", "view"),
      run("config", "view", "--raw", "-o", "json"),
      run("config", "current-context"),
      run("version"),
    ]);
    expect(contexts.code).toBe(0);
    expect(list.stdout.split("\n")[0]).toBe("CURRENT   NAME       CLUSTER    AUTHINFO   NAMESPACE");
    expect(list.stdout).toMatch(/^\*\s+local\s+local\s+local\s+demo$/m);
    expect(view.stdout).toContain("token: REDACTED");
    expect(view.stdout).not.toContain(server.adminToken);
    expect(JSON.parse(raw.stdout).users.find((u: any) => u.name === "local").user.token).toBe(server.adminToken);
    expect(name.stdout).toBe("local\n");
    expect(version.stdout).toMatch(/^Client Version: v\d+\.\d+\.\d+\nServer Version: v\d+\.\d+\.\d+\n$/);
    expect((await readFile(config, "utf8")).length).toBeGreaterThan(0);
  });

  it("flags override the context; --context picks another; TLS failures and bad tokens are one line", async () => {
    await run("config", "set-context", "untrusted", "--server", server.url, "--token", server.adminToken);
    const [insecure, untrusted, badToken, badContext, flagsOnly] = await Promise.all([
      run("--context", "insecure", "version", "-o", "json"),
      run("--context", "untrusted", "get", "nodes"),
      run("get", "nodes", "--token", "not-a-valid-token"),
      run("get", "nodes", "--context", "nope"),
      eictl(["get", "tenants", "--server", server.url, "--token", server.adminToken], { config: join(dir, "absent"), env: { NODE_EXTRA_CA_CERTS: server.caPath } }),
    ]);
    expect(JSON.parse(insecure.stdout).serverVersion.gitVersion).toMatch(/^v/);
    expect(oneErrorLine(untrusted)).toMatch(new RegExp(`^error: unable to verify the TLS connection to the server ${server.url}: .*--certificate-authority`));
    expect(oneErrorLine(badToken)).toMatch(/^Error from server \(Unauthorized\): /);
    expect(oneErrorLine(badContext)).toBe(`error: context "nope" not found in the kubeconfig (${config}): see 'eictl config get-contexts'`);
    expect(flagsOnly.code).toBe(0);
    expect(flagsOnly.stderr).toBe("No resources found\n");
  });

  it("an unreachable server: one line naming the URL and what to do", async () => {
    const url = `https://127.0.0.1:${await freePort()}`;
    const r = await run("get", "nodes", "--server", url);
    expect(oneErrorLine(r)).toBe(
      `error: the connection to the server ${url} was refused - is it running? start one with 'npm run demo', or check --server and the context ('eictl config get-contexts')`,
    );
  });
});

describe("discovery, version, completion", () => {
  it("api-resources (table, wide, name, --namespaced) and version -o yaml", async () => {
    const [table, wide, names, cluster, version] = await Promise.all([
      run("api-resources"),
      run("api-resources", "-o", "wide"),
      run("api-resources", "-o", "name"),
      run("api-resources", "--namespaced=false", "--no-headers"),
      run("version", "-o", "yaml"),
    ]);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toBe("NAME                SHORTNAMES   APIVERSION          NAMESPACED   KIND");
    expect(lines).toContain("inferenceservices   isvc         eiaas.io/v1alpha1   true         InferenceService");
    expect(wide.stdout.split("\n")[0]).toMatch(/KIND\s+VERBS\s+CATEGORIES$/);
    expect(wide.stdout).toMatch(/create,delete,deletecollection,get,list,patch,update,watch\s+all,eiaas/);
    expect(names.stdout.split("\n")).toContain("edgenodes.eiaas.io");
    expect(cluster.stdout).toBe("edgenodes   en    eiaas.io/v1alpha1   false   EdgeNode\ntenants     tn    eiaas.io/v1alpha1   false   Tenant\n");
    expect(parse(version.stdout)).toMatchObject({ clientVersion: { gitVersion: "v0.1.0" }, serverVersion: { major: "1", eiaas: { version: "v0.1.0" } } });
  });

  it("completion bash and zsh produce scripts the shells accept", async () => {
    const [bash, zsh, bad] = await Promise.all([run("completion", "bash"), run("completion", "zsh"), run("completion", "fish")]);
    expect(bash.stdout).toContain("complete -o default -F _eictl eictl");
    expect(bash.stdout).toMatch(/get\|describe\|delete\)/);
    expect(bash.stdout).toContain("inferenceservices");
    const file = join(dir, "completion.bash");
    await writeFile(file, bash.stdout);
    execFileSync("bash", ["-n", file]);
    // The completion function works: complete `eictl get isv`.
    const out = execFileSync("bash", ["-c", `source ${file}; COMP_WORDS=(eictl get isv); COMP_CWORD=2; _eictl; echo "\${COMPREPLY[@]}"`]).toString();
    expect(out.trim()).toBe("isvc");
    expect(zsh.stdout).toMatch(/^#compdef eictl\n/);
    expect(zsh.stdout).toContain("bashcompinit");
    expect(oneErrorLine(bad)).toBe('error: unsupported shell "fish": bash or zsh');
  });
});

describe("bad input: exit 1, one line, no stack", () => {
  it("unknown kinds, formats, selectors, commands and options", async () => {
    const results = await Promise.all([
      run("get", "widgets"),
      run("get", "nodes", "-o", "xml"),
      run("get", "nodes", "-l", "a in (b"),
      run("frobnicate"),
      run("get", "nodes", "--bogus"),
      run("apply", "-f", join(dir, "missing.yaml")),
      run("apply", "-f", "deploy/examples/isvc-auto.yaml", "--timeout", "soon", "--wait"),
    ]);
    const [kind, format, selector, command, option, file, duration] = results.map((r) => r);
    expect(oneErrorLine(kind!)).toBe('error: the server doesn\'t have a resource type "widgets"');
    expect(oneErrorLine(format!)).toBe('error: unable to match a printer suitable for the output format "xml", allowed formats are: wide,json,yaml,name');
    expect(oneErrorLine(selector!)).toMatch(/^Error from server \(BadRequest\): unable to parse requirement/);
    expect(command!.code).toBe(1);
    expect(command!.stderr).toMatch(/^error: unknown command 'frobnicate'/);
    expect(option!.code).toBe(1);
    expect(option!.stderr).toMatch(/^error: unknown option '--bogus'/);
    expect(oneErrorLine(file!)).toMatch(/^error: the path ".*missing.yaml" does not exist$/);
    expect(oneErrorLine(duration!)).toBe('error: invalid --timeout "soon": use a duration like 30s, 5m or 1h');
  });
});
