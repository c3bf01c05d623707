import {
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
} from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import { createRawClient } from "#core/dynamo/client.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { MAIN_TABLE } from "#core/dynamo/tables.js";
import { testConfig } from "../helpers/storage.js";

describe("ensureTables", () => {
  it("adds the indexes a table made by an older version lacks, keeping its data", async () => {
    const config = testConfig("upgrade");
    const client = createRawClient(config);
    const name = `${config.tables.main}-old`;
    // A table from before the last index was added.
    const old = MAIN_TABLE.indexes.slice(0, -1);
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: ["pk", "sk", ...old.flatMap((i) => [i.pk, i.sk])].map((a) => ({
          AttributeName: a,
          AttributeType: "S",
        })),
        KeySchema: [
          { AttributeName: "pk", KeyType: "HASH" },
          { AttributeName: "sk", KeyType: "RANGE" },
        ],
        GlobalSecondaryIndexes: old.map((i) => ({
          IndexName: i.name,
          KeySchema: [
            { AttributeName: i.pk, KeyType: "HASH" },
            { AttributeName: i.sk, KeyType: "RANGE" },
          ],
          Projection: { ProjectionType: "ALL" },
        })),
      }),
    );
    const key = { pk: { S: "t#kept" }, sk: { S: "item" } };
    await client.send(
      new PutItemCommand({ TableName: name, Item: { ...key, note: { S: "from the old version" } } }),
    );
    await ensureTables({ ...config, tables: { ...config.tables, main: name } });
    const kept = await client.send(new GetItemCommand({ TableName: name, Key: key }));
    expect(kept.Item?.note?.S).toBe("from the old version");
    const described = await client.send(new DescribeTableCommand({ TableName: name }));
    expect((described.Table?.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName).sort()).toEqual(
      MAIN_TABLE.indexes.map((i) => i.name).sort(),
    );
    // Each index with the projection it is declared with (the newest, gsi4, holds keys only).
    for (const index of MAIN_TABLE.indexes) {
      const found = described.Table?.GlobalSecondaryIndexes?.find((i) => i.IndexName === index.name);
      expect(found?.Projection?.ProjectionType).toBe(index.projection ?? "ALL");
    }
    client.destroy();
  }, 120_000);
});
