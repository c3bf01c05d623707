import { CreateQueueCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type Config, configure, parseConfig } from "#core/config.js";
import { createDocumentClient } from "#core/dynamo/client.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { createSqsClient } from "#core/sqs/client.js";
import { startDynamoDbLocal } from "../../local/src/dynamodb-local.js";
import { startQueues } from "../../local/src/queues.js";
import { measure } from "./measure.js";

export type BenchDynamo = {
  endpoint: string;
  /** Configuration naming the bench tables (created with the project's own table design). */
  config: Config;
  /** The document client the application uses (`createDocumentClient`), pointed at DynamoDB Local. */
  client: DynamoDBDocumentClient;
  /** The same for the logs table, which DynamoDB Local keeps in a database of its own. */
  logsClient: DynamoDBDocumentClient;
};

export type BenchSqs = {
  endpoint: string;
  client: SQSClient;
  /** Creates (or finds) a plain standard queue and returns its URL. */
  createQueue(name: string): Promise<string>;
};

const PREFIX = "drover-bench";

/**
 * Points core, in this process, at a new set of tables of its own on the bench's DynamoDB Local
 * (named `drover-bench-<label>-<time>`) and creates them: for benchmarks that call core directly.
 */
export async function useFreshTables(dynamo: BenchDynamo, label: string): Promise<Config> {
  const prefix = `${PREFIX}-${label}-${Date.now().toString(36)}`;
  const config = parseConfig({
    AWS_REGION: "us-east-1",
    DROVER_DYNAMODB_ENDPOINT: dynamo.endpoint,
    DROVER_MAIN_TABLE: `${prefix}-main`,
    DROVER_KV_TABLE: `${prefix}-kv`,
    DROVER_LOGS_TABLE: `${prefix}-logs`,
  });
  configure(config);
  await ensureTables(config);
  return config;
}

/**
 * Floor tables of their own on another DynamoDB (a runtime's own DynamoDB Local, which a benchmark
 * of the runtime users start measures its floors on): same design, clients as the application's.
 * `destroy()` closes the clients; the tables stay with that DynamoDB.
 */
export async function dynamoAt(endpoint: string, label: string): Promise<BenchDynamo & { destroy(): void }> {
  const prefix = `${PREFIX}-${label}-${Date.now().toString(36)}`;
  const config = parseConfig({
    DROVER_STAGE: "bench",
    DROVER_DYNAMODB_ENDPOINT: endpoint,
    DROVER_MAIN_TABLE: `${prefix}-main`,
    DROVER_KV_TABLE: `${prefix}-kv`,
    DROVER_LOGS_TABLE: `${prefix}-logs`,
  });
  await ensureTables(config);
  const client = createDocumentClient(config);
  const logsClient = createDocumentClient(config, "logs");
  return {
    endpoint,
    config,
    client,
    logsClient,
    destroy: () => {
      client.destroy();
      logsClient.destroy();
    },
  };
}

/**
 * DynamoDB Local is a JVM: its first seconds run interpreted and measured 2-3 times slower than
 * later ones on the reference machine, so every run spends this long on a mixed workload first.
 */
const DYNAMODB_JIT_WARMUP_MS = 4000;

/**
 * The emulators a run measures against, on loopback ports: an in-memory DynamoDB Local (java) and
 * fauxqs in this process. Each starts on first use; `stop()` ends both.
 */
export class BenchEnvironment {
  #dynamo: Promise<{ value: BenchDynamo; stop: () => Promise<void> }> | undefined;
  #sqs: Promise<{ value: BenchSqs; stop: () => Promise<void> }> | undefined;

  async dynamo(): Promise<BenchDynamo> {
    this.#dynamo ??= startDynamo();
    return (await this.#dynamo).value;
  }

  async sqs(): Promise<BenchSqs> {
    this.#sqs ??= startSqs();
    return (await this.#sqs).value;
  }

  async stop(): Promise<void> {
    const started = [this.#dynamo, this.#sqs];
    this.#dynamo = undefined;
    this.#sqs = undefined;
    await Promise.allSettled(started.map(async (service) => (await service)?.stop()));
  }
}

async function startDynamo(): Promise<{ value: BenchDynamo; stop: () => Promise<void> }> {
  const local = await startDynamoDbLocal({});
  try {
    const config = parseConfig({
      DROVER_STAGE: "bench",
      DROVER_DYNAMODB_ENDPOINT: local.endpoint,
      DROVER_MAIN_TABLE: `${PREFIX}-main`,
      DROVER_KV_TABLE: `${PREFIX}-kv`,
      DROVER_LOGS_TABLE: `${PREFIX}-logs`,
    });
    await ensureTables(config);
    const client = createDocumentClient(config);
    const logsClient = createDocumentClient(config, "logs");
    await warmUp(client, config.tables.main);
    return {
      value: { endpoint: local.endpoint, config, client, logsClient },
      stop: async () => {
        client.destroy();
        logsClient.destroy();
        await local.stop();
      },
    };
  } catch (error) {
    await local.stop();
    throw error;
  }
}

async function startSqs(): Promise<{ value: BenchSqs; stop: () => Promise<void> }> {
  const queues = await startQueues({ prefix: PREFIX });
  const config = parseConfig({ DROVER_STAGE: "bench", DROVER_SQS_ENDPOINT: queues.endpoint });
  const client = createSqsClient(config);
  return {
    value: {
      endpoint: queues.endpoint,
      client,
      createQueue: async (name) => {
        const created = await client.send(new CreateQueueCommand({ QueueName: `${PREFIX}-${name}` }));
        if (!created.QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
        return created.QueueUrl;
      },
    },
    stop: async () => {
      client.destroy();
      await queues.stop();
    },
  };
}

/** Conditional puts of new items, gets and conditional updates, the operations the floors measure. */
async function warmUp(client: DynamoDBDocumentClient, table: string): Promise<void> {
  await measure(
    async (worker, sequence) => {
      const key = { pk: `bench#warmup#${worker}#${sequence % 64}`, sk: "item" };
      if (sequence % 3 === 0) {
        await client.send(
          new PutCommand({
            TableName: table,
            Item: { pk: `bench#warmup#new#${sequence}`, sk: "item", version: 0 },
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
      } else if (sequence % 3 === 1) {
        await client.send(new GetCommand({ TableName: table, Key: key }));
      } else {
        await client.send(
          new UpdateCommand({
            TableName: table,
            Key: key,
            UpdateExpression: "SET #version = if_not_exists(#version, :zero) + :one",
            ConditionExpression: "attribute_not_exists(#version) OR #version >= :zero",
            ExpressionAttributeNames: { "#version": "version" },
            ExpressionAttributeValues: { ":zero": 0, ":one": 1 },
          }),
        );
      }
      return undefined;
    },
    { concurrency: 4, durationMs: DYNAMODB_JIT_WARMUP_MS },
  );
}
