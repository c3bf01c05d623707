import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { MAIN_TABLE } from "#core/dynamo/tables.js";

/**
 * Counts what the application asks of DynamoDB, with a middleware on the document client it uses
 * (installed inside the bench runtime's process, bench/lib/runtime-process.ts, so every request of
 * the code under test passes here):
 * items read (GetItem found, Query/Scan items evaluated, BatchGetItem items returned) and items
 * written (Put/Update/Delete = 1, BatchWriteItem = its requests, TransactWriteItems = its actions),
 * with write units estimated as DynamoDB bills them: ⌈item KB⌉ for the table plus the same for each
 * GSI the item carries keys of, doubled inside transactions. Updates are counted from their input
 * (the index keys they set); items are sized as JSON of their attributes, close to DynamoDB's sizing.
 */
export type DynamoCounts = {
  requests: number;
  itemsRead: number;
  itemsWritten: number;
  writeUnits: number;
  byCommand: Record<string, number>;
};

/** The main table's indexes (core's declaration): an item is in one when it has both its keys. */
const INDEXES = MAIN_TABLE.indexes;

function empty(): DynamoCounts {
  return { requests: 0, itemsRead: 0, itemsWritten: 0, writeUnits: 0, byCommand: {} };
}

function units(item: Record<string, unknown> | undefined): number {
  if (!item) return 1;
  const kb = Math.max(1, Math.ceil(Buffer.byteLength(JSON.stringify(item)) / 1024));
  // A keys-only index entry is under 1 KB; one projecting all attributes is the item's size.
  const inIndexes = INDEXES.filter((index) => index.pk in item && index.sk in item);
  return kb + inIndexes.reduce((sum, index) => sum + (index.projection === "KEYS_ONLY" ? 1 : kb), 0);
}

function updateUnits(input: Record<string, unknown>): number {
  const values = JSON.stringify(input.ExpressionAttributeValues ?? {});
  // Attribute names written through placeholders (`#a0 = if_not_exists(#a0, :a0)`) count too.
  // Longest first, so `#x1` does not replace the start of `#x10`.
  const names = Object.entries((input.ExpressionAttributeNames ?? {}) as Record<string, string>).sort(
    ([a], [b]) => b.length - a.length,
  );
  const expression = names.reduce(
    (text, [placeholder, name]) => text.replaceAll(placeholder, name),
    String(input.UpdateExpression ?? ""),
  );
  // A key set only where absent (`k = if_not_exists(k, :v)`) keeps an existing entry where it is.
  const indexes = INDEXES.filter(
    (index) =>
      expression.includes(`${index.pk} =`) &&
      !expression.includes(`${index.pk} = if_not_exists(${index.pk},`),
  ).length;
  return Math.max(1, Math.ceil(Buffer.byteLength(values) / 1024)) * (1 + indexes);
}

type Input = Record<string, unknown>;
type Output = Record<string, unknown>;

export class DynamoCounter {
  #counts = empty();

  /** Counts the calls of every client given (one per DynamoDB Local database). */
  constructor(...clients: DynamoDBDocumentClient[]) {
    for (const client of clients)
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const result = await next(args);
          this.#record(
            String(context.commandName ?? "unknown"),
            args.input as Input,
            result.output as Output,
          );
          return result;
        },
        { step: "initialize", name: "droverBenchCounter", override: true },
      );
  }

  #record(command: string, input: Input, output: Output): void {
    const c = this.#counts;
    const name = command.replace(/Command$/, "");
    c.requests++;
    c.byCommand[name] = (c.byCommand[name] ?? 0) + 1;
    switch (name) {
      case "GetItem":
      case "Get":
        c.itemsRead += output.Item ? 1 : 0;
        break;
      case "Query":
      case "Scan":
        c.itemsRead += Number(output.ScannedCount ?? output.Count ?? 0);
        break;
      case "BatchGetItem":
      case "BatchGet":
        for (const items of Object.values((output.Responses ?? {}) as Record<string, unknown[]>))
          c.itemsRead += items.length;
        break;
      case "PutItem":
      case "Put":
        c.itemsWritten++;
        c.writeUnits += units(input.Item as Record<string, unknown>);
        break;
      case "UpdateItem":
      case "Update":
        c.itemsWritten++;
        c.writeUnits += updateUnits(input);
        break;
      case "DeleteItem":
      case "Delete":
        c.itemsWritten++;
        c.writeUnits += 1;
        break;
      case "BatchWriteItem":
      case "BatchWrite": {
        for (const requests of Object.values((input.RequestItems ?? {}) as Record<string, Input[]>)) {
          for (const request of requests) {
            c.itemsWritten++;
            const put = request.PutRequest as { Item?: Record<string, unknown> } | undefined;
            c.writeUnits += units(put?.Item);
          }
        }
        break;
      }
      case "TransactWriteItems":
      case "TransactWrite":
        for (const action of (input.TransactItems ?? []) as Input[]) {
          c.itemsWritten++;
          const put = action.Put as { Item?: Record<string, unknown> } | undefined;
          c.writeUnits += 2 * (put ? units(put.Item) : 1);
        }
        break;
    }
  }

  /** The counts since the last call, and a fresh start. */
  take(): DynamoCounts {
    const counts = this.#counts;
    this.#counts = empty();
    return counts;
  }
}
