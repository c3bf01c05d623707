import * as z from "zod";

/**
 * Runtime configuration, parsed once from the environment. The same code talks to DynamoDB Local
 * and to AWS: only the endpoint and table names differ.
 */
const schema = z.object({
  AWS_REGION: z.string().default("us-east-1"),
  DROVER_STAGE: z.string().default("local"),
  DROVER_DYNAMODB_ENDPOINT: z.url().optional(),
  DROVER_SQS_ENDPOINT: z.url().optional(),
  DROVER_MAIN_TABLE: z.string().default("drover-local-main"),
  DROVER_KV_TABLE: z.string().default("drover-local-kv"),
  DROVER_LOGS_TABLE: z.string().default("drover-local-logs"),
  DROVER_INGEST_QUEUE_URL: z.string().optional(),
  DROVER_INGEST_DLQ_URL: z.string().optional(),
  DROVER_EVENT_BUS_NAME: z.string().default("drover-local-events"),
  // Events and cloud hooks (docs/events.md).
  DROVER_EVENTS: z.enum(["on", "off"], { error: 'must be "on" or "off"' }).default("on"),
  DROVER_HOOKS_QUEUE_URL: z.string().optional(),
  DROVER_HOOK_ALLOW_PRIVATE_TARGETS: z
    .enum(["true", "false"], { error: 'must be "true" or "false"' })
    .default("false")
    .transform((v) => v === "true"),
  DROVER_HOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(30_000).default(5000),
  DROVER_PUBLIC_URL: z.url().optional(),
  DROVER_AUTH_CACHE_MS: z.coerce.number().int().min(0).max(5000).default(2000),
  DROVER_MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(6 * 1024 * 1024),
  DROVER_SESSION_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
  // Secrets at rest (docs/secrets.md): a KMS key on AWS, or a local 256-bit key (base64).
  DROVER_SECRETS_KMS_KEY_ID: z.string().min(1).optional(),
  DROVER_SECRETS_KEY: z
    .string()
    .refine((v) => Buffer.from(v, "base64").length === 32, "must be 32 bytes, base64-encoded")
    .optional(),
  // Noisy-neighbour limits (docs/limits.md, "Tenants and query cost"); 0 turns a rate limit off.
  DROVER_RATE_LIMIT_RPS: z.coerce.number().min(0).default(1000),
  DROVER_RATE_LIMIT_BURST: z.coerce.number().int().min(1).default(2000),
  DROVER_LOG_LINES_PER_SECOND: z.coerce.number().min(0).default(5000),
  DROVER_LOG_LINES_BURST: z.coerce.number().int().min(1).default(50_000),
  DROVER_MAX_QUERY_DEPTH: z.coerce.number().int().min(1).default(8),
  DROVER_MAX_QUERY_ALIASES: z.coerce.number().int().min(0).default(15),
  DROVER_MAX_QUERY_TOKENS: z.coerce.number().int().min(100).default(5000),
  DROVER_MAX_QUERY_DIRECTIVES: z.coerce.number().int().min(0).default(20),
  DROVER_MAX_QUERY_COST: z.coerce.number().int().min(100).default(3000),
  DROVER_READ_UNITS_PER_SECOND: z.coerce.number().min(0).default(50_000),
  DROVER_READ_UNITS_BURST: z.coerce.number().int().min(1).default(100_000),
  DROVER_MAX_READS_PER_REQUEST: z.coerce.number().int().min(100).default(15_000),
  // Fair shares of one process (core/src/limits/fairness.ts); 0 turns a bound off.
  DROVER_WORKSPACE_CONCURRENT_REQUESTS: z.coerce.number().int().min(0).default(4),
  DROVER_WORKSPACE_QUEUED_REQUESTS: z.coerce.number().int().min(0).default(1000),
  DROVER_WORKSPACE_STORAGE_CONCURRENCY: z.coerce.number().int().min(0).default(8),
  // Flow runs a workspace may store (docs/tenant-limits.md, "Stored runs"); 0 or "off": no quota.
  DROVER_MAX_STORED_RUNS: z
    .union([z.literal("off").transform(() => 0), z.coerce.number().int().min(0)], {
      error: 'must be a whole number of runs (0 or "off": no quota)',
    })
    .default(1_000_000),
});

export type Config = {
  region: string;
  stage: string;
  dynamoEndpoint: string | undefined;
  sqsEndpoint: string | undefined;
  tables: { main: string; kv: string; logs: string };
  ingestQueueUrl: string | undefined;
  /** The ingestion queue's DLQ: the consumer parks lines DynamoDB refuses there, alone. */
  ingestDlqUrl: string | undefined;
  eventBusName: string;
  events: Events;
  /** How long the API may trust a resolved API key; bounded so a revoked key stops within seconds. */
  authCacheMs: number;
  maxBodyBytes: number;
  /** Signs the dashboard's session tokens (HS256); without it, sessions are refused. */
  sessionSecret: string | undefined;
  /** How secret values are encrypted at rest; undefined: secrets are refused (not configured). */
  secretsKey: { kind: "kms"; keyId: string } | { kind: "local"; key: Buffer } | undefined;
  /** Per-workspace limits: token buckets per process (per Lambda container on AWS), query shape and cost. */
  limits: Limits;
};

