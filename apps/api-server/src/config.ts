import { z } from "zod";
import { COUNTED_RESOURCES, priorityValue, type CountedResource } from "@eiaas/api";
import { DEFAULT_MAX_OBJECT_BYTES } from "@eiaas/db";

const bool = z
  .enum(["true", "false", "1", "0", ""])
  .optional()
  .transform((v) => v === "true" || v === "1");

/**
 * Object-count caps of a tenant whose `spec.quota` sets none, per resource: generous for the demo
 * and `eictl apply` of the examples, bounded for a tenant that creates in a loop (the benchmarks'
 * tenants set their own).
 */
export const DEFAULT_COUNT_QUOTA = "count/models=100,count/inferenceservices=1000,count/trainingjobs=1000";

/** `count/models=100,count/inferenceservices=1000`: the caps it names (others have none). */
export const countQuotaList = z.string().transform((text, ctx) => {
  const caps: Partial<Record<CountedResource, number>> = {};
  for (const item of text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^count\/([a-z]+)=(\d+)$/.exec(item);
    const resource = m?.[1] as CountedResource | undefined;
    if (!m || !resource || !COUNTED_RESOURCES.includes(resource)) {
      ctx.addIssue({ code: "custom", message: `"${item}": expected count/<resource>=<n> with resource one of ${COUNTED_RESOURCES.join(", ")}` });
      return z.NEVER;
    }
    caps[resource] = Number(m[2]);
  }
  return caps;
});

/** Largest Model artifact (ONNX file) accepted by default: VGG-16's ~550 MB with room to spare. */
export const DEFAULT_MAX_ARTIFACT_BYTES = 1024 ** 3;

/** The API server's environment, parsed once at start-up. */
export const apiServerEnv = z.object({
  DATABASE_URL: z.string().min(1).optional(),
  REDIS_URL: z.string().min(1).optional(),
  /** HTTPS port. Default 8443. */
  EIAAS_PORT: z.coerce.number().int().min(0).max(65535).default(8443),
  /** Listen address. Default all interfaces (a container's port); the demo defaults to 127.0.0.1. */
  EIAAS_HOST: z.string().default("0.0.0.0"),
  /** Embedded state and generated certificates. Default `.eiaas` in the working directory. */
  EIAAS_DATA_DIR: z.string().default(".eiaas"),
  /** Port of the embedded PostgreSQL (only without DATABASE_URL). Default: a free port. */
  EIAAS_EMBEDDED_PG_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /**
   * Started as root: where the embedded PostgreSQL keeps what the postgres OS user cannot reach
   * where it is (the cluster, a copy of the binaries). Default /var/lib/eiaas.
   */
  EIAAS_EMBEDDED_PG_SHARED_DIR: z.string().min(1).optional(),
  /** Made a valid admin token at start-up: at least 32 characters (a guessable one is the whole cluster). */
  EIAAS_ADMIN_TOKEN: z.string().min(32, "EIAAS_ADMIN_TOKEN must be at least 32 characters").optional(),
  /** A pre-shared agent bootstrap token (Helm, compose); more can be minted through the API. */
  EIAAS_BOOTSTRAP_TOKEN: z.string().min(16, "EIAAS_BOOTSTRAP_TOKEN must be at least 16 characters").optional(),
  EIAAS_TLS_CERT: z.string().optional(),
  EIAAS_TLS_KEY: z.string().optional(),
  /** Extra names for the generated serving certificate (comma-separated). */
  EIAAS_TLS_SANS: z.string().default(""),
  /**
   * Largest request body. Default 3 MiB, as kube-apiserver: a request (a YAML-sized JSON body, a
   * JSON patch) may be larger than the object it leaves.
   */
  EIAAS_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(3 * 1024 * 1024),
  /** Largest object stored, serialised (413 beyond, on every write path). Default 1.5 MiB, etcd's limit. */
  EIAAS_MAX_OBJECT_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_OBJECT_BYTES),
  /**
   * Object-count caps (`count/<resource>=<n>,…`) of tenants whose spec.quota sets none; a resource
   * not named has no cap. Default {@link DEFAULT_COUNT_QUOTA}.
   */
  EIAAS_DEFAULT_COUNT_QUOTA: countQuotaList.prefault(DEFAULT_COUNT_QUOTA),
  /**
   * Highest workload priority in a tenant whose spec sets no maxPriority. Default 0: only an admin
   * lets a tenant preempt others. The scheduler caps priorities with the same setting.
   */
  EIAAS_DEFAULT_MAX_PRIORITY: z.coerce.number().pipe(priorityValue).default(0),
  /** Per-token sustained rate for tenant and agent tokens. Default 50/s. */
  EIAAS_RATE_LIMIT_QPS: z.coerce.number().positive().default(50),
  /** Per-token burst. Default 100. */
  EIAAS_RATE_LIMIT_BURST: z.coerce.number().int().positive().default(100),
  EIAAS_RATE_LIMIT_ADMINS: bool,
  /** Failed token lookups allowed at once per client address (an IPv6 /64) before 429s. Default 20. */
  EIAAS_AUTH_FAILURE_BURST: z.coerce.number().int().positive().default(20),
  /** Failed token lookups per second per client address after the burst. Default 1. */
  EIAAS_AUTH_FAILURE_QPS: z.coerce.number().positive().default(1),
  /**
   * Addresses of reverse proxies (comma-separated) whose `X-Forwarded-For` names the client for
   * the failed-authentication limit. Default none: the socket's peer is the client.
   */
  EIAAS_TRUSTED_PROXIES: z.string().default(""),
  /** `/metrics` needs an admin token or EIAAS_METRICS_TOKEN for every series, not only the tenant ones. */
  EIAAS_METRICS_AUTH: bool,
  /**
   * Scrape token: `/metrics` with `Authorization: Bearer <token>` (or an admin token) adds the
   * series that name tenants; the token reads nothing else.
   */
  EIAAS_METRICS_TOKEN: z.string().min(32, "EIAAS_METRICS_TOKEN must be at least 32 characters").optional(),
  /**
   * Keep Models' artifacts (their ONNX files) as files in this directory, named by their sha256,
   * instead of in Postgres (the default). Shared by every API server of the control plane.
   */
  EIAAS_ARTIFACT_DIR: z.string().min(1).optional(),
  /** Largest Model artifact accepted (413 beyond). Default 1 GiB. */
  EIAAS_MAX_ARTIFACT_BYTES: z.coerce.number().int().positive().default(DEFAULT_MAX_ARTIFACT_BYTES),
  /** How long an Event lives after it last happened (kube-apiserver's --event-ttl). Default 3600. */
  EIAAS_EVENT_TTL_SECONDS: z.coerce.number().int().positive().default(3600),
  EIAAS_LOG_LEVEL: z.string().default("info"),
});

export type ApiServerEnv = z.infer<typeof apiServerEnv>;

/** Parses the environment or exits with one line per problem. */
export function loadApiServerEnv(env: NodeJS.ProcessEnv = process.env): ApiServerEnv {
  const parsed = apiServerEnv.safeParse(env);
  if (!parsed.success) {
    for (const i of parsed.error.issues) console.error(`error: ${i.path.join(".")}: ${i.message}`);
    process.exit(1);
  }
  return parsed.data;
}
