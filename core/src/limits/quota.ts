import { randomInt } from "node:crypto";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { LRUCache } from "lru-cache";
import { type Config, useConfig } from "../config.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { key } from "../dynamo/keys.js";
import { batchGet } from "../dynamo/operations.js";
import { LimitExceededError } from "../errors.js";

/**
 * The quota on flow runs a workspace stores (`DROVER_MAX_STORED_RUNS`, docs/tenant-limits.md).
 *
 * Counted in `STORED_RUN_SHARDS` items per workspace (pk `<t>#quota`, sk `runs#<n>`, attribute
 * `runs`): a run really created adds 1 to a random shard, a run really deleted adds -1 to one;
 * the workspace's count is the sum. A creation first reads the shards (one BatchGetItem) through
 * a per-process cache of `USAGE_CACHE_MS`, and reserves its run in that cached count, so one
 * process never lets more runs in than the quota; processes that read the count at the same time
 * may together overshoot by the runs they create within the cache time. A crash between a run's
 * write and its counter update leaves the run uncounted. So this is a soft quota, and the writes
 * of a run and of the states it goes through stay as they were: one UpdateItem is added per run
 * created or deleted, none per transition.
 */

/** Counter items per workspace: a busy workspace's creations spread their ADDs over them. */
export const STORED_RUN_SHARDS = 8;

/** How long a process trusts a workspace's count read from storage. */
export const USAGE_CACHE_MS = 1000;

/** Workspaces whose counts a process keeps at once (an evicted one is read again). */
const MAX_CACHED_WORKSPACES = 10_000;

export const StoredRunKeys = {
  shard: (t: string, n: number) => ({ pk: key(t, "quota"), sk: key("runs", n) }),
};

/** Refused: the workspace stores as many runs as its quota allows. Not retryable as such. */
export class RunQuotaExceededError extends LimitExceededError {
  constructor(
    readonly stored: number,
    readonly quota: number,
  ) {
    super(
      `LIMIT_EXCEEDED: this workspace stores ${stored} flow runs and its quota is ${quota} (DROVER_MAX_STORED_RUNS); delete runs (delete_flow_run) before creating more.`,
    );
  }
}

/** A workspace's count as this process knows it: storage's sum plus what the process did since. */
type Usage = { stored: number };

const usageByConfig = new WeakMap<Config, LRUCache<string, Usage>>();

function cacheOf(config: Config): LRUCache<string, Usage> {
  let cache = usageByConfig.get(config);
  if (!cache) {
    cache = new LRUCache({ max: MAX_CACHED_WORKSPACES, ttl: USAGE_CACHE_MS });
    usageByConfig.set(config, cache);
  }
  return cache;
}

/** Reads of a count in flight, so concurrent creations of one workspace share one BatchGetItem. */
const loading = new Map<string, Promise<Usage>>();

/** The number of flow runs `tenantId` stores, summed over its shards (one strongly consistent BatchGetItem). */
export async function storedRuns(tenantId: string): Promise<number> {
  const keys = Array.from({ length: STORED_RUN_SHARDS }, (_, n) => StoredRunKeys.shard(tenantId, n));
  const items = await batchGet(keys, { consistent: true });
  return items.reduce((sum, item) => sum + (typeof item.runs === "number" ? item.runs : 0), 0);
}

async function usageOf(config: Config, tenantId: string): Promise<Usage> {
  const cache = cacheOf(config);
  const cached = cache.get(tenantId);
  if (cached) return cached;
  const flight = `${mainTable()}\u0000${tenantId}`;
  let pending = loading.get(flight);
  if (!pending) {
    pending = storedRuns(tenantId)
      .then((stored) => {
        const usage = { stored };
        cache.set(tenantId, usage);
        return usage;
      })
      .finally(() => loading.delete(flight));
    loading.set(flight, pending);
  }
  return pending;
}

async function addToShard(tenantId: string, n: 1 | -1): Promise<void> {
  await useDynamo().send(
    new UpdateCommand({
      TableName: mainTable(),
      Key: StoredRunKeys.shard(tenantId, randomInt(STORED_RUN_SHARDS)),
      UpdateExpression: "SET entity = :entity ADD runs :n",
      ExpressionAttributeValues: { ":entity": "quota", ":n": n },
    }),
  );
}

/** A place for one run, taken before it is written and settled once it is known whether it was created. */
export type RunReservation = {
  /** Counts the run if it was created, else gives the place back. */
  settle(created: boolean): Promise<void>;
};

/**
 * Reserves room for one new run of `tenantId`, or throws `RunQuotaExceededError`
 * (LIMIT_EXCEEDED) when the workspace stores as many runs as the quota allows. With the quota
 * off (0), nothing is read, but created runs are still counted, so turning it on later is exact.
 */
export async function reserveRun(tenantId: string): Promise<RunReservation> {
  const config = useConfig();
  const quota = config.limits.maxStoredRuns;
  let usage: Usage | undefined;
  if (quota > 0) {
    usage = await usageOf(config, tenantId);
    if (usage.stored >= quota) throw new RunQuotaExceededError(usage.stored, quota);
    usage.stored++;
  }
  let settled = false;
  return {
    async settle(created) {
      if (settled) return;
      settled = true;
      if (!created) {
        if (usage) usage.stored--;
        return;
      }
      // The run exists: a failed counter update must not fail its creation (a client retrying a
      // create_flow_run without idempotency key would create it twice). It stays uncounted.
      await addToShard(tenantId, 1).catch((error) => warn("stored-run count not updated", tenantId, error));
    },
  };
}

/** Counts one run of `tenantId` as deleted (called once the run item was really deleted). */
export async function releaseRun(tenantId: string): Promise<void> {
  const cached = cacheOf(useConfig()).get(tenantId);
  if (cached) cached.stored--;
  // The run is gone; a failed update leaves it counted (the safe side of a quota).
  await addToShard(tenantId, -1).catch((error) => warn("stored-run count not updated", tenantId, error));
}

/** One structured warning line (CloudWatch on AWS, the terminal locally). */
export function warn(message: string, tenantId: string, detail?: unknown): void {
  console.warn(
    JSON.stringify({
      level: "WARN",
      message,
      tenant: tenantId,
      ...(detail instanceof Error ? { error: `${detail.name}: ${detail.message}` } : { detail }),
    }),
  );
}
