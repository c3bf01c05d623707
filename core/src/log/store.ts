import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
} from "@aws-sdk/lib-dynamodb";
import { useTenantId } from "../actor.js";
import { useConfig } from "../config.js";
import { useDynamo } from "../dynamo/client.js";
import { RetryableError } from "../errors.js";
import { LogKeys } from "./keys.js";
import type { LogRecord } from "./record.js";
import { expiresAt, retentionDays } from "./retention.js";

const BATCH_WRITE_ITEMS = 25;
/** BatchWriteItem calls of one message in flight at once. */
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

/**
 * Writes lines of the current tenant (BatchWriteItem, 25 a call, a few calls in parallel, retrying
 * unprocessed items with backoff). Idempotent: a redelivered message writes the same items. Throws
 * when items stay unprocessed, so the message is redelivered rather than acknowledged.
 */
export async function store(records: LogRecord[]): Promise<void> {
  const t = useTenantId();
  const days = await retentionDays();
  const items = new Map<string, Record<string, unknown>>();
  for (const record of records) {
    const item = toItem(t, record, expiresAt(record.created, days));
    // One BatchWriteItem call refuses two requests for the same key.
    items.set(`${item.pk}\u0000${item.sk}`, item);
  }
  const all = [...items.values()];
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < all.length; i += BATCH_WRITE_ITEMS) chunks.push(all.slice(i, i + BATCH_WRITE_ITEMS));
  let next = 0;
  const worker = async () => {
    while (next < chunks.length) {
      const chunk = chunks[next++] as Record<string, unknown>[];
      await writeChunk(chunk);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, chunks.length) }, worker));
}

async function writeChunk(items: Record<string, unknown>[]): Promise<void> {
  const table = useConfig().tables.logs;
  let pending: NonNullable<BatchWriteCommandInput["RequestItems"]> = {
    [table]: items.map((Item) => ({ PutRequest: { Item } })),
  };
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (attempt > 0) await backoff(attempt);
    const result: BatchWriteCommandOutput = await useDynamo().send(
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
