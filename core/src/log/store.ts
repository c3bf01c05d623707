import { type AttributeValue, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
  TransactWriteCommand,
} from "@aws-sdk/lib-dynamodb";
import { marshall } from "@aws-sdk/util-dynamodb";
import { useTenantId } from "../actor.js";
import { useConfig } from "../config.js";
import { useDynamo } from "../dynamo/client.js";
import { RetryableError } from "../errors.js";
import { LogKeys } from "./keys.js";
import type { LogRecord } from "./record.js";
import { expiresAt, retentionDays } from "./retention.js";

const BATCH_WRITE_ITEMS = 25;
/** TransactWriteItems' bounds: 100 items and 4 MB a call (kept well under). */
const TRANSACT_ITEMS = 100;
const TRANSACT_BYTES = 3 * 1024 * 1024;
/** Write calls of one store() in flight at once. */
const WRITE_CONCURRENCY = 4;
const MAX_ATTEMPTS = 8;

/** The item of a line: its keys are derived from its id and timestamp only, so rewriting is harmless. */
export function toItem(t: string, record: LogRecord, ttlEpoch: number): Record<string, unknown> {
  return {
    ...LogKeys.item(t, record.flow_run_id, record.timestamp, record.id),
    ...record,
    tenant_id: t,
    ttl_epoch: ttlEpoch,
  };
}

/** A line DynamoDB refused (it will refuse it on every attempt), and why. */
export type Rejected = { record: LogRecord; error: string };

type Entry = { record: LogRecord; item: Record<string, unknown>; bytes: number };

/**
 * Writes lines of the current tenant and reports, per line, the ones DynamoDB can never store
 * (a value it refuses: a number beyond its range or precision, nesting deeper than 32 levels, ...)
 * instead of failing the others: a chunk refused as invalid is split in halves until the refused
 * lines are alone, and every other line is written. Transient failures (throttling, unprocessed
 * items, a transaction conflict, the network) throw after retries, so the caller redelivers the
 * whole message; rewriting is idempotent (keys come from the line's deterministic id).
 *
 * On AWS lines are written with BatchWriteItem (25 a call, a few calls in parallel). DynamoDB
 * Local (a configured endpoint) commits each item of a BatchWriteItem as its own SQLite
 * transaction, about 50 lines/s on a loaded disk, while one TransactWriteItems of 100 items is one
 * commit: there lines go 100 a transaction. (On AWS a transaction costs twice the write units.)
 */
export async function storeEach(
  records: LogRecord[],
  options: { transactional?: boolean } = {},
): Promise<Rejected[]> {
  const t = useTenantId();
  const days = await retentionDays();
  const rejected: Rejected[] = [];
  const entries = new Map<string, Entry>();
  for (const record of records) {
    const item = toItem(t, record, expiresAt(record.created, days));
    let bytes: number;
    try {
      // What the document client would send: values it cannot convert (e.g. an integer beyond
      // 2^53) fail here, before any call.
      bytes = JSON.stringify(marshallItem(item)).length;
    } catch (error) {
      rejected.push({ record, error: `not storable: ${(error as Error).message}` });
      continue;
    }
    // One write call refuses two requests for the same key.
    entries.set(`${item.pk}\u0000${item.sk}`, { record, item, bytes });
  }
  const transactional = options.transactional ?? useConfig().dynamoEndpoint !== undefined;
  const chunks = transactional
    ? chunkBy([...entries.values()], TRANSACT_ITEMS, TRANSACT_BYTES)
    : chunkBy([...entries.values()], BATCH_WRITE_ITEMS, Number.POSITIVE_INFINITY);
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++] as Entry[];
      rejected.push(...(await writeIsolating(chunk, transactional)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, chunks.length) }, worker));
  return rejected;
}

/**
 * Writes lines of the current tenant, all or an error: for callers that write lines they built
 * themselves (the scheduler's run notes), where a refused line is a bug.
 */
export async function store(records: LogRecord[]): Promise<void> {
  const rejected = await storeEach(records);
  if (rejected.length > 0)
    throw new Error(`${rejected.length} log lines not storable: ${rejected[0]?.error ?? ""}`);
}

function marshallItem(item: Record<string, unknown>): Record<string, AttributeValue> {
  return marshall(item, { removeUndefinedValues: true, convertClassInstanceToMap: false });
}

function chunkBy(entries: Entry[], maxItems: number, maxBytes: number): Entry[][] {
  const chunks: Entry[][] = [];
  let current: Entry[] = [];
  let size = 0;
  for (const entry of entries) {
    if (current.length > 0 && (current.length === maxItems || size + entry.bytes > maxBytes)) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(entry);
    size += entry.bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** A refusal that no retry changes: the request (some item of it) is invalid. */
function refusal(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  if (error.name === "ValidationException") return error.message;
  if (error instanceof TransactionCanceledException || error.name === "TransactionCanceledException") {
    const reasons = (error as TransactionCanceledException).CancellationReasons ?? [];
    const invalid = reasons.find((r) => r.Code === "ValidationError");
    if (invalid) return invalid.Message ?? error.message;
  }
  return undefined;
}

/** Writes a chunk; a chunk refused as invalid is halved until each refused line stands alone. */
async function writeIsolating(chunk: Entry[], transactional: boolean): Promise<Rejected[]> {
  try {
    await (transactional ? writeTransaction(chunk) : writeBatch(chunk));
    return [];
  } catch (error) {
    const reason = refusal(error);
    if (reason === undefined) throw error;
    if (chunk.length === 1) return [{ record: (chunk[0] as Entry).record, error: reason }];
    const half = Math.ceil(chunk.length / 2);
    const first = await writeIsolating(chunk.slice(0, half), transactional);
    const second = await writeIsolating(chunk.slice(half), transactional);
    return [...first, ...second];
  }
}

async function writeTransaction(chunk: Entry[]): Promise<void> {
  const table = useConfig().tables.logs;
  for (let attempt = 0; ; attempt++) {
    if (attempt > 0) await backoff(attempt);
    try {
      await useDynamo(table).send(
        new TransactWriteCommand({
          TransactItems: chunk.map(({ item }) => ({ Put: { TableName: table, Item: item } })),
        }),
      );
      return;
    } catch (error) {
      // A conflict with another writer of the same lines (a redelivery in flight) is transient.
      if (refusal(error) !== undefined || attempt + 1 >= MAX_ATTEMPTS) throw error;
      if (!(error instanceof Error) || error.name !== "TransactionCanceledException") throw error;
    }
  }
}

async function writeBatch(chunk: Entry[]): Promise<void> {
  const table = useConfig().tables.logs;
  let pending: NonNullable<BatchWriteCommandInput["RequestItems"]> = {
    [table]: chunk.map(({ item }) => ({ PutRequest: { Item: item } })),
  };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await backoff(attempt);
    const result: BatchWriteCommandOutput = await useDynamo(table).send(
      new BatchWriteCommand({ RequestItems: pending }),
    );
    const unprocessed = result.UnprocessedItems?.[table];
    if (!unprocessed || unprocessed.length === 0) return;
    pending = { [table]: unprocessed };
  }
  throw new RetryableError(`log items stayed unprocessed after ${MAX_ATTEMPTS} BatchWriteItem attempts`);
}

function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(resolve, Math.min(2000, 25 * 2 ** attempt * (0.5 + Math.random()))),
  );
}
