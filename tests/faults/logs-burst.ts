import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetQueueAttributesCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, paginateQuery, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import { LOCAL_REGION, localCredentials } from "#core/dynamo/client.js";
import { LogKeys } from "#core/log/keys.js";
import { lineCountOf, linesOf } from "#core/log/read.js";
import type { RuntimeFile } from "../../local/src/runtime.js";

/**
 * The pieces of the log fault tests (and of `bench/logs-drain.ts`): the real runtime as a child
 * process on a data folder, a burst of `write_run_logs` calls from several writers as the Prefect
 * client sends them, and counts of what DynamoDB holds.
 */
const ROOT = join(import.meta.dirname, "..", "..");
export const KEY = "drover-faults-key-0123456789abcdef0123456789";
const WRITE = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }";
const LOGS_TABLE = "drover-local-logs";
const INGEST_QUEUE = "drover-local-ingest";
const DLQ = "drover-local-ingest-dlq";

export type Child = {
  process: ChildProcess;
  graphqlUrl: string;
  output: () => string;
  exited: Promise<number | null>;
};

/** `drover start` in a child process of its own process group (so a crash can take java with it). */
export async function startRuntime(
  dataDir: string,
  timeoutMs = 90_000,
  env: NodeJS.ProcessEnv = {},
): Promise<Child> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "local/src/main.ts", "start", "--data-dir", dataDir, "--port", "0"],
    {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, DROVER_BOOTSTRAP_KEY: KEY, POWERTOOLS_LOG_LEVEL: "ERROR", ...env },
    },
  );
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = /GraphQL API\s+(http:\/\/\S+\/graphql)/.exec(output);
    if (match?.[1]) return { process: child, graphqlUrl: match[1], output: () => output, exited };
    if (child.exitCode !== null) throw new Error(`drover start exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      killGroup(child);
      throw new Error(`drover start did not come up in ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** SIGKILL to the runtime and its DynamoDB Local: a crash of the whole process tree. */
export function killGroup(child: Child | ChildProcess): void {
  const proc = "process" in child ? child.process : child;
  if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // already gone
  }
}

export function runtimeFile(dataDir: string): RuntimeFile {
  const file = join(dataDir, "runtime.json");
  if (!existsSync(file)) throw new Error(`no runtime.json in ${dataDir}`);
  return JSON.parse(readFileSync(file, "utf8")) as RuntimeFile;
}

export type Gql = <T>(query: string, variables?: unknown) => Promise<T>;
export function graphql(url: string, key = KEY): Gql {
  return async <T>(query: string, variables: unknown = {}) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ query, variables: JSON.stringify(variables) }),
    });
    const body = (await response.json()) as { data?: T; errors?: unknown[] };
    if (body.errors || !body.data)
      throw new Error(`GraphQL ${response.status}: ${JSON.stringify(body.errors)}`);
    return body.data;
  };
}

/** A project, a flow and `n` flow runs; returns the tenant and the run ids. */
export async function createRuns(url: string, n: number): Promise<{ tenant: string; runs: string[] }> {
  const gql = graphql(url);
  const tenant = (await gql<{ auth_info: { tenant_id: string } }>("{ auth_info { tenant_id } }")).auth_info
    .tenant_id;
  const project = await gql<{ create_project: { id: string } }>(
    "mutation($i: create_project_input!) { create_project(input: $i) { id } }",
    { i: { name: `faults-${Date.now()}` } },
  );
  const flow = await gql<{ create_flow: { id: string } }>(
    "mutation($i: create_flow_input!) { create_flow(input: $i) { id } }",
    {
      i: {
        project_id: project.create_project.id,
        serialized_flow: {
          name: "faults",
          type: "prefect.core.flow.Flow",
          parameters: [],
          tasks: [{ slug: "t-1", name: "t", type: "prefect.tasks.core.function.FunctionTask" }],
          edges: [],
          run_config: { type: "UniversalRun", labels: [] },
          __version__: "1.4.1",
        },
      },
    },
  );
  const runs: string[] = [];
  for (let i = 0; i < n; i++) {
    const run = await gql<{ create_flow_run: { id: string } }>(
      "mutation($i: create_flow_run_input!) { create_flow_run(input: $i) { id } }",
      { i: { flow_id: flow.create_flow.id } },
    );
    runs.push(run.create_flow_run.id);
  }
  return { tenant, runs };
}

/** The message of writer `w`'s batch `b`, line `i`: unique, so stored lines can be matched to sent ones. */
export const lineMessage = (w: number, b: number, i: number) => `w${w} b${b} l${i}`;

export type BurstResult = {
  /** Messages of every line whose call answered success. */
  acknowledged: Set<string>;
  /** Messages of lines whose call got an error or no answer (may or may not be stored). */
  unacknowledged: Set<string>;
  /** Calls answered with an error status or GraphQL error, by what they got. */
  refusals: Map<string, number>;
  ackMs: number;
};

/**
 * `writers` concurrent writers, each on its own flow run, send `total` lines in `write_run_logs`
 * calls of `perCall` lines, as the Prefect client's log manager sends them. A writer stops at its
 * first failed call (a network error or an error answer), like a runner whose process is going away.
 * `onAck(count)` sees the acknowledged total after each call.
 */
