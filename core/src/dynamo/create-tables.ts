import {
  CreateTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  type GlobalSecondaryIndex,
  ResourceInUseException,
  UpdateTableCommand,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from "@aws-sdk/client-dynamodb";
import type { Config } from "../config.js";
import { createRawClient } from "./client.js";
import { physicalTableName, TABLES, type TableDefinition } from "./tables.js";

/**
 * Creates the tables of `TABLES` if missing, and adds the indexes an existing table lacks (a data
 * folder made by an older version), so local data keeps working across upgrades (local runtime
 * and tests; AWS uses infra/). Each table is made in the DynamoDB Local database it is declared in.
 */
export async function ensureTables(config: Config): Promise<void> {
  await Promise.all(
    TABLES.map(async (table) => {
      const client = createRawClient(config, table.database);
      // With events off (benchmarks comparing), a new table gets no stream.
      const declared = config.events.enabled ? table : { ...table, stream: undefined };
      try {
        await ensureTable(client, physicalTableName(config, table), declared);
      } finally {
        client.destroy();
      }
    }),
  );
}

async function ensureTable(client: DynamoDBClient, name: string, table: TableDefinition): Promise<void> {
  const attributes = new Set([table.pk, table.sk, ...table.indexes.flatMap((i) => [i.pk, i.sk])]);
  const definitions = [...attributes].map((a) => ({ AttributeName: a, AttributeType: "S" as const }));
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: definitions,
        KeySchema: [
          { AttributeName: table.pk, KeyType: "HASH" },
          { AttributeName: table.sk, KeyType: "RANGE" },
        ],
        ...(table.indexes.length > 0
          ? {
              GlobalSecondaryIndexes: table.indexes.map(indexSpec),
            }
          : {}),
        ...(table.stream
          ? { StreamSpecification: { StreamEnabled: true, StreamViewType: table.stream } }
          : {}),
      }),
    );
  } catch (error) {
    if (error instanceof ResourceInUseException) {
      await addMissingIndexes(client, name, table, definitions);
      return addMissingStream(client, name, table);
    }
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

function indexSpec(index: TableDefinition["indexes"][number]): GlobalSecondaryIndex {
  return {
    IndexName: index.name,
    KeySchema: [
      { AttributeName: index.pk, KeyType: "HASH" },
      { AttributeName: index.sk, KeyType: "RANGE" },
    ],
    Projection: { ProjectionType: index.projection ?? "ALL" },
  };
}

/** Turns on the declared stream of a table made by a version without it. */
async function addMissingStream(client: DynamoDBClient, name: string, table: TableDefinition): Promise<void> {
  if (!table.stream) return;
  const described = await client.send(new DescribeTableCommand({ TableName: name }));
  if (described.Table?.StreamSpecification?.StreamEnabled) return;
  await client.send(
    new UpdateTableCommand({
      TableName: name,
      StreamSpecification: { StreamEnabled: true, StreamViewType: table.stream },
    }),
  );
}

async function addMissingIndexes(
  client: DynamoDBClient,
  name: string,
  table: TableDefinition,
  definitions: Array<{ AttributeName: string; AttributeType: "S" }>,
): Promise<void> {
  const described = await client.send(new DescribeTableCommand({ TableName: name }));
  const present = new Set((described.Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  // One index per UpdateTable, as DynamoDB requires.
  for (const index of table.indexes.filter((i) => !present.has(i.name))) {
    await client.send(
      new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: definitions.filter(
          (d) => d.AttributeName === index.pk || d.AttributeName === index.sk,
        ),
        GlobalSecondaryIndexUpdates: [{ Create: indexSpec(index) }],
      }),
    );
    for (let attempt = 0; attempt < 300; attempt++) {
      const state = await client.send(new DescribeTableCommand({ TableName: name }));
      const status = state.Table?.GlobalSecondaryIndexes?.find(
        (i) => i.IndexName === index.name,
      )?.IndexStatus;
      if (status === "ACTIVE") break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
