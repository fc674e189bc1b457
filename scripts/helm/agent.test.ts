// The agents as Helm renders them: node pools (tier, labels, taints, a spec file), their nodes'
// credentials kept on the host, what their ServiceAccount may do and where (a namespace of the task
// Pods' own, under the restricted Pod Security level), the optional admission policy and the
// NetworkPolicies around the databases.
import { describe, expect, it, vi } from "vitest";
import { parse as parseYaml } from "yaml";
import { edgeNodeSpec } from "@eiaas/api";
import { helms, helmTemplateRun, RELEASE, renderChart, withImage, type Manifest } from "../testkit/helm.js";
import { envOf, find, flagOf, get, workloads, type Workload } from "../testkit/manifests.js";
import { GPU_POOL } from "../testkit/value-sets.js";

// Each test runs helm (a process) a few times: slow on a busy machine, never a hang.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });

const ns = RELEASE.namespace;
type Rules = Manifest & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
type NetPol = Manifest & {
  spec: {
    podSelector: { matchLabels: Record<string, string> };
    policyTypes: string[];
    ingress: { from: { podSelector: { matchLabels: Record<string, string>; matchExpressions: { key: string; operator: string; values: string[] }[] } }[]; ports: { port: number }[] }[];
  };
};

describe("helm/eiaas: agents", () => {
  it("default pool: a DaemonSet on the labelled nodes, tier edge, runtime kubernetes, node name from the downward API, CA only", () => {
    const r = renderChart();
    const ds = get<Workload>(r, "DaemonSet", "eiaas-agent-default");
    const pod = ds.spec.template.spec;
    expect(pod.nodeSelector).toEqual({ "eiaas.io/agent": "true" });
    expect(pod.serviceAccountName).toBe("eiaas-agent");
    expect(pod.automountServiceAccountToken).toBe(true);
    const c = pod.containers[0]!;
    expect(c.args?.[0]).toBe("agent");
    expect(flagOf(c, "--runtime")).toBe("kubernetes");
    expect(flagOf(c, "--node")).toBe("$(NODE_NAME)");
    expect(flagOf(c, "--slots")).toBe("4");
    expect(flagOf(c, "--tier")).toBe("edge");
    expect(flagOf(c, "--spec-file")).toBeUndefined();
    expect(flagOf(c, "--server")).toBe(`https://eiaas-api-server.${ns}.svc:8443`);
    const env = envOf(c);
    expect(env.get("NODE_NAME")?.valueFrom?.fieldRef?.fieldPath).toBe("spec.nodeName");
    expect(env.get("EIAAS_K8S_NAMESPACE")?.value).toBe(`${ns}-tasks`);
    expect(env.get("EIAAS_CA_FILE")?.value).toBe("/etc/eiaas/ca/ca.crt");
    expect(env.get("EIAAS_BOOTSTRAP_TOKEN")?.valueFrom?.secretKeyRef).toEqual({ name: "eiaas", key: "bootstrap-token" });
    expect(env.has("DATABASE_URL"), "agents never open Postgres").toBe(false);
    expect(env.has("EIAAS_ADMIN_TOKEN")).toBe(false);
    const caVolume = pod.volumes?.find((v) => v.name === c.volumeMounts?.find((m) => m.mountPath === "/etc/eiaas/ca")?.name);
    expect(caVolume?.secret).toEqual({ secretName: "eiaas-tls", items: [{ key: "ca.crt", path: "ca.crt" }] });
  });

  it("node pools: one DaemonSet each, with its tier, labels, tolerations, and taints and spec in a spec file the agent accepts", () => {
    const edge = { name: "edge", nodeSelector: { "eiaas.io/pool": "edge" }, tier: "edge", labels: { site: "lab", hardware: "t4" } };
    const r = renderChart({ agent: { nodePools: [edge, GPU_POOL], tolerations: [{ key: "eiaas.io/dedicated", operator: "Exists" }] } });
    expect(
      workloads(r)
        .filter((w) => w.kind === "DaemonSet")
        .map((w) => w.metadata.name),
    ).toEqual(["eiaas-agent-edge", "eiaas-agent-gpu"]);

    const e = get<Workload>(r, "DaemonSet", "eiaas-agent-edge");
    const ec = e.spec.template.spec.containers[0]!;
    expect(e.spec.template.spec.nodeSelector).toEqual(edge.nodeSelector);
    expect(flagOf(ec, "--tier")).toBe("edge");
    expect(flagOf(ec, "--labels")).toBe("hardware=t4,site=lab");
    expect(e.spec.selector.matchLabels["eiaas.io/node-pool"]).toBe("edge");
    expect(find(r, "ConfigMap", "eiaas-agent-edge")).toBeUndefined();

    const g = get<Workload>(r, "DaemonSet", "eiaas-agent-gpu");
    const pod = g.spec.template.spec;
    const gc = pod.containers[0]!;
    expect(pod.tolerations).toEqual([{ key: "eiaas.io/dedicated", operator: "Exists" }, ...GPU_POOL.tolerations]);
    expect(flagOf(gc, "--slots")).toBe("8");
    expect(flagOf(gc, "--labels")).toBe("hardware=a10g,site=eu-1");
    expect(flagOf(gc, "--tier")).toBeUndefined();
    const specFile = flagOf(gc, "--spec-file")!;
    const mount = gc.volumeMounts!.find((m) => specFile.startsWith(`${m.mountPath}/`))!;
    const cmName = pod.volumes!.find((v) => v.name === mount.name)!.configMap!.name;
    const cm = get<Manifest & { data: Record<string, string> }>(r, "ConfigMap", cmName);
    const spec = parseYaml(cm.data[specFile.slice(mount.mountPath.length + 1)]!);
    // What the agent does with --spec-file: parse it as an EdgeNode spec.
    const parsed = edgeNodeSpec.safeParse(spec);
    expect(parsed.error?.issues ?? []).toEqual([]);
    expect(parsed.data).toMatchObject({ tier: "cloud", hardware: "a10g", taints: GPU_POOL.taints, capacity: { cpu: 4000, memoryMiB: 16384, gpu: 1 }, compute: { gflops: 31000 } });
    // A changed spec file rolls the pool's agents.
    const changed = renderChart({ agent: { nodePools: [{ ...GPU_POOL, taints: [] }] } });
    expect(get<Workload>(changed, "DaemonSet", "eiaas-agent-gpu").spec.template.metadata.annotations?.["checksum/node-spec"]).not.toBe(g.spec.template.metadata.annotations?.["checksum/node-spec"]);
  });

  it("node pools: a spec file from a ConfigMap of the operator's, each pool's own agent resources, the rest left to the agent to detect", () => {
    const resources = { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "768Mi" } };
    const own = { name: "ws", nodeSelector: { "eiaas.io/pool": "workstations" }, tier: "edge", specConfigMap: { name: "ws-spec", key: "spec.yaml" }, resources };
    const bare = { name: "bare", nodeSelector: { "eiaas.io/pool": "bare" }, tier: "device" };
    const r = renderChart({ agent: { nodePools: [own, bare] } });
    const pools = workloads(r).filter((w) => w.kind === "DaemonSet");
    expect(pools.map((w) => [w.metadata.name, w.spec.template.spec.nodeSelector])).toEqual([
      ["eiaas-agent-ws", own.nodeSelector],
      ["eiaas-agent-bare", bare.nodeSelector],
    ]);
    const ws = get<Workload>(r, "DaemonSet", "eiaas-agent-ws").spec.template.spec;
    const c = ws.containers[0]!;
    // The operator's file, mounted under the name the agent is given; the pool's tier over it.
    const specFile = flagOf(c, "--spec-file")!;
    const mount = c.volumeMounts!.find((m) => specFile.startsWith(`${m.mountPath}/`))!;
    expect(mount.readOnly).toBe(true);
    expect(ws.volumes!.find((v) => v.name === mount.name)!.configMap).toEqual({ name: "ws-spec", items: [{ key: "spec.yaml", path: specFile.slice(mount.mountPath.length + 1) }] });
    expect(flagOf(c, "--tier")).toBe("edge");
    expect(find(r, "ConfigMap", "eiaas-agent-ws")).toBeUndefined();
    expect(c.resources).toEqual(resources);
    expect(ws.initContainers![0]!.resources).toEqual(resources);
    // No capacity flag anywhere: the agents detect their nodes' CPUs, memory, GPUs and speed.
    const b = get<Workload>(r, "DaemonSet", "eiaas-agent-bare").spec.template.spec.containers[0]!;
    expect(b.resources).toEqual({ requests: { cpu: "50m", memory: "256Mi" }, limits: { memory: "512Mi" } });
    for (const container of [c, b]) {
      for (const flag of ["--cpu", "--memory-mib", "--gpu", "--gflops"]) expect(flagOf(container, flag), flag).toBeUndefined();
    }
    // Taints or spec as values and a ConfigMap of one's own: one or the other.
    const both = helmTemplateRun(withImage({ agent: { nodePools: [{ ...own, taints: GPU_POOL.taints }] } }));
    expect(both.code).not.toBe(0);
    expect(both.stderr).toContain("agent.nodePools[ws]: give taints and spec in the specConfigMap's file, or as values, not both");
  });

  it("every pool's agents keep their node's credential on the host (per release), in a directory an init container hands to the agent's user", () => {
    const edge = { name: "edge", nodeSelector: { "eiaas.io/pool": "edge" }, tier: "edge" };
    for (const [values, hostPath] of [
      [{ agent: { nodePools: [edge, GPU_POOL] } }, "/var/lib/eiaas-agent/eiaas"],
      [{ agent: { nodePools: [edge, GPU_POOL], stateHostPath: "/srv/eiaas" } }, "/srv/eiaas/eiaas"],
    ] as const) {
      const pools = workloads(renderChart(values)).filter((w) => w.kind === "DaemonSet");
      expect(pools.map((w) => w.metadata.name)).toEqual(["eiaas-agent-edge", "eiaas-agent-gpu"]);
      for (const ds of pools) {
        const pod = ds.spec.template.spec;
        const c = pod.containers[0]!;
        const stateDir = flagOf(c, "--state-dir");
        expect(stateDir, ds.metadata.name).toBe("/var/lib/eiaas/agents");
        const mount = c.volumeMounts?.find((m) => m.mountPath === stateDir);
        expect(mount?.readOnly, `${ds.metadata.name}: the agent writes its credential there`).toBeUndefined();
        const volume = pod.volumes?.find((v) => v.name === mount?.name);
        // A recreated pod (an upgrade, an eviction) finds it again: the bootstrap token registers new nodes only.
        expect(volume?.hostPath, ds.metadata.name).toEqual({ path: hostPath, type: "DirectoryOrCreate" });
        // The kubelet creates the directory as root: the init container, root for the chown only,
        // with no privilege escalation and no capability but CHOWN and FOWNER.
        const init = (pod.initContainers ?? []).filter((i) => i.volumeMounts?.some((m) => m.name === mount?.name));
        expect(init, ds.metadata.name).toHaveLength(1);
        expect(init[0]!.image).toBe(c.image);
        expect(init[0]!.args?.join(" ")).toBe(`sh -c chown 10001:10001 ${stateDir} && chmod 0700 ${stateDir}`);
        expect(init[0]!.securityContext).toEqual({
          runAsUser: 0,
          runAsNonRoot: false,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"], add: ["CHOWN", "FOWNER"] },
        });
        expect(pod.securityContext).toMatchObject({ runAsUser: 10001, runAsGroup: 10001, runAsNonRoot: true });
        expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
      }
    }
    // The init container hands the directory to the user the agent runs as, whichever it is.
    const other = renderChart({ podSecurityContext: { runAsUser: 2000, runAsGroup: 3000, runAsNonRoot: true, fsGroup: 3000, seccompProfile: { type: "RuntimeDefault" } } });
    const init = get<Workload>(other, "DaemonSet", "eiaas-agent-default").spec.template.spec.initContainers![0]!;
    expect(init.args?.[2]).toMatch(/^chown 2000:3000 /);
  });

  it("refuses an agent state path that is relative or ends in a slash (the release's directory goes under it)", () => {
    for (const path of ["relative/dir", "/var/lib/x/"]) {
      const r = helmTemplateRun(withImage({ agent: { stateHostPath: path } }));
      expect(r.code, path).not.toBe(0);
      expect(r.stderr, path).toMatch(/stateHostPath/);
    }
  });

  it("refuses two pools of the same name", () => {
    const r = helmTemplateRun(withImage({ agent: { nodePools: [GPU_POOL, GPU_POOL] } }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('agent.nodePools: the pool name "gpu" is used twice');
  });

  it("RBAC: Pods and pods/log in the workload namespace only, which is not the release's and enforces the restricted Pod Security level", () => {
    const r = renderChart();
    const work = `${ns}-tasks`;
    const namespace = get(r, "Namespace", work);
    expect(namespace.metadata.labels).toMatchObject({ "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest" });
    const role = get<Rules>(r, "Role", "eiaas-agent");
    expect(role.metadata.namespace).toBe(work);
    expect(role.rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "create", "delete"] },
      { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    ]);
    const rb = get<Manifest & { roleRef: object; subjects: object[] }>(r, "RoleBinding", "eiaas-agent");
    expect(rb.metadata.namespace).toBe(work);
    expect(rb.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "eiaas-agent" });
    expect(rb.subjects).toEqual([{ kind: "ServiceAccount", name: "eiaas-agent", namespace: ns }]);
    expect(r.some((m) => m.kind === "ClusterRole" || m.kind === "ClusterRoleBinding")).toBe(false);
    // Nothing the control plane keeps is in the workload namespace.
    expect(r.filter((m) => m.kind === "Secret" && m.metadata.namespace === work)).toEqual([]);
  });

  it("refuses to run task Pods in the release namespace, beside the control plane's Secrets", () => {
    const r = helmTemplateRun(withImage({ agent: { workloadNamespace: { name: ns, create: false } } }));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("agent.workloadNamespace.name must differ from the release namespace");
    // An existing namespace of your choice: no Namespace object, the Role lands there.
    const own = renderChart({ agent: { workloadNamespace: { name: "edge-work", create: false } } });
    expect(own.some((m) => m.kind === "Namespace")).toBe(false);
    expect(get(own, "Role", "eiaas-agent").metadata.namespace).toBe("edge-work");
  });

  it("NetworkPolicies: only the API server and scheduler reach Postgres, only they and the agents reach Redis", () => {
    const r = renderChart();
    const expectations: [string, number, string[]][] = [
      ["postgresql", 5432, ["api-server", "scheduler"]],
      ["redis", 6379, ["api-server", "scheduler", "agent"]],
    ];
    for (const [component, port, clients] of expectations) {
      const np = get<NetPol>(r, "NetworkPolicy", `eiaas-${component}`);
      expect(np.spec.podSelector.matchLabels).toEqual({ "app.kubernetes.io/name": "eiaas", "app.kubernetes.io/instance": RELEASE.name, "app.kubernetes.io/component": component });
      expect(np.spec.policyTypes).toEqual(["Ingress"]);
      expect(np.spec.ingress).toHaveLength(1);
      const rule = np.spec.ingress[0]!;
      expect(rule.ports).toEqual([{ protocol: "TCP", port }]);
      // A podSelector without namespaceSelector: the release namespace only, so never a task Pod.
      expect(rule.from).toHaveLength(1);
      expect(Object.keys(rule.from[0]!)).toEqual(["podSelector"]);
      expect(rule.from[0]!.podSelector.matchLabels).toEqual({ "app.kubernetes.io/name": "eiaas", "app.kubernetes.io/instance": RELEASE.name });
      expect(rule.from[0]!.podSelector.matchExpressions).toEqual([{ key: "app.kubernetes.io/component", operator: "In", values: clients }]);
      // The clients named are the pods that have the database's URL.
      for (const w of workloads(r)) {
        const component = w.spec.template.metadata.labels["app.kubernetes.io/component"]!;
        const needs = w.spec.template.spec.containers.some((c) => envOf(c).has(port === 5432 ? "DATABASE_URL" : "REDIS_URL") || (port === 6379 && c.args?.[0] === "agent"));
        expect(clients.includes(component), `${w.metadata.name} → ${np.metadata.name}`).toBe(needs);
      }
    }
    expect(renderChart({ networkPolicy: { enabled: false } }).some((m) => m.kind === "NetworkPolicy")).toBe(false);
  });
});

