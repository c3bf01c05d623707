import { key } from "../dynamo/keys.js";

/**
 * Run log items, in the logs table: one partition per flow run, ordered by time.
 * - log line:      pk `<t>#flow-run#<flowRunId>#logs`   sk `<timestamp ISO, ms, UTC>#<id>`
 *   A time window is a key range (`sk BETWEEN`), and equal timestamps are ordered by id.
 * Per-workspace log settings live in the main table:
 * - log settings:  pk `<t>#log-settings`   sk `log-settings`
 */
export const LogKeys = {
  partition: (t: string, flowRunId: string) => key(t, "flow-run", flowRunId, "logs"),
  item: (t: string, flowRunId: string, timestamp: string, id: string) => ({
    pk: LogKeys.partition(t, flowRunId),
    sk: key(timestamp, id),
  }),
  /** The lowest sort key of a timestamp (every line at `timestamp` sorts after it). */
  from: (timestamp: string) => timestamp,
  /** A sort key above every line at `timestamp` (`$` sorts right after the `#` separator). */
  through: (timestamp: string) => `${timestamp}$`,
  settings: (t: string) => ({ pk: key(t, "log-settings"), sk: "log-settings" }),
};
