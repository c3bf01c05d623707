import { setTimeout as sleep } from "node:timers/promises";
import {
  ConditionalCheckFailedException,
  TransactionCanceledException,
  TransactionConflictException,
} from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { actingKeyId, useTenantId } from "../actor.js";
import { useConfig } from "../config.js";
import { useDynamo } from "../dynamo/client.js";
import { LimitExceededError, NotFoundError, RetryableError } from "../errors.js";
import { isUuid, newId, nowIso } from "../ids.js";
import { type BoolExp, matches, type OrderBy, paginate, pinnedValues, sortItems } from "../query/where.js";
import { couldBeKey } from "../storable.js";
import { KvKeys } from "./keys.js";
import {
  DEFAULT_MAX_PAIRS,
  KvVersionConflictError,
  serializeValue,
  validateExpectedVersion,
  validateKey,
  validateMaxPairs,
} from "./rules.js";

export * from "./rules.js";

/** One key-value pair of the current workspace. `*_by` is the API key id that made the change. */
export type KeyValue = {
  id: string;
  tenant_id: string;
  key: string;
  value: unknown;
  version: number;
  created: string;
  created_by: string | null;
  updated: string;
  updated_by: string | null;
};

// Creating a pair is a transaction on the workspace's counter item: concurrent creators conflict
// and retry with jittered backoff; this many attempts outlast 32 concurrent creators.
const MAX_ATTEMPTS = 12;

function table(): string {
  return useConfig().tables.kv;
}

function toKeyValue(item: Record<string, unknown>): KeyValue {
  return {
    id: item.id as string,
    tenant_id: item.tenant_id as string,
    key: item.key as string,
    value: JSON.parse(item.value_json as string) as unknown,
    version: item.version as number,
    created: item.created as string,
    created_by: (item.created_by as string | null | undefined) ?? null,
    updated: item.updated as string,
    updated_by: (item.updated_by as string | null | undefined) ?? null,
  };
}

export type SetInput = { key: string; value: unknown; expectedVersion?: number | null };

/**
 * Sets a key's value: last write wins, and every write adds 1 to the pair's version (a new pair
 * starts at 1). With `expectedVersion` the write is a compare-and-set: it succeeds only if the
 * stored version is that number (0: only if the key does not exist yet), else it fails with
 * `VERSION_LOCKING_ERROR`. A new key counts against the workspace's cap (`LIMIT_EXCEEDED`).
 */
export async function set(input: SetInput): Promise<{ pair: KeyValue; created: boolean }> {
  const key = validateKey(input.key);
  const valueJson = serializeValue(input.value);
  const expected = validateExpectedVersion(input.expectedVersion);
  const tenantId = useTenantId();
  const by = actingKeyId();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    if (expected !== 0) {
      const updated = await overwrite(tenantId, key, valueJson, by, expected);
      if (updated) return { pair: updated, created: false };
      if (expected !== undefined) throw await versionConflict(key, expected);
    }
    const outcome = await create(tenantId, key, valueJson, by);
    if (outcome.kind === "created") return { pair: outcome.pair, created: true };
    if (outcome.kind === "exists") {
      if (expected === 0) throw await versionConflict(key, expected);
      continue; // another writer created it first: overwrite theirs
    }
    await backoff(attempt);
  }
  throw new RetryableError(
    `Too many concurrent changes to the key-value store; retry the write of "${key}".`,
  );
}

