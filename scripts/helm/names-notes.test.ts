// Resource names for any release name Helm allows, and the NOTES.txt `helm install` prints.
import { describe, expect, it, vi } from "vitest";
import { RELEASE, renderChart, renderNotes } from "../testkit/helm.js";
import { consistencyErrors, find, get, type Workload } from "../testkit/manifests.js";

// Each test runs helm (a process) a few times: slow on a busy machine, never a hang.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

describe("helm/eiaas: names", () => {
  it("follow the release: <release>-eiaas-<component>, the release alone when it contains the chart name, or fullnameOverride", () => {
    expect(find(renderChart({}, { release: "prod" }), "Deployment", "prod-eiaas-api-server")).toBeDefined();
    expect(find(renderChart({}, { release: "eiaas-prod" }), "StatefulSet", "eiaas-prod-postgresql")).toBeDefined();
    const r = renderChart({ fullnameOverride: "edge" });
    expect(r.filter((m) => m.kind !== "Namespace").every((m) => m.metadata.name.startsWith("edge"))).toBe(true);
    const api = get<Workload>(r, "Deployment", "edge-api-server").spec.template.spec.containers[0]!;
    expect(api.env?.find((e) => e.name === "DATABASE_URL")?.value).toContain("@edge-postgresql:5432/");
  });

  it.each([36, 45, 53])("stay within Kubernetes' limits for a %i-character release name, each component keeping its suffix", (n) => {
    const release = "r".repeat(n - 4) + "-edg";
    const r = renderChart({}, { release });
    expect(consistencyErrors(r)).toEqual([]);
    const sts = r.find((m) => m.kind === "StatefulSet")!;
    expect(sts.metadata.name.length).toBeLessThanOrEqual(52);
    expect(sts.metadata.name).toMatch(/-postgresql$/);
    for (const m of r.filter((x) => x.kind === "Service")) expect(m.metadata.name.length, m.metadata.name).toBeLessThanOrEqual(63);
    const services = r.filter((m) => m.kind === "Service").map((m) => m.metadata.name);
    for (const suffix of ["-api-server", "-postgresql", "-redis"])
      expect(
        services.filter((s) => s.endsWith(suffix)),
        suffix,
      ).toHaveLength(1);
    // The URLs point at the Services as named.
    const env = get<Workload>(r, "Deployment", r.find((m) => m.kind === "Deployment" && m.metadata.name.endsWith("-scheduler"))!.metadata.name).spec.template.spec.containers[0]!.env!;
    const host = (v: string) => new URL(v.replace("$(EIAAS_POSTGRES_PASSWORD)", "x").replace("$(EIAAS_REDIS_PASSWORD)", "x")).hostname;
    expect(host(env.find((e) => e.name === "DATABASE_URL")!.value!)).toBe(r.find((m) => m.kind === "Service" && m.metadata.name.endsWith("-postgresql"))!.metadata.name);
    expect(host(env.find((e) => e.name === "REDIS_URL")!.value!)).toBe(r.find((m) => m.kind === "Service" && m.metadata.name.endsWith("-redis"))!.metadata.name);
  });
});

describe("helm/eiaas: NOTES.txt", () => {
  const ns = RELEASE.namespace;

  it("tells how to get the admin token and set up eictl and kubectl, and where agents and their tasks run", () => {
    const notes = renderNotes();
    expect(notes).toContain(`kubectl get secret -n ${ns} eiaas -o jsonpath='{.data.admin-token}' | base64 -d`);
    expect(notes).toContain(`kubectl port-forward -n ${ns} svc/eiaas-api-server 8443:8443`);
    expect(notes).toContain(`kubectl get secret -n ${ns} eiaas-tls -o jsonpath='{.data.ca\\.crt}' | base64 -d > eiaas-ca.crt`);
    expect(notes).toMatch(/eictl config set-context eiaas --server https:\/\/127\.0\.0\.1:8443 --token "\$EIAAS_TOKEN" --certificate-authority eiaas-ca\.crt/);
    expect(notes).toMatch(/kubectl config --kubeconfig eiaas\.kubeconfig set-cluster eiaas --server https:\/\/127\.0\.0\.1:8443 --certificate-authority eiaas-ca\.crt/);
    expect(notes).toContain("default (tier edge): kubectl label node NODE_NAME eiaas.io/agent=true");
    expect(notes).toContain(`Their task Pods run in namespace "${ns}-tasks".`);
    expect(notes).toContain(`Each keeps its node's credential on the host in /var/lib/eiaas-agent/eiaas (a hostPath volume:\n  namespace ${ns} must admit it`);
    expect(notes).not.toMatch(/\{\{|<no value>/);
  });

  it("names a TLS Secret and an admin token of yours when given", () => {
    const notes = renderNotes({ apiServer: { tls: { existingSecret: "my-tls" } }, adminToken: { existingSecret: "tokens", existingSecretKey: "admin" } });
    expect(notes).toContain(`kubectl get secret -n ${ns} my-tls`);
    expect(notes).toContain(`kubectl get secret -n ${ns} tokens -o jsonpath='{.data.admin}'`);
  });
});
