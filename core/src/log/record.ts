import * as z from "zod";
import { deterministicId, isUuid } from "../ids.js";
import { describePath, storableIssue } from "../storable.js";
import { isoMicros } from "../time.js";

/**
 * One run log line: what the client sends (`LogInput`), and what is queued and stored
 * (`LogRecord`, validated, normalised, with its id). Pure functions, no I/O.
 */
export const LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] as const;
export type Level = (typeof LEVELS)[number];
const LEVEL_ALIASES: Record<string, Level> = { WARN: "WARNING", FATAL: "CRITICAL" };

/** The Prefect client's limits: 1 MB a record (longer is truncated here) and 4 MB a batch (refused). */
export const CLIENT_MAX_RECORD_BYTES = 1_000_000;
export const MAX_BATCH_BYTES = 4 * 1024 * 1024;
export const MAX_BATCH_RECORDS = 10_000;
/**
 * The most of a message one stored line holds. A queued line must fit in one SQS message (256 KB)
 * and a stored one in one DynamoDB item (400 KB), so a longer message (up to the client's 1 MB) is
 * stored as several lines (`messageParts`); beyond 1 MB it is cut with `TRUNCATION_MARKER`.
 */
export const MAX_MESSAGE_BYTES = 200_000;
export const MAX_INFO_BYTES = 32_768;
export const MAX_NAME_LENGTH = 1_000;
export const TRUNCATION_MARKER = "[truncated by Drover]";

export type LogRecord = {
  id: string;
  flow_run_id: string;
  task_run_id: string | null;
  timestamp: string;
  level: Level;
  name: string;
  message: string;
  info: unknown;
  created: string;
};

const uuid = z.string().refine(isUuid, "must be a UUID");
export const logInput = z.object({
  flow_run_id: uuid,
  task_run_id: uuid.nullish(),
  timestamp: z.string().nullish(),
  name: z.string().max(MAX_NAME_LENGTH).nullish(),
  level: z.string().nullish(),
  message: z.string().nullish(),
  info: z.unknown().optional(),
});
export type LogInput = z.input<typeof logInput>;

/** The stored record's schema: what the consumer accepts from the queue. */
export const logRecord = z.object({
  id: uuid,
  flow_run_id: uuid,
  task_run_id: uuid.nullable(),
  timestamp: z.iso.datetime(),
  level: z.enum(LEVELS),
  name: z.string(),
  message: z.string(),
  info: z.unknown(),
  created: z.iso.datetime(),
});

/**
 * A log line's timestamp as stored and compared: UTC, with microseconds (core/src/time.ts), in
 * the years 1970 to 9999 (its expiry is an epoch second).
 */
export function normalizeTimestamp(value: string): string | undefined {
  const normalized = isoMicros(value);
  return normalized !== undefined && normalized >= "1970" ? normalized : undefined;
}

export function normalizeLevel(value: string | null | undefined): Level | undefined {
  if (value === undefined || value === null || value === "") return "INFO";
  const upper = value.trim().toUpperCase();
  return (LEVELS as readonly string[]).includes(upper) ? (upper as Level) : LEVEL_ALIASES[upper];
}

/** SQS refuses U+FFFE and U+FFFF in a body; nothing a log needs. */
function sqsSafe(text: string): string {
  return text.replace(/[\uFFFE\uFFFF]/g, "\uFFFD");
}

/** Cuts `text` to at most `maxBytes` of UTF-8 (on a character boundary), with a marker saying so. */
export function truncateMessage(text: string, maxBytes = MAX_MESSAGE_BYTES): string {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes <= maxBytes) return text;
  const marker = `\n${TRUNCATION_MARKER}: the message was ${bytes} bytes; the first ${maxBytes} are kept`;
  const kept = Buffer.from(text, "utf8")
    .subarray(0, maxBytes)
    .toString("utf8")
    .replace(/\uFFFD+$/, "");
  return `${kept}${marker}`;
}

/**
 * A message as stored lines: up to the client's 1 MB a record (longer is truncated with a marker),
 * cut into parts that each fit one SQS message and one DynamoDB item, on character boundaries.
 * Each part of a long message starts with `[part i/n] `, so nothing of it is lost.
 */