/** The event backbone and cloud hooks (docs/events.md). */
export type Events = {
  /** Off: the main table gets no stream locally and no events are published (benchmarks compare). */
  enabled: boolean;
  /** The queue the bus's hook rule feeds (the hooks function's; locally the in-process bus sends to it). */
  hooksQueueUrl: string | undefined;
  /** Operator setting: hook targets on private, loopback and link-local addresses are allowed. */
  allowPrivateTargets: boolean;
  /** How long one delivery attempt may take before it counts as failed. */
  hookTimeoutMs: number;
  /** Where the dashboard is reached, for links in hook messages (none when unset). */
  publicUrl: string | undefined;
};

export type Limits = {
  /** Sustained requests per second per workspace (0: no limit) and the burst a workspace may spend at once. */
  requestsPerSecond: number;
  requestBurst: number;
  /** Sustained `write_run_logs` lines per second per workspace (0: no limit) and the burst. */
  logLinesPerSecond: number;
  logLinesBurst: number;
  /**
   * Sustained read-engine units per second per workspace (rows read + 10 per storage call; 0: no
   * limit) and the burst: a workspace in debt is refused until it has paid it back.
   */
  readUnitsPerSecond: number;
  readUnitsBurst: number;
  maxQueryDepth: number;
  maxQueryAliases: number;
  maxQueryTokens: number;
  maxQueryDirectives: number;
  maxQueryCost: number;
  /** Rows read plus storage calls the read engine may spend on one request (nested lists multiply). */
  maxReadsPerRequest: number;
  /** Flow runs one workspace may store (0: no quota; runs are still counted). A soft quota, core/src/limits/quota.ts. */
  maxStoredRuns: number;
  /** A workspace's requests running at once in one process (0: no bound), and how many may wait for them. */
  concurrentRequests: number;
  queuedRequests: number;
  /** A workspace's DynamoDB calls in flight at once in one process (0: no bound). */
  storageConcurrency: number;
};

export function parseConfig(env: NodeJS.ProcessEnv): Config {
  const result = schema.safeParse(env);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid Drover configuration: ${issues}`);
  }
  const e = result.data;
  return {
    region: e.AWS_REGION,
    stage: e.DROVER_STAGE,
    dynamoEndpoint: e.DROVER_DYNAMODB_ENDPOINT,
    sqsEndpoint: e.DROVER_SQS_ENDPOINT,
    tables: { main: e.DROVER_MAIN_TABLE, kv: e.DROVER_KV_TABLE, logs: e.DROVER_LOGS_TABLE },
    ingestQueueUrl: e.DROVER_INGEST_QUEUE_URL,
    ingestDlqUrl: e.DROVER_INGEST_DLQ_URL,
    eventBusName: e.DROVER_EVENT_BUS_NAME,
    events: {
      enabled: e.DROVER_EVENTS === "on",
      hooksQueueUrl: e.DROVER_HOOKS_QUEUE_URL,
      allowPrivateTargets: e.DROVER_HOOK_ALLOW_PRIVATE_TARGETS,
      hookTimeoutMs: e.DROVER_HOOK_TIMEOUT_MS,
      publicUrl: e.DROVER_PUBLIC_URL,
    },
    authCacheMs: e.DROVER_AUTH_CACHE_MS,
    maxBodyBytes: e.DROVER_MAX_BODY_BYTES,
    sessionSecret: e.DROVER_SESSION_SECRET,
    secretsKey: e.DROVER_SECRETS_KMS_KEY_ID
      ? { kind: "kms", keyId: e.DROVER_SECRETS_KMS_KEY_ID }
      : e.DROVER_SECRETS_KEY
        ? { kind: "local", key: Buffer.from(e.DROVER_SECRETS_KEY, "base64") }
        : undefined,
    limits: {
      requestsPerSecond: e.DROVER_RATE_LIMIT_RPS,
      requestBurst: e.DROVER_RATE_LIMIT_BURST,
      logLinesPerSecond: e.DROVER_LOG_LINES_PER_SECOND,
      logLinesBurst: e.DROVER_LOG_LINES_BURST,
      readUnitsPerSecond: e.DROVER_READ_UNITS_PER_SECOND,
      readUnitsBurst: e.DROVER_READ_UNITS_BURST,
      maxQueryDepth: e.DROVER_MAX_QUERY_DEPTH,
      maxQueryAliases: e.DROVER_MAX_QUERY_ALIASES,
      maxQueryTokens: e.DROVER_MAX_QUERY_TOKENS,
      maxQueryDirectives: e.DROVER_MAX_QUERY_DIRECTIVES,
      maxQueryCost: e.DROVER_MAX_QUERY_COST,
      maxReadsPerRequest: e.DROVER_MAX_READS_PER_REQUEST,
      maxStoredRuns: e.DROVER_MAX_STORED_RUNS,
      concurrentRequests: e.DROVER_WORKSPACE_CONCURRENT_REQUESTS,
      queuedRequests: e.DROVER_WORKSPACE_QUEUED_REQUESTS,
      storageConcurrency: e.DROVER_WORKSPACE_STORAGE_CONCURRENCY,
    },
  };
}

let current: Config | undefined;

/** The process-wide configuration (from the environment unless set with `configure`). */
export function useConfig(): Config {
  current ??= parseConfig(process.env);
  return current;
}

/** Replaces the process-wide configuration (local runtime and tests). */
export function configure(config: Config): void {
  current = config;
}
