import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type BatchWriteCommandOutput,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { DroverError } from "../errors.js";
import { nowIso } from "../ids.js";
import { mainTable, useDynamo } from "./client.js";

/**
 * The code of each item of a cancelled transaction, in the order of its TransactItems ("None" for
 * an item that did not fail); empty for any other error.
 */
export function cancellationCodes(error: unknown): string[] {
  return error instanceof TransactionCanceledException
    ? (error.CancellationReasons ?? []).map((r) => r?.Code ?? "None")
    : [];
}

/** Every item of a Query, following pagination (for partitions known to be bounded). */
export async function queryAll(
  input: Omit<QueryCommandInput, "ExclusiveStartKey">,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await useDynamo(input.TableName).send(
      new QueryCommand({ ...input, ExclusiveStartKey: cursor }),
    );
    items.push(...(page.Items ?? []));
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
}

/**
 * Puts an item together with a uniqueness lock item (e.g. a name within a tenant) in one
 * transaction; if either already exists nothing is written and `conflict()` is thrown.
 */
export async function putWithUniqueLock(options: {
  lock: Record<string, unknown>;
  item: Record<string, unknown>;
  conflict: () => DroverError;
}): Promise<void> {
  const table = mainTable();
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: table, Item: options.lock, ConditionExpression: "attribute_not_exists(pk)" } },
          { Put: { TableName: table, Item: options.item, ConditionExpression: "attribute_not_exists(pk)" } },
        ],
      }),
    );
  } catch (error) {
    if (error instanceof TransactionCanceledException) throw options.conflict();
    throw error;
  }
}

/** The items of a Query one by one, fetching pages lazily (readers may stop early). */
export async function* queryItems(
  input: Omit<QueryCommandInput, "ExclusiveStartKey">,
): AsyncIterable<Record<string, unknown>> {
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await useDynamo(input.TableName).send(
      new QueryCommand({ ...input, ExclusiveStartKey: cursor }),
    );
    yield* page.Items ?? [];
    cursor = page.LastEvaluatedKey;
  } while (cursor);
}

/**
 * GetItem for many keys of the main table (BatchGetItem in chunks of 100, retrying unprocessed
 * keys); `consistent` makes every read strongly consistent.
 */
export async function batchGet(
  keys: Array<{ pk: string; sk: string }>,
  options: { consistent?: boolean } = {},
): Promise<Record<string, unknown>[]> {
  const table = mainTable();
  const found: Record<string, unknown>[] = [];
  const unique = [...new Map(keys.map((k) => [`${k.pk}\u0000${k.sk}`, k])).values()];
  for (let i = 0; i < unique.length; i += 100) {
    let pending: Record<string, unknown>[] | undefined = unique.slice(i, i + 100);
    for (let attempt = 0; pending && pending.length > 0; attempt++) {
      if (attempt > 0) await backoff(attempt);
      const result: BatchGetCommandOutput = await useDynamo().send(
        new BatchGetCommand({
          RequestItems: {
            [table]: { Keys: pending, ...(options.consistent ? { ConsistentRead: true } : {}) },
          },
        }),
      );
      found.push(...(result.Responses?.[table] ?? []));
      pending = result.UnprocessedKeys?.[table]?.Keys;
    }
  }
  return found;
}

/** PutItem for many items of the main table (BatchWriteItem in chunks of 25, retrying unprocessed ones). */
export async function batchPut(items: Record<string, unknown>[]): Promise<void> {
  const table = mainTable();
  for (let i = 0; i < items.length; i += 25) {
    let pending: BatchWriteCommandInput["RequestItems"] | undefined = {
      [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })),
    };
    for (let attempt = 0; pending && Object.keys(pending).length > 0; attempt++) {
      if (attempt > 0) await backoff(attempt);
      const result: BatchWriteCommandOutput = await useDynamo().send(
        new BatchWriteCommand({ RequestItems: pending }),
      );
      pending = result.UnprocessedItems;
    }
  }
}

function backoff(attempt: number): Promise<void> {
  return new Promise((resolve) =>
    setTimeout(resolve, Math.min(1000, 25 * 2 ** attempt * (0.5 + Math.random()))),
  );
}

/**
 * An UpdateItem of an item that must exist (`updated` set to now as well), returning the item as
 * written; `notFound` is thrown when there is no such item.
 */
export async function updateExisting(
  key: { pk: string; sk: string },
  expression: string,
  values: Record<string, unknown>,
  names: Record<string, string> | undefined,
  notFound: () => DroverError,
): Promise<Record<string, unknown>> {
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: key,
        UpdateExpression: `${expression}, updated = :now`,
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ...values, ":now": nowIso() },
        ...(names ? { ExpressionAttributeNames: names } : {}),
        ReturnValues: "ALL_NEW",
      }),
    );
    return result.Attributes ?? {};
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw notFound();
    throw error;
  }
}

/** A per-workspace count of some items, kept in one counter item beside them. */
export type Counter = { key: { pk: string; sk: string }; attribute: string; entity: string };

/**
 * Puts a new item and counts it in the same transaction, unless the count is at `max`: then
 * nothing is written and `full()` is thrown.
 */
export async function putCounted(options: {
  item: Record<string, unknown>;
  counter: Counter;
  max: number;
  full: () => DroverError;
}): Promise<void> {
  const { counter } = options;
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: mainTable(), Item: options.item } },
          {
            Update: {
              TableName: mainTable(),
              Key: counter.key,
              UpdateExpression: "ADD #count :one SET entity = :entity",
              ConditionExpression: "attribute_not_exists(#count) OR #count < :max",
              ExpressionAttributeNames: { "#count": counter.attribute },
              ExpressionAttributeValues: { ":one": 1, ":max": options.max, ":entity": counter.entity },
            },
          },
        ],
      }),
    );
  } catch (error) {
    if (cancellationCodes(error)[1] === "ConditionalCheckFailed") throw options.full();
    throw error;
  }
}

/** Deletes an item that must exist and uncounts it in the same transaction; `missing()` when it does not. */
export async function deleteCounted(options: {
  key: { pk: string; sk: string };
  counter: Counter;
  missing: () => DroverError;
}): Promise<void> {
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: { TableName: mainTable(), Key: options.key, ConditionExpression: "attribute_exists(pk)" },
          },
          {
            Update: {
              TableName: mainTable(),
              Key: options.counter.key,
              UpdateExpression: "ADD #count :minus",
              ExpressionAttributeNames: { "#count": options.counter.attribute },
              ExpressionAttributeValues: { ":minus": -1 },
            },
          },
        ],
      }),
    );
  } catch (error) {
    if (cancellationCodes(error)[0] === "ConditionalCheckFailed") throw options.missing();
    throw error;
  }
}
