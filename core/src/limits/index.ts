import { AsyncLocalStorage } from "node:async_hooks";
import { LRUCache } from "lru-cache";
import { type Config, useConfig } from "../config.js";
import { DroverError } from "../errors.js";
import { TokenBucket } from "./bucket.js";

export { TokenBucket } from "./bucket.js";

/**
 * Per-workspace limits, so no tenant can stall another: requests per second and log lines per
 * second (token buckets kept in this process: one Lambda container on AWS, the whole API locally),
 * and a budget of storage reads per request for the read engine. Query shape limits (depth,
 * aliases, tokens, directives, cost) are enforced by the API's GraphQL plugins, from `Limits` too.
 */

/**
 * Refused for now: the caller should wait `retryAfterSeconds` (sent as HTTP 429 + Retry-After).
 * `workspaceWaitMs` is set when every request of the workspace would be refused for exactly that
 * long (its request or read bucket is empty): the edge may then refuse them without reading them.
 */
export class RateLimitedError extends DroverError {
  readonly retryAfterSeconds: number;
  readonly workspaceWaitMs: number | undefined;
  constructor(message: string, retryAfterSeconds: number, workspaceWaitMs?: number) {
    super("RATE_LIMITED", message);
    this.retryAfterSeconds = retryAfterSeconds;
    this.workspaceWaitMs = workspaceWaitMs;
  }
}

/** A request that would cost more than a limit allows, whatever the timing: change the request. */
export class QueryTooComplexError extends DroverError {
  constructor(message: string) {
    super("QUERY_TOO_COMPLEX", message);
  }
}

/** Workspaces whose buckets are kept at once: an idle tenant's bucket is full, so forgetting it is exact. */
const MAX_TRACKED_WORKSPACES = 10_000;

type Buckets = {
  requests: LRUCache<string, TokenBucket>;
  logLines: LRUCache<string, TokenBucket>;
  reads: LRUCache<string, TokenBucket>;
};
/** State kept per configuration (tests reconfigure; each configuration starts afresh). */
export function perConfig<T>(make: () => T): (config: Config) => T {
  const byConfig = new WeakMap<Config, T>();
  return (config) => {
    let found = byConfig.get(config);
    if (found === undefined) {
      found = make();
      byConfig.set(config, found);
    }
    return found;
  };
}

const buckets = perConfig<Buckets>(() => ({
  requests: new LRUCache({ max: MAX_TRACKED_WORKSPACES }),
  logLines: new LRUCache({ max: MAX_TRACKED_WORKSPACES }),
  reads: new LRUCache({ max: MAX_TRACKED_WORKSPACES }),
}));

function bucketOf(
  cache: LRUCache<string, TokenBucket>,
  tenantId: string,
  rate: number,
  capacity: number,
  now: number,
): TokenBucket {
  let bucket = cache.get(tenantId);
  if (!bucket) {
    bucket = new TokenBucket(rate, capacity, now);
    cache.set(tenantId, bucket);
  }
  return bucket;
}

function take(
  cache: LRUCache<string, TokenBucket>,
  tenantId: string,
  rate: number,
  capacity: number,
  n: number,
  now: number,
): number {
  return bucketOf(cache, tenantId, rate, capacity, now).take(n, now);
}

