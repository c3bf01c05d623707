import { RetentionDays } from "aws-cdk-lib/aws-logs";
import type { Node } from "constructs";

/** Everything that differs between stages, resolved once from CDK context and the environment. */
export type StageSettings = {
  stage: string;
  /** Production keeps its data: deletion protection on tables, RETAIN on tables, buckets and logs. */
  production: boolean;
  /** `account` undefined means an environment-agnostic stack: synth never needs credentials. */
  env: { account: string | undefined; region: string };
  /** Origins allowed by CORS besides the stack's own dashboard (e.g. a local Vite dev server). */
  extraCorsOrigins: string[];
  throttle: { rateLimit: number; burstLimit: number };
  logRetention: RetentionDays;
  /**
   * Reserve concurrency for the scheduler. Off for accounts still at the default quota of 10
   * concurrent executions, where Lambda refuses any reservation.
   */
  reserveConcurrency: boolean;
  /** Upper bound of concurrent logs consumers (SQS event source `maxConcurrency`). */
  ingestMaxConcurrency: number;
  alarmEmail: string | undefined;
  /** The dashboard build to publish; a placeholder page is published when it does not exist. */
  webDist: string | undefined;
  /**
   * Which session-signing secret the stage uses: raising it replaces the secret with a newly
   * generated one (rotation; every dashboard session ends).
   */
  sessionSecretGeneration: number;
};

const STAGE_NAME = /^[a-z][a-z0-9-]{0,19}$/;
const PRODUCTION_STAGES = new Set(["prod", "production"]);

type Context = Pick<Node, "tryGetContext">;

function text(node: Context, key: string): string | undefined {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === "") return undefined;
  return String(value);
}

function flag(node: Context, key: string): boolean | undefined {
  const value = text(node, key);
  if (value === undefined) return undefined;
  if (value === "true" || value === "1") return true;
  if (value === "false" || value === "0") return false;
  throw new Error(`Context "${key}" must be true or false, got "${value}"`);
}

function count(node: Context, key: string, fallback: number, min = 1): number {
  const value = text(node, key);
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) {
    throw new Error(`Context "${key}" must be an integer of at least ${min}`);
  }
  return parsed;
}

/**
 * Stage from `-c stage=...`, else `DROVER_STAGE`, else "dev". Region from `-c region=...`, else the
 * CLI's default (CDK_DEFAULT_REGION) or AWS_REGION, else us-east-1. Nothing here looks anything up.
 */
export function resolveSettings(node: Context, env: NodeJS.ProcessEnv = process.env): StageSettings {
  const stage = text(node, "stage") ?? env.DROVER_STAGE ?? "dev";
  if (!STAGE_NAME.test(stage)) {
    throw new Error(
      `Stage "${stage}" must be lower-case letters, digits and dashes (at most 20, starting with a letter)`,
    );
  }
  const production = flag(node, "production") ?? PRODUCTION_STAGES.has(stage);
  return {
    stage,
    production,
    env: {
      account: text(node, "account") ?? env.CDK_DEFAULT_ACCOUNT,
      region: text(node, "region") ?? env.CDK_DEFAULT_REGION ?? env.AWS_REGION ?? "us-east-1",
    },
    extraCorsOrigins: (text(node, "corsOrigins") ?? "")
      .split(",")
      .map((origin) => origin.trim())
      .filter((origin) => origin !== ""),
    throttle: { rateLimit: count(node, "apiRateLimit", 200), burstLimit: count(node, "apiBurstLimit", 400) },
    logRetention: production ? RetentionDays.THREE_MONTHS : RetentionDays.TWO_WEEKS,
    reserveConcurrency: flag(node, "reserveConcurrency") ?? true,
    // The SQS event source accepts 2 to 1000.
    ingestMaxConcurrency: Math.min(count(node, "ingestMaxConcurrency", 5, 2), 1000),
    alarmEmail: text(node, "alarmEmail"),
    webDist: text(node, "webDist"),
    sessionSecretGeneration: count(node, "sessionSecretGeneration", 1),
  };
}
