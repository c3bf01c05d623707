import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { QueryCommand, type QueryCommandInput, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import type { DroverError } from "../errors.js";
import { mainTable, useDynamo } from "./client.js";

/** Every item of a Query, following pagination (for partitions known to be bounded). */
export async function queryAll(
  input: Omit<QueryCommandInput, "ExclusiveStartKey">,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await useDynamo().send(new QueryCommand({ ...input, ExclusiveStartKey: cursor }));
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
