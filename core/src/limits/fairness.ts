import { LRUCache } from "lru-cache";
import pLimit, { type LimitFunction } from "p-limit";
import { useActor } from "../actor.js";
import { useConfig } from "../config.js";
import { perConfig, RateLimitedError } from "./index.js";

/**
 * Fair shares of one process between workspaces. Rate limits bound what a workspace spends per
 * second; these bound what it holds at once, so a flood from one workspace waits in its own line
 * instead of in front of everyone else's requests:
 * - requests: at most `concurrentRequests` of a workspace run at once in this process; the next
 *   ones wait in the workspace's own queue (first come, first served), and beyond
 *   `queuedRequests` waiting they are refused with RATE_LIMITED;
 * - storage: at most `storageConcurrency` DynamoDB calls of a workspace are in flight at once
 *   (a GraphQL request resolves lists in parallel; DynamoDB Local serves one call at a time, so
 *   without this bound one request's fan-out queues every other workspace's calls behind it).
 * On AWS a Lambda container serves one request at a time: the request bound is then moot and the
 * storage bound caps one request's fan-out. Locally they keep workspaces apart in the one process.
 */

/** Workspaces tracked at once; an idle workspace's limiter is empty, so forgetting it is exact. */
const MAX_TRACKED_WORKSPACES = 10_000;
const RETRY_AFTER_SECONDS = 1;

type Limiters = { requests: LRUCache<string, LimitFunction>; storage: LRUCache<string, LimitFunction> };
const limiters = perConfig<Limiters>(() => ({
  requests: new LRUCache({ max: MAX_TRACKED_WORKSPACES }),
  storage: new LRUCache({ max: MAX_TRACKED_WORKSPACES }),
}));

function limiterOf(cache: LRUCache<string, LimitFunction>, tenantId: string, concurrency: number) {
  let limiter = cache.get(tenantId);
  if (!limiter) {
    limiter = pLimit(concurrency);
    cache.set(tenantId, limiter);
  }
  return limiter;
}

/**
 * Runs one API request of `tenantId` in the workspace's share of this process: at once when fewer
 * than `concurrentRequests` of its requests run, else after them in its own queue; RATE_LIMITED
 * when that queue is full.
 */
export function inWorkspaceShare<T>(tenantId: string, run: () => Promise<T>): Promise<T> {
  const config = useConfig();
  const { concurrentRequests, queuedRequests } = config.limits;
  if (concurrentRequests <= 0) return run();
  const limiter = limiterOf(limiters(config).requests, tenantId, concurrentRequests);
  if (limiter.activeCount >= concurrentRequests && limiter.pendingCount >= queuedRequests) {
    return Promise.reject(
      new RateLimitedError(
        `RATE_LIMITED: this workspace has ${concurrentRequests} requests running and ${queuedRequests} waiting in this process; retry after ${RETRY_AFTER_SECONDS} s`,
        RETRY_AFTER_SECONDS,
      ),
    );
  }
  return limiter(run);
}

/** Runs one storage call in the current workspace's share of storage concurrency (none outside a workspace). */
export function inStorageShare<T>(run: () => Promise<T>): Promise<T> {
  const actor = useActor();
  const config = useConfig();
  const concurrency = config.limits.storageConcurrency;
  if (actor.type !== "tenant" || concurrency <= 0) return run();
  return limiterOf(limiters(config).storage, actor.tenantId, concurrency)(run);
}
