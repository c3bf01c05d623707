import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { PutCommand, ScanCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "#core/config.js";
import { createDocumentClient, type LocalDatabase } from "#core/dynamo/client.js";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../local/src/dynamodb-local.js";

/**
 * What DynamoDB Local acknowledged survives a SIGKILL of its java at once, transactions included.
 * DynamoDB Local answers TransactWriteItems before its SQLite COMMIT has run; without the
 * application client's wait for that commit (core/src/dynamo/client.ts), the last acknowledged
 * transactions before a kill -9 were rolled back on restart (every round lost its last one).
 * Rounds alternate between the main and the logs database (each has its own SQLite file and
 * commit thread, so each needs the wait on its own connection).
 */
const ROUNDS = 8;
const WRITES = 12;
const TABLE = "durability";

let dataDir: string | undefined;
let dynamo: DynamoDbLocal | undefined;

afterAll(async () => {
  await dynamo?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const DATABASES: LocalDatabase[] = ["main", "logs"];

function clientsFor(endpoint: string) {
  const config = parseConfig({ ...process.env, DROVER_DYNAMODB_ENDPOINT: endpoint });
  return DATABASES.map((database) => createDocumentClient(config, database));
}

describe("DynamoDB Local durability across kill -9", () => {
  it("keeps every acknowledged PutItem and TransactWriteItems when java is SIGKILLed right after the last answer", async () => {
    dataDir = mkdtempSync(join(tmpdir(), "drover-durability-"));
    dynamo = await startDynamoDbLocal({ dataDir });
    const port = dynamo.port;
    let clients = clientsFor(dynamo.endpoint);
    for (const client of clients)
      await client.send(
        new CreateTableCommand({
          TableName: TABLE,
          AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
          KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
          BillingMode: "PAY_PER_REQUEST",
        }),
      );
    const acknowledged: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const client = clients[round % clients.length] as (typeof clients)[number];
      for (let i = 0; i < WRITES; i++) {
        if (i % 3 === 0) {
          await client.send(new PutCommand({ TableName: TABLE, Item: { pk: `put-${round}-${i}` } }));
          acknowledged.push(`put-${round}-${i}`);
        } else {
          // Two items per transaction, like the KV store's create (pair + counter).
          const keys = [`tx-${round}-${i}-a`, `tx-${round}-${i}-b`];
          await client.send(
            new TransactWriteCommand({
              TransactItems: keys.map((pk) => ({ Put: { TableName: TABLE, Item: { pk } } })),
            }),
          );
          acknowledged.push(...keys);
        }
      }
      // The last write was just acknowledged: kill -9 now, then start again on the same data folder.
      process.kill(dynamo.pid() ?? 0, "SIGKILL");
      await dynamo.stop();
      for (const each of clients) each.destroy();
      dynamo = await startDynamoDbLocal({ dataDir, port });
      clients = clientsFor(dynamo.endpoint);
    }
    const found = new Set<string>();
    for (const client of clients) {
      let start: Record<string, unknown> | undefined;
      do {
        const page = await client.send(
          new ScanCommand({ TableName: TABLE, ConsistentRead: true, ExclusiveStartKey: start }),
        );
        for (const item of page.Items ?? []) found.add(item.pk as string);
        start = page.LastEvaluatedKey;
      } while (start);
      client.destroy();
    }
    expect(acknowledged.filter((key) => !found.has(key))).toEqual([]);
    expect(found.size).toBe(acknowledged.length);
  });
});
