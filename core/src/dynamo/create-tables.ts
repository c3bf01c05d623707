import {
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import type { Config } from "../config.js";
import { createRawClient } from "./client.js";
import { physicalTableName, TABLES, type TableDefinition } from "./tables.js";

/** Creates the tables of `TABLES` if missing (local runtime and tests; AWS uses infra/). */
export async function ensureTables(config: Config): Promise<void> {
  const client = createRawClient(config);
  try {
    await Promise.all(TABLES.map((table) => ensureTable(client, physicalTableName(config, table), table)));
  } finally {
    client.destroy();
  }
}

async function ensureTable(client: DynamoDBClient, name: string, table: TableDefinition): Promise<void> {
  const attributes = new Set([table.pk, table.sk, ...table.indexes.flatMap((i) => [i.pk, i.sk])]);
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [...attributes].map((a) => ({ AttributeName: a, AttributeType: "S" })),
        KeySchema: [
          { AttributeName: table.pk, KeyType: "HASH" },
          { AttributeName: table.sk, KeyType: "RANGE" },
        ],
        ...(table.indexes.length > 0
          ? {
              GlobalSecondaryIndexes: table.indexes.map((i) => ({
                IndexName: i.name,
                KeySchema: [
                  { AttributeName: i.pk, KeyType: "HASH" },
                  { AttributeName: i.sk, KeyType: "RANGE" },
                ],
                Projection: { ProjectionType: "ALL" },
              })),
            }
          : {}),
      }),
    );
  } catch (error) {
    if (error instanceof ResourceInUseException) return;
    throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 30 }, { TableName: name });
  await client.send(
    new UpdateTimeToLiveCommand({
      TableName: name,
      TimeToLiveSpecification: { AttributeName: table.ttlAttribute, Enabled: true },
    }),
  );
}
