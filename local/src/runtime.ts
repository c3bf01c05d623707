import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type Config, configure, parseConfig } from "#core/config.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { createSqsClient } from "#core/sqs/client.js";
import { handler as apiHandler } from "../../functions/api/src/handler.js";
import { handler as kvHandler } from "../../functions/kv/src/handler.js";
import { handler as logsHandler } from "../../functions/logs/src/handler.js";
import { handler as schedulerHandler } from "../../functions/scheduler/src/handler.js";
import { type Bootstrap, bootstrapDefaultWorkspace, validateBootstrapKey } from "./bootstrap.js";
import { type DynamoDbLocal, StartupError, type Supervision, startDynamoDbLocal } from "./dynamodb-local.js";
import { type EventTap, startEvents } from "./events.js";
import { createHttpServer, type HttpApp, listen } from "./http-server.js";
import { startQueues } from "./queues.js";
import { startTimer } from "./scheduler-timer.js";
import { startSqsPoller } from "./sqs-poller.js";

/**
 * Concurrent batches of the local ingestion consumer (Lambda's event source mapping runs up to 5
 * on AWS, `ingestMaxConcurrency`): enough to keep DynamoDB Local busy while one batch waits.
 */
const INGEST_POLLERS = 2;

/** How long a clean stop waits for requests in flight before closing their connections. */
const HTTP_DRAIN_MS = 20_000;

export type RuntimeOptions = {
  host: string;
  port: number;
  /** Where DynamoDB data persists; undefined keeps everything in memory (tests). */
  dataDir: string | undefined;
  bootstrapKey?: string | undefined;
  schedulerIntervalMs?: number;
  /** Use this DynamoDB instead of starting DynamoDB Local (tests share one). */
  dynamoEndpoint?: string;
  /** Prefix of table and queue names (default `drover-local`); tests use one per file. */
  namePrefix?: string;
  /** Seconds a received ingestion message stays invisible before redelivery (default 30). */
  visibilityTimeoutSeconds?: number;
  env?: NodeJS.ProcessEnv;
  log?: (message: string) => void;
  /** Restart policy for DynamoDB Local when it dies (tests shorten or lengthen the delays). */
  dynamoSupervision?: Pick<Supervision, "restartDelaysMs" | "maxRestarts" | "stableMs">;
  /**
   * Called when the runtime cannot go on (DynamoDB Local could not be restarted). By default the
   * message is printed, everything is stopped and the process exits with status 1.
   */
  onFatal?: (error: Error) => void;
};

export type LocalRuntime = {
  url: string;
  graphqlUrl: string;
  dynamoEndpoint: string;
  sqsEndpoint: string;
  ingestQueueUrl: string;
  ingestDlqUrl: string;
  hooksQueueUrl: string;
  hooksDlqUrl: string;
  /** Every event the local bus carries (undefined with DROVER_EVENTS=off). */
  eventBus: EventTap | undefined;
  config: Config;
  bootstrap: Bootstrap;
  stop: () => Promise<void>;
  /** The supervised DynamoDB Local this runtime started (undefined with `dynamoEndpoint`). */
  dynamoDbLocal: DynamoDbLocal | undefined;
};

