// Conformance: kubectl auth can-i / whoami (issue 18 item 5) — kubectl v1.32 as a child process and
// @kubernetes/client-node in-process against the API server on Postgres; the reviews are walked
// against the RBAC the API enforces.
import { AuthenticationV1Api, AuthorizationV1Api } from "@kubernetes/client-node";
import request from "supertest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_PREFIX, KINDS } from "@eiaas/api";
import { authorize, type Verb } from "./http/authz.js";
import { startKubeClients, type KubeClients } from "@eiaas/testing/kube-clients";

let k: KubeClients;
let tokens: Record<"admin" | "tenant" | "agent", string>;
const VERBS: Verb[] = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"];

beforeAll(async () => {
  k = await startKubeClients();
  await k.tenant("acme");
  await k.tenant("beta");
  tokens = { admin: k.api.adminToken, tenant: await k.api.tenantToken("acme"), agent: (await k.api.tokens.mint({ role: "agent", nodeName: "edge-1" })).token };
}, 60_000);
afterAll(() => k.close());

describe("kubectl auth (item 5)", () => {
  it("can-i answers yes or no as the API enforces", async () => {
    const can = async (token: string, ...args: string[]) => (await k.kubectl(["auth", "can-i", ...args], { token })).stdout.trim().split(" ")[0];
    expect(await can(tokens.tenant, "create", "isvc")).toBe("yes");
    expect(await can(tokens.tenant, "create", "isvc", "-n", "beta")).toBe("no");
    expect(await can(tokens.tenant, "delete", "tasks")).toBe("no");
    expect(await can(tokens.tenant, "update", "isvc", "--subresource=status")).toBe("no");
    expect(await can(tokens.tenant, "list", "namespaces")).toBe("yes");
    expect(await can(tokens.tenant, "create", "namespaces")).toBe("no");
    expect(await can(tokens.agent, "patch", "edgenodes/edge-1", "--subresource=status")).toBe("yes");
    expect(await can(tokens.agent, "get", "edgenodes/edge-2")).toBe("no");
    expect(await can(tokens.admin, "deletecollection", "tenants")).toBe("yes");
    const list = await k.kubectl(["auth", "can-i", "--list", "-n", "acme"], { token: tokens.tenant });
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/inferenceservices\.eiaas\.io\s+\[\]\s+\[\]\s+\[get list watch create update patch delete deletecollection\]/);
    expect(list.stdout).toMatch(/tasks\.eiaas\.io\s+\[\]\s+\[\]\s+\[get list watch\]/);
  });

  it("whoami names the token's role and scope", async () => {
    const r = await k.kubectl(["auth", "whoami", "-o", "json"], { token: tokens.tenant });
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout).status.userInfo;
    expect(info.username).toMatch(/^eiaas:tenant:/);
    expect(info.groups).toEqual(expect.arrayContaining(["eiaas:tenant:acme", "system:authenticated"]));
    const who = await (await k.kubeConfig(tokens.agent)).makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
    expect(who.status?.userInfo?.groups).toContain("eiaas:node:edge-1");
  });

  it("walks the RBAC table: every role, kind, verb and namespace gets the review answer authorize() gives, and reads agree with the requests", async () => {
    for (const [role, token] of Object.entries(tokens)) {
      const authz = (await k.kubeConfig(token)).makeApiClient(AuthorizationV1Api);
      const principal = (await k.api.tokens.verify(token))!;
      for (const kind of KINDS) {
        for (const ns of kind.namespaced ? ["acme", "beta"] : [undefined]) {
          for (const verb of VERBS) {
            for (const sub of kind.hasStatus && ["get", "update", "patch"].includes(verb) ? [undefined, "status"] : [undefined]) {
              const review = await authz.createSelfSubjectAccessReview({
                body: { spec: { resourceAttributes: { group: "eiaas.io", resource: kind.plural, verb, ...(ns ? { namespace: ns } : {}), ...(sub ? { subresource: sub } : {}) } } },
              });
              let enforced: boolean;
              try {
                authorize(principal, verb, kind, ns, sub as "status" | undefined);
                enforced = true;
              } catch {
                enforced = false;
              }
              expect(review.status?.allowed, `${role} ${verb} ${kind.plural}${sub ? "/status" : ""} in ${ns ?? "(cluster)"}`).toBe(enforced);
              if (!sub && (verb === "list" || verb === "get")) {
                const path = `${API_PREFIX}${ns ? `/namespaces/${ns}` : ""}/${kind.plural}${verb === "get" ? "/none" : ""}`;
                const res = await request(k.api.app)
                  .get(path)
                  .set({ Authorization: `Bearer ${token}` });
                // Allowed: 200, or 404 for a get of a missing object; refused: 403, or 404 naming the namespace.
                const refused = res.status === 403 || (res.status === 404 && res.body.details?.kind === "namespaces");
                expect(!refused, `${role} ${verb} ${path} → ${res.status}`).toBe(review.status?.allowed);
              }
            }
          }
        }
      }
    }
  });
});