/** The single conditional write of the hot path; undefined when the pair does not exist (or the version differs). */
async function overwrite(
  tenantId: string,
  key: string,
  valueJson: string,
  by: string | null,
  expected: number | undefined,
): Promise<KeyValue | undefined> {
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: table(),
        Key: KvKeys.pair(tenantId, key),
        UpdateExpression:
          "SET value_json = :value, version = version + :one, updated = :now, updated_by = :by",
        ConditionExpression:
          expected === undefined ? "attribute_exists(pk)" : "attribute_exists(pk) AND version = :expected",
        ExpressionAttributeValues: {
          ":value": valueJson,
          ":one": 1,
          ":now": nowIso(),
          ":by": by,
          ...(expected === undefined ? {} : { ":expected": expected }),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    return toKeyValue(result.Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

type CreateOutcome = { kind: "created"; pair: KeyValue } | { kind: "exists" } | { kind: "busy" };

async function create(
  tenantId: string,
  key: string,
  valueJson: string,
  by: string | null,
): Promise<CreateOutcome> {
  const now = nowIso();
  const id = newId();
  const pair = {
    id,
    tenant_id: tenantId,
    key,
    value_json: valueJson,
    version: 1,
    created: now,
    created_by: by,
    updated: now,
    updated_by: by,
  };
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName: table(),
              Item: { ...KvKeys.pair(tenantId, key), entity: "kv", ...pair },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          {
            Put: {
              TableName: table(),
              Item: {
                ...KvKeys.listing(tenantId, key),
                entity: "kv-listing",
                id,
                tenant_id: tenantId,
                key,
                created: now,
                created_by: by,
              },
            },
          },
          {
            Put: {
              TableName: table(),
              Item: { ...KvKeys.idLookup(tenantId, id), entity: "kv-id", key },
              ConditionExpression: "attribute_not_exists(pk)",
            },
          },
          {
            Update: {
              TableName: table(),
              Key: KvKeys.meta(tenantId),
              UpdateExpression: "SET pair_count = if_not_exists(pair_count, :zero) + :one, updated = :now",
              // Below the workspace's cap, or the default cap when none is set.
              ConditionExpression:
                "(attribute_not_exists(max_pairs) AND (attribute_not_exists(pair_count) OR pair_count < :default)) OR " +
                "(attribute_exists(max_pairs) AND ((attribute_not_exists(pair_count) AND max_pairs > :zero) OR pair_count < max_pairs))",
              ExpressionAttributeValues: {
                ":zero": 0,
                ":one": 1,
                ":now": now,
                ":default": DEFAULT_MAX_PAIRS,
              },
            },
          },
        ],
      }),
    );
    return { kind: "created", pair: toKeyValue(pair) };
  } catch (error) {
    if (error instanceof TransactionCanceledException) {
      const reasons = error.CancellationReasons ?? [];
      if (reasons[0]?.Code === "ConditionalCheckFailed") return { kind: "exists" };
      if (reasons[3]?.Code === "ConditionalCheckFailed") {
        const usage = await settings();
        throw new LimitExceededError(
          `LIMIT_EXCEEDED: this workspace has ${usage.pair_count} key-value pairs, its limit is ${usage.max_pairs}; delete keys or raise the limit before adding "${key}".`,
        );
      }
      return { kind: "busy" };
    }
    if (error instanceof TransactionConflictException) return { kind: "busy" };
    throw error;
  }
}

async function versionConflict(key: string, expected: number): Promise<KvVersionConflictError> {
  const current = await get(key);
  if (!current) {
    return new KvVersionConflictError(
      `Key "${key}" does not exist, so it is not at the expected version ${expected}.`,
    );
  }
  if (expected === 0) {
    return new KvVersionConflictError(
      `Key "${key}" already exists (version ${current.version}); expected_version 0 requires that it does not.`,
    );
  }
  return new KvVersionConflictError(
    `Key "${key}" is at version ${current.version}, not the expected version ${expected}.`,
  );
}

async function backoff(attempt: number): Promise<void> {
  await sleep(Math.random() * Math.min(200, 5 * 2 ** attempt));
}

/** The pair of a key, read consistently (a get after a set sees it). */
export async function get(key: string): Promise<KeyValue | undefined> {
  const valid = validateKey(key);
  const result = await useDynamo().send(
    new GetCommand({ TableName: table(), Key: KvKeys.pair(useTenantId(), valid), ConsistentRead: true }),
  );
  return result.Item ? toKeyValue(result.Item) : undefined;
}

export async function fromId(id: string): Promise<KeyValue | undefined> {
  if (!isUuid(id)) return undefined;
  const tenantId = useTenantId();
  const lookup = await useDynamo().send(
    new GetCommand({
      TableName: table(),
      Key: KvKeys.idLookup(tenantId, id.toLowerCase()),
      ConsistentRead: true,
    }),
  );
  const key = lookup.Item?.key;
  if (typeof key !== "string") return undefined;
  const pair = await get(key);
  return pair?.id === id.toLowerCase() ? pair : undefined;
}

async function fromKeys(keys: string[]): Promise<KeyValue[]> {
  const tenantId = useTenantId();
  const unique = [...new Set(keys)];
  const found: KeyValue[] = [];
  for (let i = 0; i < unique.length; i += 100) {
    let pending: Record<string, unknown>[] | undefined = unique
      .slice(i, i + 100)
      .map((key) => KvKeys.pair(tenantId, key));
    while (pending && pending.length > 0) {
      const result: BatchGetCommandOutput = await useDynamo().send(
        new BatchGetCommand({ RequestItems: { [table()]: { Keys: pending, ConsistentRead: true } } }),
      );
      found.push(...(result.Responses?.[table()] ?? []).map(toKeyValue));
      pending = result.UnprocessedKeys?.[table()]?.Keys;
    }
  }
  return found;
}

