import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import { Logger } from "@aws-lambda-powertools/logger";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import * as z from "zod";
import { deadLetter } from "#core/log/dead-letter.js";
import { handleLogMessage } from "./log-records.js";

/**
 * The ingestion queue's consumer. What goes through the queue, and why only that:
 * - `log` (run logs): high volume, bursty, read seconds later at the earliest: queued by
 *   write_run_logs, stored here.
 * - Flow and task run state history entries stay synchronous: each is written with its
 *   version-locked transition under a deterministic key, and the flow runner and the dashboard
 *   read `states` right after setting one.
 * - Heartbeats stay synchronous too: each is one UpdateItem on the run item (no dearer than a
 *   SendMessage), the API must tell a caller its run does not exist, and the zombie and lazarus
 *   checks read the heartbeat, which a queue would make late by the consumer's lag. The first
 *   candidate to move if write volume demands it: task run heartbeats (one per running task every
 *   30 s, last write wins, so a consumer could coalesce a batch into one write per run).
 */
const logger = new Logger({ serviceName: "drover-ingest" });
const processor = new BatchProcessor(EventType.SQS);

/** Every ingestion message names its kind; kinds are added as ingestion grows. */
const envelope = z.object({ kind: z.string().min(1) });

export type RecordHandler = (body: unknown, record: SQSRecord) => Promise<void>;
const recordHandlers = new Map<string, RecordHandler>();

/** Registers the consumer of one message kind (e.g. run logs). */
export function registerRecordHandler(kind: string, handle: RecordHandler): void {
  recordHandlers.set(kind, handle);
}

registerRecordHandler("log", handleLogMessage);

/**
 * A message no delivery can ever handle (not JSON, no kind, a kind nobody consumes) is parked on
 * the DLQ at once with the reason, rather than failing maxReceiveCount times first.
 */
async function recordHandler(record: SQSRecord): Promise<void> {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    return deadLetter(record.body, "the message body is not JSON", record.messageId);
  }
  const parsed = envelope.safeParse(body);
  const handle = parsed.success ? recordHandlers.get(parsed.data.kind) : undefined;
  if (!handle) {
    const why = parsed.success ? `unknown kind "${parsed.data.kind}"` : "no kind";
    return deadLetter(record.body, `the message has ${why}`, record.messageId);
  }
  await handle(body, record);
}

/**
 * SQS consumer: each record is handled on its own; failed records are reported in
 * `batchItemFailures` so only they are redelivered (and, after the queue's maxReceiveCount,
 * moved to the DLQ). Successful ones are deleted by the event source mapping.
 */
export async function handler(event: SQSEvent): Promise<SQSBatchResponse> {
  const response = await processPartialResponse(event, recordHandler, processor, {
    throwOnFullBatchFailure: false,
  });
  if (response.batchItemFailures.length > 0) {
    logger.warn("records failed", { failed: response.batchItemFailures.length, total: event.Records.length });
  }
  return response;
}