export async function burst(options: {
  url: string;
  runs: string[];
  total: number;
  perCall?: number;
  onAck?: (acknowledged: number) => void;
}): Promise<BurstResult> {
  const perCall = options.perCall ?? 100;
  const writers = options.runs.length;
  const batchesPerWriter = Math.ceil(options.total / writers / perCall);
  const acknowledged = new Set<string>();
  const unacknowledged = new Set<string>();
  const refusals = new Map<string, number>();
  const started = performance.now();
  const base = Date.UTC(2026, 11, 2, 12);
  await Promise.all(
    options.runs.map(async (run, w) => {
      for (let b = 0; b < batchesPerWriter; b++) {
        const messages = Array.from({ length: perCall }, (_, i) => lineMessage(w, b, i));
        const logs = messages.map((message, i) => ({
          flow_run_id: run,
          task_run_id: null,
          timestamp: new Date(base + (b * perCall + i) * 10).toISOString(),
          name: "prefect.CloudTaskRunner",
          level: "INFO",
          message,
        }));
        let outcome: string;
        try {
          const response = await fetch(options.url, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${KEY}` },
            body: JSON.stringify({ query: WRITE, variables: JSON.stringify({ input: { logs } }) }),
          });
          const body = (await response.json().catch(() => ({}))) as {
            data?: { write_run_logs?: { success?: boolean } };
            errors?: Array<{ extensions?: { code?: string } }>;
          };
          outcome =
            response.status === 200 && body.data?.write_run_logs?.success === true && !body.errors
              ? "ok"
              : `HTTP ${response.status} ${body.errors?.[0]?.extensions?.code ?? ""}`.trim();
        } catch (error) {
          outcome =
            `network: ${(error as Error).cause ? String((error as Error).cause) : String(error)}`.slice(
              0,
              60,
            );
        }
        if (outcome === "ok") {
          for (const m of messages) acknowledged.add(m);
          options.onAck?.(acknowledged.size);
        } else {
          for (const m of messages) unacknowledged.add(m);
          refusals.set(outcome, (refusals.get(outcome) ?? 0) + 1);
          return;
        }
      }
    }),
  );
  return { acknowledged, unacknowledged, refusals, ackMs: performance.now() - started };
}

export type Storage = {
  /** A client of the logs table's DynamoDB Local database. */
  dynamo: DynamoDBDocumentClient;
  sqs: SQSClient;
  destroy: () => void;
};

/** Clients on the running runtime's DynamoDB Local and fauxqs (from its runtime.json). */
export function storageOf(dataDir: string): Storage {
  const file = runtimeFile(dataDir);
  // The logs table lives in DynamoDB Local's logs database (core/src/dynamo/client.ts).
  const raw = new DynamoDBClient({
    endpoint: file.dynamoEndpoint,
    region: LOCAL_REGION,
    credentials: localCredentials("logs"),
  });
  const dynamo = DynamoDBDocumentClient.from(raw);
  const sqs = new SQSClient({
    endpoint: file.sqsEndpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  return {
    dynamo,
    sqs,
    destroy: () => {
      raw.destroy();
      sqs.destroy();
    },
  };
}

/** The pages of a run's stored lines (the SDK's paginator), with `select`ed content. */
function logPages(storage: Storage, tenant: string, run: string, select: Partial<QueryCommandInput>) {
  return paginateQuery(
    { client: storage.dynamo },
    {
      TableName: LOGS_TABLE,
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": LogKeys.partition(tenant, run) },
      ...select,
    },
  );
}

/** Every stored line's message, per run (a message appearing twice would be a duplicate). */
export async function storedMessages(storage: Storage, tenant: string, runs: string[]): Promise<string[]> {
  const all: string[] = [];
  for (const run of runs)
    for await (const page of logPages(storage, tenant, run, {
      ProjectionExpression: "sk, lines_json, message",
    }))
      for (const item of page.Items ?? []) for (const line of linesOf(item)) all.push(String(line.message));
  return all;
}

/** Stored lines of the runs (Select COUNT: cheap enough to poll). */
export async function storedCount(storage: Storage, tenant: string, runs: string[]): Promise<number> {
  let count = 0;
  for (const run of runs)
    for await (const page of logPages(storage, tenant, run, { ProjectionExpression: "line_count" }))
      for (const item of page.Items ?? []) count += lineCountOf(item);
  return count;
}

/** Messages on a local queue (visible + in flight). */
export async function queued(storage: Storage, dataDir: string, dlq = false): Promise<number> {
  const file = runtimeFile(dataDir);
  const url = `${file.sqsEndpoint}/000000000000/${dlq ? DLQ : INGEST_QUEUE}`;
  const { Attributes } = await storage.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/**
 * Waits until the ingestion queue is empty (the consumer deletes a message only after its lines
 * are written) and the stored count has stopped changing; returns the count.
 */
export async function settled(
  storage: Storage,
  dataDir: string,
  tenant: string,
  runs: string[],
  timeoutMs = 120_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  for (;;) {
    const left = await queued(storage, dataDir);
    const count = await storedCount(storage, tenant, runs);
    if (left === 0 && count === last) return count;
    if (Date.now() > deadline)
      throw new Error(`not settled after ${timeoutMs} ms: ${left} messages queued, ${count} lines stored`);
    last = count;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