/** Deletes a key's pair; NOT_FOUND when there is none. */
export async function remove(key: string): Promise<KeyValue> {
  const pair = await get(key);
  if (!pair) throw new NotFoundError(`Key "${key}" not found.`);
  await removePair(pair);
  return pair;
}

/** Deletes a pair by id (`delete_key_value`); NOT_FOUND when the workspace has no pair with it. */
export async function removeById(id: string): Promise<KeyValue> {
  const pair = await fromId(id);
  if (!pair)
    throw new NotFoundError(`Key value not found: no key-value pair with id ${id} in this workspace.`);
  await removePair(pair);
  return pair;
}

async function removePair(pair: KeyValue): Promise<void> {
  const tenantId = useTenantId();
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    try {
      await useDynamo().send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Delete: {
                TableName: table(),
                Key: KvKeys.pair(tenantId, pair.key),
                ConditionExpression: "attribute_exists(pk) AND id = :id",
                ExpressionAttributeValues: { ":id": pair.id },
              },
            },
            { Delete: { TableName: table(), Key: KvKeys.listing(tenantId, pair.key) } },
            { Delete: { TableName: table(), Key: KvKeys.idLookup(tenantId, pair.id) } },
            {
              Update: {
                TableName: table(),
                Key: KvKeys.meta(tenantId),
                UpdateExpression: "ADD pair_count :minus SET updated = :now",
                ExpressionAttributeValues: { ":minus": -1, ":now": nowIso() },
              },
            },
          ],
        }),
      );
      return;
    } catch (error) {
      const cancelled = error instanceof TransactionCanceledException;
      if (cancelled && error.CancellationReasons?.[0]?.Code === "ConditionalCheckFailed") {
        throw new NotFoundError(`Key "${pair.key}" not found (it was deleted concurrently).`);
      }
      if (!cancelled && !(error instanceof TransactionConflictException)) throw error;
      await backoff(attempt);
    }
  }
  throw new RetryableError(
    `Too many concurrent changes to the key-value store; retry deleting "${pair.key}".`,
  );
}

export type Usage = { max_pairs: number; pair_count: number };

/** The workspace's cap on pairs and how many it has. */
export async function settings(): Promise<Usage> {
  const result = await useDynamo().send(
    new GetCommand({ TableName: table(), Key: KvKeys.meta(useTenantId()), ConsistentRead: true }),
  );
  const item = result.Item ?? {};
  return {
    max_pairs: typeof item.max_pairs === "number" ? item.max_pairs : DEFAULT_MAX_PAIRS,
    pair_count: typeof item.pair_count === "number" ? item.pair_count : 0,
  };
}

/**
 * Sets the workspace's cap on pairs (an operator's setting, not exposed to API keys). Lowering it
 * below the current count keeps existing pairs (they can still be overwritten) and refuses new ones.
 */
export async function setMaxPairs(maxPairs: number): Promise<Usage> {
  const max = validateMaxPairs(maxPairs);
  const result = await useDynamo().send(
    new UpdateCommand({
      TableName: table(),
      Key: KvKeys.meta(useTenantId()),
      UpdateExpression: "SET max_pairs = :max, pair_count = if_not_exists(pair_count, :zero), updated = :now",
      ExpressionAttributeValues: { ":max": max, ":zero": 0, ":now": nowIso() },
      ReturnValues: "ALL_NEW",
    }),
  );
  return { max_pairs: max, pair_count: (result.Attributes?.pair_count as number | undefined) ?? 0 };
}

export type FindArgs = {
  where?: BoolExp | null;
  order_by?: OrderBy[] | OrderBy | null;
  limit?: number | null;
  offset?: number | null;
};

/** Columns the listing items carry; a read needing only these never fetches the values. */
const LISTING_COLUMNS = new Set(["id", "key", "tenant_id", "created", "created_by"]);

/**
 * Hasura-style read. `where` pinning `key` or `id` reads those pairs directly (one GetItem for
 * the client's `key: {_eq}`); otherwise one Query on the workspace's listing partition, narrowed
 * by `begins_with` when `key` has a `_like` prefix, then the values in batches only if a needed
 * column (`columns`, the fields the caller selects; all when omitted) is not in the listing.
 */
