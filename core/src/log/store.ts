import { createHash } from "node:crypto";
import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
  TransactWriteCommand,
} from "@aws-sdk/lib-dynamodb";
import { useTenantId } from "../actor.js";
import { useConfig } from "../config.js";
import { useDynamo } from "../dynamo/client.js";
import { RetryableError } from "../errors.js";
import { describePath, storableIssue } from "../storable.js";
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
/**
 * A chunk's lines as JSON, at most: a DynamoDB item holds 400 KB. A longer line (a queued line is
 * at most ~250 KB of JSON: `MESSAGE_BUDGET_BYTES`) is a chunk of its own.
 */
const CHUNK_BYTES = 256 * 1024;
const CHUNK_LINES = 1_000;

/** A line that can never be stored, and why. */
export type Rejected = { record: LogRecord; error: string };

type Line = { record: LogRecord; json: string; expires: number };
type Chunk = { lines: Line[]; item: Record<string, unknown>; bytes: number };

function byTimeThenId(a: Line, b: Line): number {
  const x = a.record;
  const y = b.record;
  if (x.timestamp !== y.timestamp) return x.timestamp < y.timestamp ? -1 : 1;
  return x.id < y.id ? -1 : x.id > y.id ? 1 : 0;
}

/**
 * The item of a chunk: lines of one flow run and one bucket, in order. Its sort key comes from its
 * bucket and a digest of its line ids, so writing the same lines again writes the same item, and
 * the lines of another call (a client's resend that adds newer lines) never overwrite it: a line
 * stored in two chunks is read once (`read.ts` merges a bucket and drops repeated ids).
 */
function chunkItem(t: string, lines: Line[]): Chunk {
  const first = (lines[0] as Line).record;
  const digest = createHash("sha256")
    .update(lines.map((l) => l.record.id).join(","))
    .digest("base64url")
    .slice(0, 22);
  const taskRuns = [...new Set(lines.flatMap((l) => (l.record.task_run_id ? [l.record.task_run_id] : [])))];
  const json = `[${lines.map((l) => l.json).join(",")}]`;
  const item: Record<string, unknown> = {
    ...LogKeys.chunk(t, first.flow_run_id, LogKeys.bucketOf(first.timestamp), digest),
    lines_json: json,
    line_count: lines.length,
    ...(taskRuns.length > 0 ? { task_run_ids: new Set(taskRuns) } : {}),
    tenant_id: t,
    // Lines of one call share their expiry; else the chunk lives as long as its longest-lived line.
    ttl_epoch: Math.max(...lines.map((l) => l.expires)),
  };
  return { lines, item, bytes: Buffer.byteLength(json, "utf8") + 512 };
}

/**
 * Lines as chunks: grouped by flow run and bucket, sorted, repeated ids dropped, each group cut
 * into chunks of at most `CHUNK_BYTES` and `CHUNK_LINES`.
 */
function chunksOfLines(t: string, lines: Line[]): Chunk[] {
  const groups = new Map<string, Line[]>();
  for (const line of lines) {
    const group = `${line.record.flow_run_id}#${LogKeys.bucketOf(line.record.timestamp)}`;
    let members = groups.get(group);
    if (!members) {
      members = [];
      groups.set(group, members);
    }
    members.push(line);
  }
  const chunks: Chunk[] = [];
  for (const members of groups.values()) {
    members.sort(byTimeThenId);
    let current: Line[] = [];
    let size = 0;
    let previous: string | undefined;
    for (const line of members) {
      if (line.record.id === previous) continue;
      previous = line.record.id;
      const bytes = Buffer.byteLength(line.json, "utf8") + 1;
      if (current.length > 0 && (current.length === CHUNK_LINES || size + bytes > CHUNK_BYTES)) {
        chunks.push(chunkItem(t, current));
        current = [];
        size = 0;
      }
      current.push(line);
      size += bytes;
    }
    if (current.length > 0) chunks.push(chunkItem(t, current));
  }
  return chunks;
}

/** The items `storeEach` writes for `records` of tenant `t` expiring at `ttlEpoch` (benchmarks, tests). */
export function chunkItems(t: string, records: LogRecord[], ttlEpoch: number): Record<string, unknown>[] {
  const lines = records.map((record) => ({ record, json: JSON.stringify(record), expires: ttlEpoch }));
  return chunksOfLines(t, lines).map((chunk) => chunk.item);
}