/** Written while a runtime owns a data folder, so CLI commands can reach its DynamoDB Local. */
export type RuntimeFile = { pid: number; url: string; dynamoEndpoint: string; sqsEndpoint: string };
export const RUNTIME_FILE = "runtime.json";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The runtime currently running on a data folder, if any. */
export function runningRuntime(dataDir: string): RuntimeFile | undefined {
  const file = join(dataDir, RUNTIME_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const runtime = JSON.parse(readFileSync(file, "utf8")) as RuntimeFile;
    return alive(runtime.pid) ? runtime : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The secret that signs dashboard sessions: kept in the data folder so sessions survive a restart,
 * or new for each in-memory runtime.
 */
function localSessionSecret(dataDir: string | undefined): string {
  if (!dataDir) return randomBytes(32).toString("base64url");
  const file = join(dataDir, "session-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const secret = randomBytes(32).toString("base64url");
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
}

/**
 * The key that encrypts secret values at rest: kept in the data folder (mode 0600) so secrets
 * open after a restart, or new for each in-memory runtime (whose secrets die with it anyway).
 */
function localSecretsKey(dataDir: string | undefined): string {
  if (!dataDir) return randomBytes(32).toString("base64");
  const file = join(dataDir, "secrets.key");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  const key = randomBytes(32).toString("base64");
  writeFileSync(file, key, { mode: 0o600, flag: "wx" });
  return key;
}

/**
 * Starts the whole control plane in this process: DynamoDB Local (java), the fauxqs SQS emulator,
 * the API (and the KV REST routes) on host:port, the scheduler on a timer and the ingestion
 * consumer polling its queue, every handler invoked with the events Lambda would give it.
 */
export async function startLocalRuntime(options: RuntimeOptions): Promise<LocalRuntime> {
  const log = options.log ?? (() => {});
  const bootstrapKey = validateBootstrapKey(options.bootstrapKey);
  const dataDir = options.dataDir ? resolve(options.dataDir) : undefined;
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true });
    const other = runningRuntime(dataDir);
    if (other)
      throw new StartupError(`Drover is already running on ${dataDir} (pid ${other.pid}, ${other.url}).`);
  }

  const stops: Array<() => Promise<void>> = [];
  // Bind the port first: a taken port fails at once, before anything else has started.
  const app: HttpApp = { routes: undefined, maxBodyBytes: 0 };
  const server = createHttpServer(app);
  const port = await listen(server, options.host, options.port);
  /**
   * A clean stop, in the order that loses nothing acknowledged: refuse new requests (503, which
   * the Prefect client retries) and let the ones in flight finish, so every write it acknowledged
   * is on the queue; then the rest in reverse start order (the consumer finishes its current batch
   * and stops, then the durable queues, DynamoDB Local). What is still queued is consumed on the
   * next start.
   */
  const stopHttp = async () => {
    app.stopping = true;
    const closed = new Promise<void>((done) => server.close(() => done()));
    server.closeIdleConnections();
    const deadline = Date.now() + HTTP_DRAIN_MS;
    while ((app.inFlight ?? 0) > 0 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      server.closeIdleConnections();
    }
    server.closeAllConnections();
    await closed;
  };
  let stopped: Promise<void> | undefined;
  const stopAll = () => {
    stopped ??= (async () => {
      await stopHttp().catch(() => {});
      for (const stop of stops.reverse()) await stop().catch(() => {});
      stops.length = 0;
    })();
    return stopped;
  };
  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  try {
    const prefix = options.namePrefix ?? "drover-local";
    const onFatal =
      options.onFatal ??
      ((error: Error) => {
        console.error(`drover: ${error.message}`);
        void stopAll().finally(() => process.exit(1));
      });
    const dynamoDbLocal = options.dynamoEndpoint
      ? undefined
      : await startDynamoDbLocal({
          dataDir: dataDir ? join(dataDir, "dynamodb") : undefined,
          supervise: {
            ...options.dynamoSupervision,
            // Loud even when the caller passed no log: the API is down until it is back.
            log: options.log ?? ((message) => console.error(`drover: ${message}`)),
            onGiveUp: onFatal,
          },
        });
    const dynamo = dynamoDbLocal ?? { endpoint: options.dynamoEndpoint as string, stop: async () => {} };
    stops.push(dynamo.stop);
    // The ingestion queue persists with the data folder (SQLite under <data>/sqs), so a line
    // acknowledged by write_run_logs survives a crash; --in-memory keeps it in memory.
    const queues = await startQueues({
      prefix,
      dataDir: dataDir ? join(dataDir, "sqs") : undefined,
      visibilityTimeoutSeconds: options.visibilityTimeoutSeconds,
    });
    stops.push(queues.stop);

    const env = options.env ?? process.env;
    const configEnv = {
      ...env,
      DROVER_SESSION_SECRET: env.DROVER_SESSION_SECRET || localSessionSecret(dataDir),
      ...(env.DROVER_SECRETS_KMS_KEY_ID
        ? {}
        : { DROVER_SECRETS_KEY: env.DROVER_SECRETS_KEY || localSecretsKey(dataDir) }),
      DROVER_STAGE: "local",
      DROVER_DYNAMODB_ENDPOINT: dynamo.endpoint,
      DROVER_SQS_ENDPOINT: queues.endpoint,
      DROVER_INGEST_QUEUE_URL: queues.ingestQueueUrl,
      DROVER_INGEST_DLQ_URL: queues.ingestDlqUrl,
      DROVER_HOOKS_QUEUE_URL: queues.hooksQueueUrl,
      DROVER_PUBLIC_URL: env.DROVER_PUBLIC_URL || url,
      DROVER_MAIN_TABLE: `${prefix}-main`,
      DROVER_KV_TABLE: `${prefix}-kv`,
      DROVER_LOGS_TABLE: `${prefix}-logs`,
    };
    const config = parseConfig(configEnv);
    configure(config);
    await ensureTables(config);
    const bootstrap = await bootstrapDefaultWorkspace(bootstrapKey);

    app.maxBodyBytes = config.maxBodyBytes;
    app.routes = { graphql: apiHandler, kv: kvHandler };

    const sqs = createSqsClient(config);
    const poller = startSqsPoller({
      client: sqs,
      queueUrl: queues.ingestQueueUrl,
      queueArn: queues.ingestQueueArn,
      region: config.region,
      handler: logsHandler,
      pollers: INGEST_POLLERS,
      onError: (error) => log(`ingestion consumer error: ${String(error)}`),
    });
    stops.push(async () => {
      await poller.stop();
      sqs.destroy();
    });
    let eventBus: EventTap | undefined;
    if (config.events.enabled) {
      const events = await startEvents({ env: configEnv, hooksQueueArn: queues.hooksQueueArn, dataDir, log });
      stops.push(events.stop);
      eventBus = events.tap;
    }
    const timer = startTimer({
      intervalMs: options.schedulerIntervalMs ?? 60_000,
      region: config.region,
      handler: schedulerHandler,
      onError: (error) => log(`scheduler error: ${String(error)}`),
    });
    stops.push(timer.stop);

    if (dataDir) {
      const file = join(dataDir, RUNTIME_FILE);
      const runtimeFile: RuntimeFile = {
        pid: process.pid,
        url,
        dynamoEndpoint: dynamo.endpoint,
        sqsEndpoint: queues.endpoint,
      };
      writeFileSync(file, JSON.stringify(runtimeFile, null, 2));
      stops.push(async () => rmSync(file, { force: true }));
    }

    return {
      url,
      graphqlUrl: `${url}/graphql`,
      dynamoEndpoint: dynamo.endpoint,
      sqsEndpoint: queues.endpoint,
      ingestQueueUrl: queues.ingestQueueUrl,
      ingestDlqUrl: queues.ingestDlqUrl,
      hooksQueueUrl: queues.hooksQueueUrl,
      hooksDlqUrl: queues.hooksDlqUrl,
      eventBus,
      config,
      bootstrap,
      stop: stopAll,
      dynamoDbLocal,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
