import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type Config, useConfig } from "../config.js";
import { inStorageShare } from "../limits/fairness.js";
import { physicalTableName, TABLES } from "./tables.js";

/**
 * How long one DynamoDB call may take. A refused connection fails at once; a connection that
 * cannot be made within CONNECTION_TIMEOUT_MS, or a request without a complete answer within
 * REQUEST_TIMEOUT_MS, fails with the SDK's TimeoutError, which its standard retry strategy retries
 * (MAX_ATTEMPTS attempts in all, exponential backoff with jitter; throttling errors wait longer).
 * So a hung DynamoDB costs a call at most about MAX_ATTEMPTS × REQUEST_TIMEOUT_MS plus backoff
 * (~10 s on AWS) instead of holding the API Lambda for its whole 29 s, and the API then answers
 * a retryable 503 (see isStorageUnavailable) that the Prefect client retries for about a minute.
 * DynamoDB answers in milliseconds on AWS; DynamoDB Local (java, on a busy laptop) is given more.
 */
export const DYNAMO_TIMEOUTS = {
  aws: { connectionTimeout: 1_000, requestTimeout: 3_000 },
  local: { connectionTimeout: 1_000, requestTimeout: 10_000 },
} as const;
export const MAX_ATTEMPTS = 3;

/**
 * DynamoDB Local answers a transaction before it is on disk: its TransactWriteItems (and
 * ExecuteTransaction) queue the SQLite COMMIT on its single database thread and reply without
 * waiting for it (SQLiteDBAccess.commitTransaction), so a SIGKILL of its java right after the
 * answer rolls the acknowledged transaction back (tests/faults/dynamodb-durability.test.ts).
 * Every other call waits for its job on that thread, in order; so after a transaction succeeds the
 * client sends one ListTables and returns only when it is answered, i.e. once the COMMIT has run.
 */
const COMMITTED_LATE = new Set(["TransactWriteItemsCommand", "ExecuteTransactionCommand"]);

function awaitLocalCommits(client: DynamoDBClient): DynamoDBClient {
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const result = await next(args);
      if (COMMITTED_LATE.has(context.commandName ?? ""))
        await client.send(new ListTablesCommand({ Limit: 1 }));
      return result;
    },
    { step: "initialize", name: "awaitDynamoDbLocalCommit" },
  );
  return client;
}

/**
 * Each workspace's DynamoDB calls go through its share of storage concurrency
 * (core/src/limits/fairness.ts), so one request's fan-out cannot queue every other workspace's
 * calls behind it. The commit wait's ListTables is not counted: it runs inside a counted call.
 */
function sharedFairly(client: DynamoDBClient): DynamoDBClient {
  client.middlewareStack.add(
    (next, context) => (args) =>
      context.commandName === "ListTablesCommand" ? next(args) : inStorageShare(() => next(args)),
    { step: "initialize", name: "droverStorageShare", priority: "high" },
  );
  return client;
}

/**
 * DynamoDB Local (started without `-sharedDb`) keeps one SQLite database per access key and
 * region, each served by its own single database thread. The embedded runtime gives the logs
 * table a database of its own: a burst of log transactions then queues on the logs thread and
 * never ahead of another workspace's GetItem on the main one (bench/noisy.ts measured a
 * 1,000-line-burst neighbour at 36-64x the idle p99 with one shared database). The access key
 * names the database file (`<key>_<region>.db`), so it and the region are fixed for local
 * endpoints. On AWS there is one service and `database` changes nothing.
 */
export type LocalDatabase = "main" | "logs";
export const LOCAL_REGION = "us-east-1";
export const LOCAL_ACCESS_KEYS: Record<LocalDatabase, string> = { main: "local", logs: "logs" };

/** The credentials that select `database` on DynamoDB Local. */
export function localCredentials(database: LocalDatabase = "main") {
  return { accessKeyId: LOCAL_ACCESS_KEYS[database], secretAccessKey: "local" };
}

/** Which local database holds the table of this physical name (the main one unless declared). */
export function databaseOf(config: Config, tableName: string | undefined): LocalDatabase {
  return TABLES.find((table) => physicalTableName(config, table) === tableName)?.database ?? "main";
}

/** A low-level client for the configured endpoint (DynamoDB Local's `database`, or AWS). */
export function createRawClient(config: Config, database: LocalDatabase = "main"): DynamoDBClient {
  const local = config.dynamoEndpoint !== undefined;
  const client = new DynamoDBClient({
    region: local ? LOCAL_REGION : config.region,
    ...(local ? { endpoint: config.dynamoEndpoint, credentials: localCredentials(database) } : {}),
    retryMode: "standard",
    maxAttempts: MAX_ATTEMPTS,
    requestHandler: { ...(local ? DYNAMO_TIMEOUTS.local : DYNAMO_TIMEOUTS.aws), throwOnRequestTimeout: true },
  });
  sharedFairly(client);
  return local ? awaitLocalCommits(client) : client;
}

/** Builds a document client for the configured endpoint (DynamoDB Local's `database`, or AWS). */
export function createDocumentClient(
  config: Config,
  database: LocalDatabase = "main",
): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(createRawClient(config, database), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

let cached: { config: Config; clients: Map<LocalDatabase, DynamoDBDocumentClient> } | undefined;

/**
 * The process-wide document client for the current configuration (reused across Lambda
 * invocations) that reaches `table` (a physical table name; the main table's client when omitted).
 * On AWS every table shares one client.
 */
export function useDynamo(table?: string): DynamoDBDocumentClient {
  const config = useConfig();
  if (cached?.config !== config) cached = { config, clients: new Map() };
  const database = config.dynamoEndpoint === undefined ? "main" : databaseOf(config, table);
  let client = cached.clients.get(database);
  if (!client) {
    client = createDocumentClient(config, database);
    cached.clients.set(database, client);
  }
  return client;
}

export function mainTable(): string {
  return useConfig().tables.main;
}
