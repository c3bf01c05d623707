import { useTenantId } from "../actor.js";
import { DroverError, ValidationError } from "../errors.js";
import { nowIso } from "../ids.js";
import { packMessages } from "./message.js";
import { enqueue } from "./queue.js";
import { MAX_BATCH_BYTES, MAX_BATCH_RECORDS, prepare } from "./record.js";
import { checkRuns } from "./runs.js";

export { DEAD_LETTER_ERROR, DEAD_LETTER_SOURCE, deadLetter } from "./dead-letter.js";
export { type LogMessage, logMessage } from "./message.js";
export { LOG_ORDERS, lineCountOf, linesOf, ofFlowRun, ofTaskRun, timeWindow } from "./read.js";
export { LEVELS, type LogInput, type LogRecord, logRecord } from "./record.js";
export { DEFAULT_RETENTION_DAYS, retentionDays, setRetentionDays } from "./retention.js";
export { chunkItems, type Rejected, store, storeEach } from "./store.js";

const MAX_REPORTED_ERRORS = 10;

/**
 * `write_run_logs`: validates the batch, checks its runs, assigns ids and queues it for the
 * ingestion consumer. Returns once SQS accepted every line; nothing is written to the database
 * here. Throws BAD_USER_INPUT / NOT_FOUND / PAYLOAD_TOO_LARGE for a batch that can never succeed
 * and API_ERROR (retryable) when the queue did not take it all.
 */
export async function write(logs: unknown[]): Promise<{ count: number }> {
  if (!Array.isArray(logs)) throw new ValidationError("logs must be a list");
  if (logs.length === 0) return { count: 0 };
  if (logs.length > MAX_BATCH_RECORDS)
    throw new ValidationError(`A batch holds at most ${MAX_BATCH_RECORDS} log lines; got ${logs.length}`);
  const bytes = Buffer.byteLength(JSON.stringify(logs), "utf8");
  if (bytes > MAX_BATCH_BYTES) {
    throw new DroverError(
      "PAYLOAD_TOO_LARGE",
      `The log batch is ${bytes} bytes; the limit is ${MAX_BATCH_BYTES} bytes (4 MB): send it in smaller batches`,
    );
  }
  const t = useTenantId();
  const { records, errors } = prepare(t, logs, nowIso());
  if (errors.length > 0) {
    const more =
      errors.length > MAX_REPORTED_ERRORS ? ` (and ${errors.length - MAX_REPORTED_ERRORS} more)` : "";
    throw new ValidationError(`Invalid logs: ${errors.slice(0, MAX_REPORTED_ERRORS).join("; ")}${more}`);
  }
  await checkRuns(records);
  await enqueue(packMessages(t, records));
  return { count: records.length };
}