/**
 * Writes lines of the current tenant and reports, per line, the ones that can never be stored
 * instead of failing the others: an `info` DynamoDB could not hold as a map (a number beyond its
 * range or precision, nesting deeper than 32 levels: `write_run_logs` refuses those, this catches
 * lines that reached the queue some other way), or a chunk DynamoDB refuses as invalid, split in
 * halves until the refused lines are alone. Transient failures (throttling, unprocessed items, a
 * transaction conflict, the network) throw after retries, so the caller redelivers the whole
 * message; rewriting is idempotent (a chunk's key comes from its lines' deterministic ids).
 *
 * Lines are stored in chunks (`keys.ts`): the 100 lines of a `write_run_logs` call are usually one
 * item and one write, not 100. On AWS chunks are written with BatchWriteItem (25 a call, a few
 * calls in parallel). DynamoDB Local (a configured endpoint) commits each item of a BatchWriteItem
 * as its own SQLite transaction while one TransactWriteItems is one commit: there chunks go up to
 * 100 a transaction. (On AWS a transaction costs twice the write units.)
 */
export async function storeEach(
  records: LogRecord[],
  options: { transactional?: boolean } = {},
): Promise<Rejected[]> {
  const t = useTenantId();
  const days = await retentionDays();
  const rejected: Rejected[] = [];
  const lines: Line[] = [];
  for (const record of records) {
    const issue = storableIssue(record.info, { as: "native" });
    if (issue) {
      rejected.push({ record, error: `not storable: ${describePath("info", issue.path)}: ${issue.message}` });
      continue;
    }
    lines.push({ record, json: JSON.stringify(record), expires: expiresAt(record.created, days) });
  }
  const transactional = options.transactional ?? useConfig().dynamoEndpoint !== undefined;
  const chunks = chunksOfLines(t, lines);
  const calls = transactional
    ? callsOf(chunks, TRANSACT_ITEMS, TRANSACT_BYTES)
    : callsOf(chunks, BATCH_WRITE_ITEMS, Number.POSITIVE_INFINITY);
  let next = 0;
  const worker = async () => {
    while (next < calls.length) {
      const call = calls[next++] as Chunk[];
      rejected.push(...(await writeIsolating(t, call, transactional)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, calls.length) }, worker));
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

/** Chunks grouped into write calls of at most `maxItems` items and `maxBytes`. */
function callsOf(chunks: Chunk[], maxItems: number, maxBytes: number): Chunk[][] {
  const calls: Chunk[][] = [];
  let current: Chunk[] = [];
  let size = 0;
  for (const chunk of chunks) {
    if (current.length > 0 && (current.length === maxItems || size + chunk.bytes > maxBytes)) {
      calls.push(current);
      current = [];
      size = 0;
    }
    current.push(chunk);
    size += chunk.bytes;
  }
  if (current.length > 0) calls.push(current);
  return calls;
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

/**
 * Writes one call's chunks. A call refused as invalid is halved until the refused chunk stands
 * alone; a refused chunk of several lines is rewritten as two chunks of half its lines each, until
 * each refused line stands alone.
 */
async function writeIsolating(t: string, call: Chunk[], transactional: boolean): Promise<Rejected[]> {
  try {
    await (transactional ? writeTransaction(call) : writeBatch(call));
    return [];
  } catch (error) {
    const reason = refusal(error);
    if (reason === undefined) throw error;
    let halves: Chunk[][];
    if (call.length > 1) {
      const half = Math.ceil(call.length / 2);
      halves = [call.slice(0, half), call.slice(half)];
    } else {
      const { lines } = call[0] as Chunk;
      if (lines.length === 1) return [{ record: (lines[0] as Line).record, error: reason }];
      const half = Math.ceil(lines.length / 2);
      halves = [[chunkItem(t, lines.slice(0, half))], [chunkItem(t, lines.slice(half))]];
    }
    const rejected: Rejected[] = [];
    for (const part of halves) rejected.push(...(await writeIsolating(t, part, transactional)));
    return rejected;
  }
}

async function writeTransaction(chunk: Chunk[]): Promise<void> {
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

async function writeBatch(chunk: Chunk[]): Promise<void> {
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
