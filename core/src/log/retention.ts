import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { useTenantId } from "../actor.js";
import { boundedCache, stringBytes } from "../cache.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { ValidationError } from "../errors.js";
import { LogKeys } from "./keys.js";

/** How long a workspace keeps run logs unless it says otherwise. */
export const DEFAULT_RETENTION_DAYS = 30;
const CACHE_MS = 60_000;
/** One entry per workspace that wrote logs in the last minute (tenant id → days). */
const cache = boundedCache<string, number>({
  name: "log.retention",
  maxEntries: 10_000,
  maxBytes: 2 * 2 ** 20,
  ttlMs: CACHE_MS,
  sizeOf: (_days, tenantId) => stringBytes(tenantId) + 64,
});

/** The current workspace's log retention in days (read at most once a minute per process). */
export async function retentionDays(): Promise<number> {
  const t = useTenantId();
  const cached = cache.get(t);
  if (cached !== undefined) return cached;
  const result = await useDynamo().send(new GetCommand({ TableName: mainTable(), Key: LogKeys.settings(t) }));
  const stored = result.Item?.retention_days;
  const days = typeof stored === "number" && stored > 0 ? stored : DEFAULT_RETENTION_DAYS;
  cache.set(t, days);
  return days;
}

/** Sets the current workspace's log retention (1 to 3650 days); applies to lines stored from now on. */
export async function setRetentionDays(days: number): Promise<void> {
  if (!Number.isInteger(days) || days < 1 || days > 3650)
    throw new ValidationError("log retention must be a whole number of days from 1 to 3650");
  const t = useTenantId();
  await useDynamo().send(
    new PutCommand({ TableName: mainTable(), Item: { ...LogKeys.settings(t), retention_days: days } }),
  );
  cache.delete(t);
}

/** The TTL (epoch seconds) of a line stored at `created`. */
export function expiresAt(created: string, days: number): number {
  return Math.floor(Date.parse(created) / 1000) + days * 86_400;
}