export async function find(args: FindArgs, columns?: readonly string[]): Promise<Array<Partial<KeyValue>>> {
  const keys = pinnedValues(args.where, "key");
  const ids = keys ? undefined : pinnedValues(args.where, "id");
  let candidates: Array<Partial<KeyValue>>;
  if (keys) {
    const valid = keys.filter((k): k is string => typeof k === "string" && isValidKey(k));
    candidates = valid.length === 1 ? [await get(valid[0] as string)].filter(isPair) : await fromKeys(valid);
  } else if (ids) {
    candidates = (await Promise.all(ids.map((id) => fromId(String(id))))).filter(isPair);
  } else {
    const needed = new Set([
      ...(columns ?? ["value"]),
      ...columnsOf(args.where),
      ...orderColumns(args.order_by),
    ]);
    const listed = await listing(likePrefix(args.where));
    const needsValues = [...needed].some((column) => !LISTING_COLUMNS.has(column));
    candidates = needsValues ? sortByKey(await fromKeys(listed.map((l) => l.key as string))) : listed;
  }
  const matching: Array<Partial<KeyValue>> = [];
  for (const pair of candidates) if (await matches(pair, args.where)) matching.push(pair);
  return paginate(sortItems(matching, args.order_by ?? undefined), args.limit, args.offset);
}

/** The pairs whose key starts with `prefix` (all when empty), in key order, with their values. */
export async function list(
  options: { prefix?: string; limit?: number | null; offset?: number | null } = {},
): Promise<KeyValue[]> {
  const listed = await listing(options.prefix ?? "");
  const page = paginate(listed, options.limit, options.offset);
  return sortByKey(await fromKeys(page.map((l) => l.key as string)));
}

function isPair(pair: KeyValue | undefined): pair is KeyValue {
  return pair !== undefined;
}

function isValidKey(key: string): boolean {
  try {
    validateKey(key);
    return true;
  } catch {
    return false;
  }
}

function sortByKey<T extends Partial<KeyValue>>(pairs: T[]): T[] {
  return pairs.sort((a, b) => ((a.key ?? "") < (b.key ?? "") ? -1 : (a.key ?? "") > (b.key ?? "") ? 1 : 0));
}

async function listing(prefix: string): Promise<Array<Partial<KeyValue>>> {
  const items: Array<Partial<KeyValue>> = [];
  // No stored key is that long (and DynamoDB refuses such a key condition): nothing matches.
  if (!couldBeKey(prefix)) return items;
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await useDynamo().send(
      new QueryCommand({
        TableName: table(),
        KeyConditionExpression: prefix ? "pk = :pk AND begins_with(sk, :prefix)" : "pk = :pk",
        ExpressionAttributeValues: {
          ":pk": KvKeys.listPartition(useTenantId()),
          ...(prefix ? { ":prefix": prefix } : {}),
        },
        ConsistentRead: true,
        ExclusiveStartKey: cursor,
      }),
    );
    for (const item of page.Items ?? []) {
      items.push({
        id: item.id as string,
        key: item.key as string,
        tenant_id: item.tenant_id as string,
        created: item.created as string,
        created_by: (item.created_by as string | null | undefined) ?? null,
      });
    }
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}

/** The literal start of a `key: {_like: "abc%"}` pattern (before its first wildcard), if any. */
export function likePrefix(where: BoolExp | null | undefined): string {
  if (!where) return "";
  const condition = where.key as { _like?: unknown } | undefined;
  if (condition && typeof condition._like === "string") {
    // Up to the first wildcard or escape (after `\` the pattern is no longer a plain prefix).
    const wildcard = condition._like.search(/[%_\\]/);
    return wildcard === -1 ? condition._like : condition._like.slice(0, wildcard);
  }
  const all = where._and;
  for (const sub of Array.isArray(all) ? all : all ? [all] : []) {
    const prefix = likePrefix(sub);
    if (prefix) return prefix;
  }
  return "";
}

function columnsOf(where: BoolExp | null | undefined): string[] {
  if (!where) return [];
  const out: string[] = [];
  for (const [field, condition] of Object.entries(where)) {
    if (field === "_and" || field === "_or") {
      for (const sub of Array.isArray(condition) ? condition : [condition])
        out.push(...columnsOf(sub as BoolExp));
    } else if (field === "_not") out.push(...columnsOf(condition as BoolExp));
    else out.push(field);
  }
  return out;
}

function orderColumns(orderBy: OrderBy[] | OrderBy | null | undefined): string[] {
  const list = Array.isArray(orderBy) ? orderBy : orderBy ? [orderBy] : [];
  return list.flatMap((o) => Object.keys(o));
}