export function messageParts(text: string): string[] {
  const whole = truncateMessage(text, CLIENT_MAX_RECORD_BYTES);
  if (Buffer.byteLength(whole, "utf8") <= MAX_MESSAGE_BYTES) return [whole];
  const bytes = Buffer.from(whole, "utf8");
  const chunks: string[] = [];
  const room = MAX_MESSAGE_BYTES - 32; // leaves space for the part prefix
  for (let offset = 0; offset < bytes.length; ) {
    let chunk = bytes.subarray(offset, offset + room).toString("utf8");
    // A cut inside a multi-byte character decodes to U+FFFD: leave that character to the next part.
    if (offset + room < bytes.length) chunk = chunk.replace(/\uFFFD+$/, "");
    offset += Buffer.byteLength(chunk, "utf8");
    chunks.push(chunk);
  }
  return chunks.map((chunk, i) => `[part ${i + 1}/${chunks.length}] ${chunk}`);
}

function boundedInfo(info: unknown): unknown {
  if (info === undefined || info === null) return null;
  const bytes = Buffer.byteLength(JSON.stringify(info) ?? "null", "utf8");
  if (bytes <= MAX_INFO_BYTES) return info;
  return { [TRUNCATION_MARKER]: `info was ${bytes} bytes; at most ${MAX_INFO_BYTES} are stored` };
}

export type Prepared = { records: LogRecord[]; errors: string[] };

/**
 * Validates and normalises a batch. Ids are derived from the tenant and the line's content
 * (flow run, task run, timestamp, level, name, message, info) plus its occurrence among identical
 * lines of the batch, so a client that resends a batch (or re-queues a failed batch in front of
 * newer lines) produces the same ids, hence the same keys: no duplicates. A line without a
 * timestamp gets the receive time, so only lines that carry their own timestamp (all of the flow
 * runner's do) are deduplicated across resends.
 */
export function prepare(tenantId: string, inputs: unknown[], now: string): Prepared {
  const records: LogRecord[] = [];
  const errors: string[] = [];
  const seen = new Map<string, number>();
  inputs.forEach((raw, index) => {
    const at = `logs[${index}]`;
    const parsed = logInput.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues)
        errors.push(`${at}${issue.path.map((p) => `.${String(p)}`).join("")}: ${issue.message}`);
      return;
    }
    const input = parsed.data;
    // `info` is stored as a map of the line's item: whatever DynamoDB cannot hold is refused here,
    // with the batch, rather than acknowledged and then failing in the consumer.
    const unstorable = storableIssue(input.info, { as: "native" });
    if (unstorable) {
      errors.push(`${describePath(`${at}.info`, unstorable.path)}: ${unstorable.message}`);
      return;
    }
    const level = normalizeLevel(input.level);
    if (!level) errors.push(`${at}.level: "${input.level}" is not one of ${LEVELS.join(", ")}`);
    const timestamp = input.timestamp ? normalizeTimestamp(input.timestamp) : now;
    if (!timestamp) errors.push(`${at}.timestamp: "${input.timestamp}" is not an ISO 8601 timestamp`);
    if (!level || !timestamp) return;
    const message = sqsSafe(input.message ?? "");
    const name = sqsSafe(input.name ?? "");
    const info = boundedInfo(input.info);
    const content = [
      tenantId,
      input.flow_run_id,
      input.task_run_id ?? "",
      timestamp,
      level,
      name,
      message,
      JSON.stringify(info),
    ].join("\u0000");
    const occurrence = seen.get(content) ?? 0;
    seen.set(content, occurrence + 1);
    const id = deterministicId("drover-log", content, occurrence);
    const parts = messageParts(message);
    parts.forEach((part, i) => {
      records.push({
        // Parts share the timestamp and their ids differ only in the last hex digits, which count
        // the parts: they sort (and read back) in order.
        id: parts.length === 1 ? id : `${id.slice(0, 33)}${(i + 1).toString(16).padStart(3, "0")}`,
        flow_run_id: input.flow_run_id.toLowerCase(),
        task_run_id: input.task_run_id?.toLowerCase() ?? null,
        timestamp,
        level,
        name,
        message: part,
        info: i === 0 ? info : null,
        created: now,
      });
    });
  });
  return { records, errors };
}
