import {
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
} from "@aws-sdk/client-sqs";
import { BatchWriteCommand, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { BenchDynamo, BenchSqs } from "./lib/environment.js";
import { throughputFigure } from "./lib/figures.js";
import { measure, type Operation } from "./lib/measure.js";
import type { BenchContext, Benchmark, Figure } from "./lib/types.js";

/**
 * The raw floors of this machine: what DynamoDB Local and fauxqs do per second through the AWS SDK
 * with nothing of Drover in the way. Later benchmarks report their figures as ratios to these,
 * measured in the same run (`getFloors`).
 */
export const FLOOR_KEYS = [
  "dynamodb.put_if_absent.sequential",
  "dynamodb.put_if_absent.concurrent",
  "dynamodb.update_versioned.sequential",
  "dynamodb.update_versioned.concurrent",
  "dynamodb.get.sequential",
  "dynamodb.get.concurrent",
  "dynamodb.batch_write.sequential",
  "dynamodb.batch_write.concurrent",
  "sqs.send.sequential",
  "sqs.send.concurrent",
  "sqs.send_batch.sequential",
  "sqs.send_batch.concurrent",
  "sqs.receive_delete.sequential",
  "sqs.receive_delete.concurrent",
] as const;

export type FloorKey = (typeof FLOOR_KEYS)[number];
export type Floors = Record<FloorKey, Figure>;

/** The floors of this run: measured on first call, the same figures on every later call. */
export function getFloors(context: BenchContext): Promise<Floors> {
  return context.memo("floors", () => measureFloors(context));
}

export const floorsBenchmark: Benchmark = {
  name: "floors",
  description: "DynamoDB Local and fauxqs operations per second through the AWS SDK (the raw floor)",
  run: async (context) => {
    const floors = await getFloors(context);
    return FLOOR_KEYS.map((key) => floors[key]);
  },
};

type Variant = { name: "sequential" | "concurrent"; concurrency: number; label: string };

function variants(context: BenchContext): Variant[] {
  const n = context.options.concurrency;
  return [
    { name: "sequential", concurrency: 1, label: "sequential" },
    { name: "concurrent", concurrency: n, label: `${n} concurrent` },
  ];
}

export async function measureFloors(context: BenchContext): Promise<Floors> {
  const figures = new Map<string, Figure>();
  const record = (figure: Figure) => {
    figures.set(figure.key, figure);
    const latency = figure.latencyMs ? `, p50 ${figure.latencyMs.p50.toFixed(2)} ms` : "";
    const errors = figure.errors ? `, ${figure.errors} errors` : "";
    context.log(`  ${figure.label}: ${Math.round(figure.value)} ${figure.unit}${latency}${errors}`);
  };
  await measureDynamo(context, await context.environment.dynamo(), record);
  await measureSqs(context, await context.environment.sqs(), record);
  const floors: Partial<Floors> = {};
  for (const key of FLOOR_KEYS) {
    const figure = figures.get(key);
    if (!figure) throw new Error(`floor ${key} was not measured`);
    floors[key] = figure;
  }
  return floors as Floors;
}

/** A flow-run-sized item (~300 bytes), keyed by entity like the real ones. */
function item(pk: string): Record<string, unknown> {
  return {
    pk,
    sk: "item",
    version: 0,
    state: "Scheduled",
    flow_id: "0b7f3c1e-7d6a-4c55-9a51-2f0d8c3e4b11",
    name: "bench-item",
    labels: ["bench", "floor"],
    parameters: JSON.stringify({
      x: 1,
      y: "two",
      z: [3, 4, 5],
      note: "a parameter payload of moderate size",
    }),
    scheduled_start_time: "2026-11-21T00:00:00.000Z",
  };
}

const BATCH_WRITE_SIZE = 25;
const GET_ITEMS = 1000;

/*
 * The raw DynamoDB operations of the floors, one factory each: the floors benchmark measures them
 * here, and a benchmark that compares its figure with a floor measured alongside it
 * (bench/lib/paired.ts) measures the very same operation.
 */
let floorInstances = 0;

/** PutItem of a new flow-run-sized item if absent; every call of the operation writes a new key. */
export function putIfAbsentFloor(dynamo: BenchDynamo): Operation {
  const prefix = `bench#put#${++floorInstances}`;
  let written = 0;
  return async () => {
    await dynamo.client.send(
      new PutCommand({
        TableName: dynamo.config.tables.main,
        Item: item(`${prefix}#${written++}`),
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    return undefined;
  };
}

/**
 * UpdateItem `SET version + 1` if the version is the one last written, one item per worker, so the
 * version check never loses a race: the uncontended floor of a version-locked state change.
 */
export async function updateVersionedFloor(dynamo: BenchDynamo, concurrency: number): Promise<Operation> {
  const versions = Array.from({ length: concurrency }, () => 0);
  const prefix = `bench#version#${++floorInstances}`;
  const key = (worker: number) => ({ pk: `${prefix}#${worker}`, sk: "item" });
  await writeAll(
    dynamo.client,
    dynamo.config.tables.main,
    versions.map((_, worker) => item(key(worker).pk)),
  );
  return async (worker) => {
    const expected = versions[worker] ?? 0;
    await dynamo.client.send(
      new UpdateCommand({
        TableName: dynamo.config.tables.main,
        Key: key(worker),
        UpdateExpression: "SET #version = #version + :one",
        ConditionExpression: "#version = :expected",
        ExpressionAttributeNames: { "#version": "version" },
        ExpressionAttributeValues: { ":one": 1, ":expected": expected },
      }),
    );
    versions[worker] = expected + 1;
    return undefined;
  };
}

/**
 * The raw DynamoDB requests a task run transition through the API is made of, with nothing of
 * Drover in between: every other operation (a Running) first reads one attribute of another item,
 * strongly consistent (the flow run's state, which the protocol requires to be Running), then each
 * makes the version-locked UpdateItem. 1.5 requests per operation, as the task runner's pattern.
 */
export async function transitionRequestsFloor(dynamo: BenchDynamo, concurrency: number): Promise<Operation> {
  const update = await updateVersionedFloor(dynamo, concurrency);
  await getItems(dynamo);
  const steps = Array.from({ length: concurrency }, () => 0);
  return async (worker, sequence) => {
    const step = steps[worker] ?? 0;
    steps[worker] = step + 1;
    if (step % 2 === 0) {
      await dynamo.client.send(
        new GetCommand({
          TableName: dynamo.config.tables.main,
          Key: { pk: `bench#get#${sequence % GET_ITEMS}`, sk: "item" },
          ProjectionExpression: "#state",
          ExpressionAttributeNames: { "#state": "state" },
          ConsistentRead: true,
        }),
      );
    }
    return update(worker, sequence);
  };
}

const getItemsWritten = new WeakMap<BenchDynamo, Promise<void>>();

/** The 1,000 items the GetItem floors read (`bench#get#<i>`), written once per DynamoDB. */
function getItems(dynamo: BenchDynamo): Promise<void> {
  let written = getItemsWritten.get(dynamo);
  if (!written) {
    written = writeAll(
      dynamo.client,
      dynamo.config.tables.main,
      Array.from({ length: GET_ITEMS }, (_, i) => item(`bench#get#${i}`)),
    );
    getItemsWritten.set(dynamo, written);
  }
  return written;
}

/** GetItem of one of 1,000 flow-run-sized items. */
export async function getFloor(dynamo: BenchDynamo): Promise<Operation> {
  const table = dynamo.config.tables.main;
  await getItems(dynamo);
  return async (_worker, sequence) => {
    const result = await dynamo.client.send(
      new GetCommand({ TableName: table, Key: { pk: `bench#get#${sequence % GET_ITEMS}`, sk: "item" } }),
    );
    if (!result.Item) throw new Error("GetItem found no item");
    return undefined;
  };
}

async function measureDynamo(
  context: BenchContext,
  dynamo: BenchDynamo,
  record: (figure: Figure) => void,
): Promise<void> {
  const { client } = dynamo;
  const table = dynamo.config.tables.main;
  const timing = { durationMs: context.options.durationMs, warmupMs: context.options.warmupMs };

  for (const variant of variants(context)) {
    record(
      throughputFigure(
        `dynamodb.put_if_absent.${variant.name}`,
        `DynamoDB PutItem if attribute_not_exists, ${variant.label}`,
        await measure(putIfAbsentFloor(dynamo), { concurrency: variant.concurrency, ...timing }),
      ),
    );
  }

  for (const variant of variants(context)) {
    const update = await updateVersionedFloor(dynamo, variant.concurrency);
    record(
      throughputFigure(
        `dynamodb.update_versioned.${variant.name}`,
        `DynamoDB UpdateItem if version = :v, SET version + 1, ${variant.label}`,
        await measure(update, { concurrency: variant.concurrency, ...timing }),
      ),
    );
  }

  const get = await getFloor(dynamo);
  for (const variant of variants(context)) {
    record(
      throughputFigure(
        `dynamodb.get.${variant.name}`,
        `DynamoDB GetItem, ${variant.label}`,
        await measure(get, { concurrency: variant.concurrency, ...timing }),
      ),
    );
  }

  for (const variant of variants(context)) {
    const batch: Operation = async (_worker, sequence) => {
      const items = Array.from({ length: BATCH_WRITE_SIZE }, (_, i) =>
        item(`bench#batch#${variant.name}#${sequence}#${i}`),
      );
      const result = await client.send(
        new BatchWriteCommand({ RequestItems: { [table]: items.map((Item) => ({ PutRequest: { Item } })) } }),
      );
      return BATCH_WRITE_SIZE - (result.UnprocessedItems?.[table]?.length ?? 0);
    };
    record(
      throughputFigure(
        `dynamodb.batch_write.${variant.name}`,
        `DynamoDB BatchWriteItem (${BATCH_WRITE_SIZE} items/request), ${variant.label}`,
        await measure(batch, { concurrency: variant.concurrency, ...timing }),
        "items/s",
      ),
    );
  }
}

async function writeAll(
  client: BenchDynamo["client"],
  table: string,
  items: Record<string, unknown>[],
): Promise<void> {
  for (let start = 0; start < items.length; start += BATCH_WRITE_SIZE) {
    let pending = items.slice(start, start + BATCH_WRITE_SIZE).map((Item) => ({ PutRequest: { Item } }));
    while (pending.length > 0) {
      const result = await client.send(new BatchWriteCommand({ RequestItems: { [table]: pending } }));
      pending = (result.UnprocessedItems?.[table] ?? []) as typeof pending;
    }
  }
}

/** A log-line-sized message body (~250 bytes), like the ones `write_run_logs` enqueues. */
const MESSAGE_BODY = JSON.stringify({
  tenant_id: "3f1c2b9e-5d7a-4e11-8f0c-6a2b4c8d9e01",
  flow_run_id: "a6d0e4f2-1b3c-4d5e-8f70-9a1b2c3d4e5f",
  timestamp: "2026-11-21T00:00:00.000Z",
  level: "INFO",
  name: "prefect.TaskRunner",
  message: "Task 'extract': Starting task run...",
});

const SEND_BATCH_SIZE = 10;

async function measureSqs(
  context: BenchContext,
  sqs: BenchSqs,
  record: (figure: Figure) => void,
): Promise<void> {
  const { client } = sqs;
  const timing = { durationMs: context.options.durationMs, warmupMs: context.options.warmupMs };

  for (const variant of variants(context)) {
    const queueUrl = await sqs.createQueue(`send-${variant.name}`);
    const send: Operation = async () => {
      await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: MESSAGE_BODY }));
      return undefined;
    };
    record(
      throughputFigure(
        `sqs.send.${variant.name}`,
        `SQS SendMessage, ${variant.label}`,
        await measure(send, { concurrency: variant.concurrency, ...timing }),
        "msgs/s",
      ),
    );
  }

  const batchRates = new Map<string, number>();
  for (const variant of variants(context)) {
    const queueUrl = await sqs.createQueue(`send-batch-${variant.name}`);
    const figure = throughputFigure(
      `sqs.send_batch.${variant.name}`,
      `SQS SendMessageBatch (${SEND_BATCH_SIZE}/request), ${variant.label}`,
      await measure(sendBatch(sqs, queueUrl), { concurrency: variant.concurrency, ...timing }),
      "msgs/s",
    );
    batchRates.set(variant.name, figure.value);
    record(figure);
  }

  for (const variant of variants(context)) {
    const queueUrl = await sqs.createQueue(`receive-${variant.name}`);
    // Enough messages that the queue does not run dry, assuming receiving is no faster than sending
    // in batches (each message costs a receive and a delete).
    const seconds = (context.options.durationMs + context.options.warmupMs) / 1000;
    const wanted = Math.min(200_000, Math.max(2_000, (batchRates.get(variant.name) ?? 0) * seconds * 1.2));
    const prefill = await measure(sendBatch(sqs, queueUrl), {
      concurrency: context.options.concurrency,
      count: Math.ceil(wanted / SEND_BATCH_SIZE),
    });
    if (prefill.errors > 0) throw new Error(`prefilling ${queueUrl} failed: ${prefill.firstError}`);
    let emptyReceives = 0;
    const receive: Operation = async () => {
      const received = await client.send(
        new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      const messages = received.Messages ?? [];
      if (messages.length === 0) {
        emptyReceives++;
        return 0;
      }
      const deleted = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((message, i) => ({ Id: String(i), ReceiptHandle: message.ReceiptHandle })),
        }),
      );
      if (deleted.Failed && deleted.Failed.length > 0) {
        throw new Error(`DeleteMessageBatch failed for ${deleted.Failed.length} messages`);
      }
      return messages.length;
    };
    const measurement = await measure(receive, { concurrency: variant.concurrency, ...timing });
    record(
      throughputFigure(
        `sqs.receive_delete.${variant.name}`,
        `SQS ReceiveMessage (up to 10) + DeleteMessageBatch, ${variant.label}`,
        measurement,
        "msgs/s",
        emptyReceives > 0 ? { note: `queue ran dry: ${emptyReceives} empty receives` } : {},
      ),
    );
  }
}

function sendBatch(sqs: BenchSqs, queueUrl: string): Operation {
  const entries = Array.from({ length: SEND_BATCH_SIZE }, (_, i) => ({
    Id: String(i),
    MessageBody: MESSAGE_BODY,
  }));
  return async () => {
    const result = await sqs.client.send(
      new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
    );
    if (result.Failed && result.Failed.length > 0) {
      throw new Error(`SendMessageBatch failed for ${result.Failed.length} messages`);
    }
    return result.Successful?.length ?? 0;
  };
}