describe("helm/eiaas: admission policy", () => {
  type Vap = Manifest & {
    spec: {
      failurePolicy: string;
      matchConstraints: { resourceRules: object[] };
      matchConditions: { expression: string }[];
      variables: { expression: string }[];
      validations: { expression: string }[];
    };
  };
  const VAP_V1 = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy";

  it.each(helms())("renders only where the cluster serves ValidatingAdmissionPolicy v1, and says so otherwise ($name)", (helm) => {
    const values = withImage({ agent: { admissionPolicy: { enabled: true } } });
    // 1.26 to 1.29 have no v1 (1.28/1.29 only v1beta1, and their tokens lack the node claim).
    for (const opts of [{ kubeVersion: "1.26.0" }, { kubeVersion: "1.29.0", apiVersions: ["admissionregistration.k8s.io/v1beta1/ValidatingAdmissionPolicy"] }]) {
      const r = helmTemplateRun(values, { ...opts, helm });
      expect(r.code, JSON.stringify(opts)).not.toBe(0);
      expect(r.stderr).toContain("agent.admissionPolicy.enabled needs ValidatingAdmissionPolicy in admissionregistration.k8s.io/v1");
    }
    const ok = helmTemplateRun(values, { kubeVersion: "1.30.0", apiVersions: [VAP_V1], helm });
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toContain("kind: ValidatingAdmissionPolicy\n");
  });

  it("confines the agent's ServiceAccount to Pods on its token's node, in the workload namespace", () => {
    expect(find(renderChart(), "ValidatingAdmissionPolicy", "eiaas-agent-node-scope")).toBeUndefined();
    const r = renderChart({ agent: { admissionPolicy: { enabled: true }, workloadNamespace: { name: "edge-work", create: false } } }, { kubeVersion: "1.30.0", apiVersions: [VAP_V1] });
    const vap = get<Vap>(r, "ValidatingAdmissionPolicy", "eiaas-agent-node-scope");
    expect(vap.apiVersion).toBe("admissionregistration.k8s.io/v1");
    expect(vap.spec.failurePolicy).toBe("Fail");
    expect(vap.spec.matchConstraints.resourceRules).toEqual([{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "DELETE"], resources: ["pods"] }]);
    expect(vap.spec.matchConditions.map((m) => m.expression)).toEqual([`request.userInfo.username == "system:serviceaccount:${ns}:eiaas-agent"`]);
    const cel = [...vap.spec.variables.map((v) => v.expression), ...vap.spec.validations.map((v) => v.expression)].join("\n");
    expect(cel).toMatch(/variables\.pod\.spec\.nodeName == request\.userInfo\.extra\['authentication\.kubernetes\.io\/node-name'\]\[0\]/);
    expect(cel).toMatch(/request\.operation == 'DELETE' \? oldObject : object/);
    const binding = get<Manifest & { spec: Record<string, unknown> }>(r, "ValidatingAdmissionPolicyBinding", "eiaas-agent-node-scope");
    expect(binding.spec).toEqual({
      policyName: vap.metadata.name,
      validationActions: ["Deny"],
      matchResources: { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "edge-work" } } },
    });
  });
});
