// The value sets a platform engineer installs the chart with (helm/README.md and docs/install.md
// show each). Every one is linted, rendered by both Helm versions and validated object by object.
import type { RenderOptions } from "./helm.js";

export interface ValueSet {
  name: string;
  values: Record<string, unknown>;
  opts?: RenderOptions;
  /** Secrets the values name (existingSecret): references to them need not be rendered. */
  externalSecrets?: string[];
  /** ConfigMaps the values name (a node pool's specConfigMap): references to them need not be rendered. */
  externalConfigMaps?: string[];
}

export const GPU_POOL = {
  name: "gpu",
  nodeSelector: { "node.kubernetes.io/instance-type": "g5.xlarge" },
  tier: "cloud",
  labels: { hardware: "a10g", site: "eu-1" },
  taints: [{ key: "eiaas.io/gpu", value: "true", effect: "NoSchedule" }],
  spec: { hardware: "a10g", capacity: { cpu: 4000, memoryMiB: 16384, gpu: 1 }, compute: { gflops: 31000 } },
  tolerations: [{ key: "nvidia.com/gpu", operator: "Exists", effect: "NoSchedule" }],
  slots: 8,
};

export const VALUE_SETS: ValueSet[] = [
  { name: "defaults (bundled Postgres and Redis)", values: {} },
  {
    name: "external Postgres and Redis by URL",
    values: {
      postgresql: { enabled: false },
      externalDatabase: { url: "postgresql://eiaas:s3cret@db.example.org:5432/eiaas?sslmode=require" },
      redis: { enabled: false },
      externalRedis: { url: "rediss://:s3cret@redis.example.org:6380" },
    },
  },
  {
    name: "everything from Secrets of your own (GitOps)",
    values: {
      adminToken: { existingSecret: "eiaas-tokens", existingSecretKey: "admin" },
      bootstrapToken: { existingSecret: "eiaas-tokens", existingSecretKey: "bootstrap" },
      postgresql: { enabled: false },
      externalDatabase: { existingSecret: "eiaas-db", existingSecretKey: "url" },
      redis: { enabled: false },
      externalRedis: { existingSecret: "eiaas-redis", existingSecretKey: "url" },
      apiServer: { tls: { existingSecret: "eiaas-api-tls" } },
    },
    externalSecrets: ["eiaas-tokens", "eiaas-db", "eiaas-redis", "eiaas-api-tls"],
  },
  {
    name: "bundled databases with passwords from Secrets of your own",
    values: {
      postgresql: { auth: { existingSecret: "pg-auth", existingSecretKey: "password" } },
      redis: { auth: { existingSecret: "redis-auth", existingSecretKey: "password" } },
    },
    externalSecrets: ["pg-auth", "redis-auth"],
  },
  {
    name: "ingress with its own certificate, extra SANs (a DNS name and an IP address)",
    values: {
      apiServer: {
        ingress: { enabled: true, className: "nginx", host: "eiaas.example.org", tlsSecretName: "eiaas-ingress-tls" },
        tls: { extraSANs: ["eiaas.internal.example.org", "10.20.30.40"] },
        service: { type: "LoadBalancer", port: 443, annotations: { "service.beta.kubernetes.io/aws-load-balancer-internal": "true" } },
      },
    },
  },
  {
    name: "node pools: edge servers, tainted GPU cloud nodes, devices",
    values: {
      agent: {
        nodePools: [
          { name: "edge", nodeSelector: { "eiaas.io/pool": "edge" }, tier: "edge", labels: { site: "lab" } },
          GPU_POOL,
          {
            name: "cameras",
            nodeSelector: { "eiaas.io/pool": "cameras" },
            tier: "device",
            labels: { hardware: "jetson-nano" },
            spec: { parent: "edge-lab", network: { uplinkMbps: 40, downlinkMbps: 40, rttMs: 2 } },
          },
          // Its spec file from a ConfigMap of the operator's, and agents of its own size.
          {
            name: "workstations",
            nodeSelector: { "eiaas.io/pool": "workstations" },
            tier: "edge",
            specConfigMap: { name: "workstation-spec", key: "spec.yaml" },
            resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { memory: "768Mi" } },
          },
        ],
        tolerations: [{ key: "eiaas.io/dedicated", operator: "Exists" }],
      },
    },
    externalConfigMaps: ["workstation-spec"],
  },
  {
    name: "admission policy on Kubernetes 1.30+",
    values: { agent: { admissionPolicy: { enabled: true }, workloadNamespace: { name: "edge-work", create: false } } },
    opts: { kubeVersion: "1.30.0", apiVersions: ["admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"] },
  },
  {
    name: "control plane only (no agents, queues on Postgres), observability on",
    values: { agent: { enabled: false }, redis: { enabled: false }, otel: { endpoint: "http://otel-collector.observability:4318" }, logLevel: "debug", metrics: { auth: true } },
  },
  {
    name: "HA tuned: 3 replicas, own affinity, no PDB, NetworkPolicies off",
    values: {
      apiServer: {
        replicas: 3,
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: { "app.kubernetes.io/component": "api-server" } } }],
          },
        },
      },
      scheduler: { replicas: 3, podDisruptionBudget: { enabled: false, maxUnavailable: 1 } },
      networkPolicy: { enabled: false },
    },
  },
  {
    name: "a 40-character release name on the oldest supported Kubernetes (1.26)",
    values: {},
    opts: { release: "edge-intelligence-production-eu-west-one", kubeVersion: "1.26.0" },
  },
];
