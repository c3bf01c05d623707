import * as z from "zod";
import { isUuid } from "../ids.js";
import { type LogRecord, logRecord, truncateMessage } from "./record.js";

/**
 * The ingestion queue's `log` message: a tenant and the lines of one `write_run_logs` call, packed
 * so each body stays under SQS's 256 KB message limit (the same bound SendMessageBatch puts on the
 * sum of one call's entries).
 */
export const SQS_MAX_BYTES = 256 * 1024;
/** Headroom under the limit for the envelope. */
export const MESSAGE_BUDGET_BYTES = SQS_MAX_BYTES - 4096;
const RECORD_BUDGET_BYTES = MESSAGE_BUDGET_BYTES - 512;

export const logMessage = z.object({
  kind: z.literal("log"),
  tenant_id: z.string().refine(isUuid, "must be a UUID"),
  logs: z.array(logRecord).min(1),
});
export type LogMessage = z.infer<typeof logMessage>;

/** The record as JSON, its message cut further if escaping made it outgrow one SQS message. */
function serialize(record: LogRecord): string {
  let json = JSON.stringify(record);
  let bytes = Buffer.byteLength(json, "utf8");
  while (bytes > RECORD_BUDGET_BYTES) {
    const messageBytes = Buffer.byteLength(record.message, "utf8");
    const target = Math.floor((messageBytes * RECORD_BUDGET_BYTES * 0.9) / bytes);
    record = { ...record, message: truncateMessage(record.message, Math.max(0, target)) };
    json = JSON.stringify(record);
    bytes = Buffer.byteLength(json, "utf8");
  }
  return json;
}

/** Message bodies holding `records` in order, each at most `MESSAGE_BUDGET_BYTES`. */
export function packMessages(tenantId: string, records: LogRecord[]): string[] {
  const head = `{"kind":"log","tenant_id":${JSON.stringify(tenantId)},"logs":[`;
  const tail = "]}";
  const overhead = Buffer.byteLength(head) + Buffer.byteLength(tail);
  const bodies: string[] = [];
  let parts: string[] = [];
  let size = overhead;
  for (const record of records) {
    const json = serialize(record);
    const bytes = Buffer.byteLength(json, "utf8") + 1;
    if (parts.length > 0 && size + bytes > MESSAGE_BUDGET_BYTES) {
      bodies.push(head + parts.join(",") + tail);
      parts = [];
      size = overhead;
    }
    parts.push(json);
    size += bytes;
  }
  if (parts.length > 0) bodies.push(head + parts.join(",") + tail);
  return bodies;
}

/** Groups bodies into SendMessageBatch calls: at most 10 entries and 256 KB in all per call. */
export function sendBatches(bodies: string[]): string[][] {
  const batches: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const body of bodies) {
    const bytes = Buffer.byteLength(body, "utf8");
    if (current.length > 0 && (current.length === 10 || size + bytes > SQS_MAX_BYTES)) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(body);
    size += bytes;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}
