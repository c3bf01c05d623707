import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "#core/config.js";
import { createDocumentClient, LOCAL_ACCESS_KEYS, type LocalDatabase } from "#core/dynamo/client.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { databaseFile, startDynamoDbLocal } from "../../local/src/dynamodb-local.js";

/**
 * The embedded store keeps its SQLite files in write-ahead-log mode (a commit is one append and
 * one fsync; `npm run bench -- dynamodb-local` has the figures): a new data folder is created in
 * it, a folder written in the rollback-journal mode is switched on the next start, and what was
 * written is read back after a restart. kill -9 at any moment: tests/faults/dynamodb-durability.
 */
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

type Sqlite = {
  DatabaseSync: new (
    path: string,
  ) => { prepare(sql: string): { get(): Record<string, unknown> }; close(): void };
};

async function journalModes(dataDir: string): Promise<string[]> {
  const { DatabaseSync } = (await import("node:sqlite" as string)) as Sqlite;
  return (Object.keys(LOCAL_ACCESS_KEYS) as LocalDatabase[]).map((database) => {
    const db = new DatabaseSync(databaseFile(dataDir, database));
    try {
      return String(db.prepare("PRAGMA journal_mode").get().journal_mode);
    } finally {
      db.close();
    }
  });
}

async function writeAndRead(dataDir: string, journal: "wal" | "rollback", write?: string) {
  const local = await startDynamoDbLocal({ dataDir, journal });
  const config = parseConfig({
    DROVER_DYNAMODB_ENDPOINT: local.endpoint,
    DROVER_MAIN_TABLE: "wal-main",
    DROVER_KV_TABLE: "wal-kv",
    DROVER_LOGS_TABLE: "wal-logs",
  });
  const client = createDocumentClient(config);
  try {
    await ensureTables(config);
    if (write)
      await client.send(
        new PutCommand({ TableName: "wal-main", Item: { pk: write, sk: "item", value: write } }),
      );
    const items = [];
    for (const pk of ["first", "second"]) {
      const read = await client.send(
        new GetCommand({ TableName: "wal-main", Key: { pk, sk: "item" }, ConsistentRead: true }),
      );
      if (read.Item) items.push(read.Item.value);
    }
    return items;
  } finally {
    client.destroy();
    await local.stop();
  }
}

describe("DynamoDB Local's SQLite files", () => {
  it("are in write-ahead-log mode, switched from the rollback journal with their data, and keep writes across restarts", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-wal-"));
    dirs.push(dataDir);
    // A folder as DynamoDB Local writes it by itself (the rollback journal).
    expect(await writeAndRead(dataDir, "rollback", "first")).toEqual(["first"]);
    expect(await journalModes(dataDir)).toEqual(["delete", "delete"]);
    // The default start switches it, keeps its data and writes in the new mode.
    expect(await writeAndRead(dataDir, "wal", "second")).toEqual(["first", "second"]);
    expect(await journalModes(dataDir)).toEqual(["wal", "wal"]);
    expect(await writeAndRead(dataDir, "wal")).toEqual(["first", "second"]);
  });

  it("are created in write-ahead-log mode in a new data folder", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-wal-new-"));
    dirs.push(dataDir);
    expect(await writeAndRead(dataDir, "wal", "first")).toEqual(["first"]);
    expect(await journalModes(dataDir)).toEqual(["wal", "wal"]);
  });
});
