// The chart through the real Helm (v3 and v4): `helm lint --strict` and `helm template` over the
// value sets a platform engineer uses, every rendered object validated against the Kubernetes
// OpenAPI schemas offline (unknown fields refused), and the cross-object consistency no schema sees.
import { describe, expect, it } from "vitest";
import { helmLint, helms, helmTemplateRun, parseManifests, withImage } from "../testkit/helm.js";
import { schemaErrors } from "../testkit/k8s-schema.js";
import { consistencyErrors } from "../testkit/manifests.js";
import { VALUE_SETS } from "../testkit/value-sets.js";

describe.each(helms())("helm/eiaas with $name", (helm) => {
  it.each(VALUE_SETS)("$name: lints strictly, renders, and every object is valid and consistent", { timeout: 300_000 }, async (set) => {
    const lint = helmLint(helm, set.values, set.opts);
    expect(lint.stdout + lint.stderr, "helm lint --strict").toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(lint.code).toBe(0);
    const r = helmTemplateRun(withImage(set.values), { ...set.opts, helm });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const manifests = parseManifests(r.stdout);
    expect(manifests.length).toBeGreaterThan(5);
    const errors: string[] = [];
    for (const m of manifests) errors.push(...(await schemaErrors(m)));
    expect(errors).toEqual([]);
    expect(consistencyErrors(manifests, [...(set.externalSecrets ?? []), ...(set.externalConfigMaps ?? [])])).toEqual([]);
  });
});

describe("the checks themselves", () => {
  it("the schema validation refuses unknown fields, wrong types and unknown kinds", { timeout: 60_000 }, async () => {
    const deployment = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "x", labels: { a: "b" } },
      spec: {
        replicas: "2",
        selector: { matchLabels: { a: "b" } },
        template: { metadata: { labels: { a: "b" } }, spec: { containers: [{ name: "c", image: "i", resource: {} }], nodeSelector: { any: "label" } } },
      },
    };
    expect(await schemaErrors(deployment)).toEqual(["Deployment/x: data/spec/replicas must be integer", "Deployment/x: unknown field spec.template.spec.containers[0].resource"]);
    const vap = { apiVersion: "admissionregistration.k8s.io/v1alpha9", kind: "ValidatingAdmissionPolicy", metadata: { name: "p" } };
    expect((await schemaErrors(vap))[0]).toMatch(/not a Kubernetes API kind/);
  });

  it("the consistency checks notice a selector, probe, mount or Secret reference that points nowhere", () => {
    const w = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "w" },
      spec: {
        selector: { matchLabels: { app: "w" } },
        template: {
          metadata: { labels: { app: "other" } },
          spec: {
            containers: [
              {
                name: "c",
                image: "i",
                ports: [{ name: "http", containerPort: 80 }],
                readinessProbe: { httpGet: { path: "/", port: "metrics" } },
                volumeMounts: [{ name: "missing", mountPath: "/x" }],
                env: [
                  { name: "A", valueFrom: { secretKeyRef: { name: "nope", key: "k" } } },
                  { name: "B", value: "$(C)" },
                  { name: "C", value: "c" },
                ],
              },
            ],
            volumes: [{ name: "unused", emptyDir: {} }],
          },
        },
      },
    };
    expect(consistencyErrors([w])).toEqual([
      "Deployment/w: selector does not match its pod labels",
      "Deployment/w/c: readiness probe on port metrics, which the container does not declare",
      "Deployment/w/c: mounts missing, which the pod does not declare",
      "Deployment/w/c env A: Secret nope is neither rendered nor given as an existingSecret",
      "Deployment/w/c: env B uses $(C) before it is defined",
      "Deployment/w: volume unused is mounted by no container",
    ]);
  });
});
