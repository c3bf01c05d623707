import { key } from "../dynamo/keys.js";

/**
 * Run log items, in the logs table: one partition per flow run, ordered by time.
 * - log chunk:     pk `<t>#flow-run#<flowRunId>#logs`   sk `<bucket>#<digest of its line ids>`
 *   The lines one consumer call stored for that run in one ten-second bucket (`bucketOf`), sorted
 *   by timestamp then id, as one JSON string (`lines_json`), with `line_count` and the set
 *   `task_run_ids`. A bucket may hold several chunks (lines of several calls); a reader merges a
 *   bucket's chunks before yielding its lines.
 * - log line:      pk the same                          sk `<timestamp ISO, UTC>#<id>`
 *   One line an item: what versions before chunks wrote. Still read (merged into its bucket), never
 *   written.
 * A time window is a key range over buckets (`sk BETWEEN`); the exact comparison is applied to each
 * line afterwards.
 * Per-workspace log settings live in the main table:
 * - log settings:  pk `<t>#log-settings`   sk `log-settings`
 */
export const LogKeys = {
  partition: (t: string, flowRunId: string) => key(t, "flow-run", flowRunId, "logs"),
  chunk: (t: string, flowRunId: string, bucket: string, digest: string) => ({
    pk: LogKeys.partition(t, flowRunId),
    sk: key(bucket, digest),
  }),
  /**
   * The ten-second bucket a timestamp (ISO, UTC, 4-digit year) falls in, written as its start:
   * `2026-12-07T20:41:37.123456Z` → `2026-12-07T20:41:30.000000Z`. Item sort keys begin with a
   * bucket (chunks) or a timestamp (lines), so this of any item's sort key is its bucket.
   */
  bucketOf: (timestamp: string) => `${timestamp.slice(0, 18)}0.000000Z`,
  /** The lowest sort key of a window starting at `timestamp`: the start of its bucket. */
  from: (timestamp: string) => LogKeys.bucketOf(timestamp),
  /** A sort key above every item of `timestamp`'s bucket or before (`$` sorts right after `#`). */
  through: (timestamp: string) => `${timestamp}$`,
  settings: (t: string) => ({ pk: key(t, "log-settings"), sk: "log-settings" }),
};