function retryAfter(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

/**
 * Admits one API request of `tenantId` or throws RATE_LIMITED. Called at the edge, after the key
 * is resolved and before the request is parsed, so a refused request costs next to nothing.
 */
export function admitRequest(tenantId: string, now = Date.now()): void {
  const config = useConfig();
  const { requestsPerSecond: rate, requestBurst: burst } = config.limits;
  if (rate <= 0) return;
  const wait = take(buckets(config).requests, tenantId, rate, burst, 1, now);
  if (wait > 0) {
    throw new RateLimitedError(
      `RATE_LIMITED: this workspace sent more than ${rate} requests per second (burst ${burst}); retry after ${retryAfter(wait)} s`,
      retryAfter(wait),
      wait,
    );
  }
  const { readUnitsPerSecond: readRate, readUnitsBurst: readBurst } = config.limits;
  if (readRate <= 0) return;
  const owed = take(buckets(config).reads, tenantId, readRate, readBurst, 0, now);
  if (owed > 0) {
    throw new RateLimitedError(
      `RATE_LIMITED: this workspace's queries read more than ${readRate} units per second (rows, and 10 per storage call; burst ${readBurst}); retry after ${retryAfter(owed)} s`,
      retryAfter(owed),
      owed,
    );
  }
}

/**
 * Charges what a finished request of `tenantId` read (its read budget's units) to the workspace's
 * read bucket: the cost is known only afterwards, so the bucket may go into debt, and the
 * workspace's next requests are refused until it is paid back (`admitRequest`).
 */
export function settleReads(tenantId: string, units: number, now = Date.now()): void {
  const config = useConfig();
  const { readUnitsPerSecond: rate, readUnitsBurst: burst } = config.limits;
  if (rate <= 0 || units <= 0) return;
  bucketOf(buckets(config).reads, tenantId, rate, burst, now).spend(units, now);
}

/**
 * Admits `lines` log lines of `tenantId` (`write_run_logs`) as a whole, or throws RATE_LIMITED.
 * With `peek`, only checks that the budget could cover them now and spends nothing: the API asks
 * so before coercing a batch's variables, so a refused batch costs next to nothing, and the
 * resolver then takes the lines (a batch that raced others for the last tokens is refused there).
 */
export function admitLogLines(
  tenantId: string,
  lines: number,
  options: { peek?: boolean; now?: number } = {},
): void {
  const config = useConfig();
  const now = options.now ?? Date.now();
  const { logLinesPerSecond: rate, logLinesBurst: burst } = config.limits;
  if (rate <= 0 || lines <= 0) return;
  const bucket = bucketOf(buckets(config).logLines, tenantId, rate, burst, now);
  const wait = options.peek ? bucket.waitFor(lines, now) : bucket.take(lines, now);
  if (wait > 0) {
    noteRateLimited(retryAfter(wait));
    throw new RateLimitedError(
      `RATE_LIMITED: this workspace sent more than ${rate} log lines per second (burst ${burst}); nothing of this batch was stored: retry it after ${retryAfter(wait)} s`,
      retryAfter(wait),
    );
  }
}

/** What one API request has spent, and whether a limit refused part of it. */
type RequestState = { reads: number; maxReads: number; retryAfterSeconds: number | undefined };
const requestState = new AsyncLocalStorage<RequestState>();

/** Runs one API request with its own read budget (`maxReadsPerRequest`) and rate-limit record. */
export function withRequestLimits<T>(fn: () => T): { result: T; state: Readonly<RequestState> } {
  const state: RequestState = {
    reads: 0,
    maxReads: useConfig().limits.maxReadsPerRequest,
    retryAfterSeconds: undefined,
  };
  return { result: requestState.run(state, fn), state };
}

function noteRateLimited(seconds: number): void {
  const state = requestState.getStore();
  if (state) state.retryAfterSeconds = Math.max(state.retryAfterSeconds ?? 0, seconds);
}

/**
 * Charges `units` (rows read, storage calls) to the current request's read budget, or throws
 * QUERY_TOO_COMPLEX. Outside an API request (scheduler, CLI, consumers) nothing is counted.
 */
export function chargeReads(units: number): void {
  const state = requestState.getStore();
  if (!state) return;
  state.reads += units;
  if (state.reads > state.maxReads) {
    throw new QueryTooComplexError(
      `QUERY_TOO_COMPLEX: this request reads more than ${state.maxReads} items (rows and storage calls; nested lists multiply): filter its lists, or page them with limit and offset`,
    );
  }
}
