import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, describe, expect, it } from "vitest";
import { asTenant } from "#core/actor.js";
import { type Config, configure, parseConfig } from "#core/config.js";
import { LOCAL_REGION, type LocalDatabase, localCredentials } from "#core/dynamo/client.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { deterministicId } from "#core/ids.js";
import { ofFlowRun } from "#core/log/read.js";
import type { LogRecord } from "#core/log/record.js";
import { store } from "#core/log/store.js";
import * as Workspace from "#core/workspace/index.js";
import { databaseFile, jarFolder, startDynamoDbLocal } from "../../local/src/dynamodb-local.js";
import { freePort } from "../../local/src/ports.js";
import { useTestTables } from "../helpers/storage.js";

/**
 * The embedded runtime keeps the logs table in a DynamoDB Local database of its own (its own
 * SQLite file and database thread), so a neighbour's burst of log transactions never queues ahead
 * of another workspace's reads of the main table (bench/noisy.ts measures the latency). A data
 * folder written before, with every table in DynamoDB Local's one `-sharedDb` file, keeps all of
 * its data after the upgrade.
 */
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function tablesOf(endpoint: string, database: LocalDatabase): Promise<string[]> {
  const client = new DynamoDBClient({
    endpoint,
    region: LOCAL_REGION,
    credentials: localCredentials(database),
  });
  try {
    const names: string[] = [];
    let start: string | undefined;
    do {
      const page = await client.send(new ListTablesCommand({ ExclusiveStartTableName: start }));
      names.push(...(page.TableNames ?? []));
      start = page.LastEvaluatedTableName;
    } while (start);
    return names;
  } finally {
    client.destroy();
  }
}

function line(run: string, i: number): LogRecord {
  return {
    id: deterministicId("dynamodb-databases", run, i),
    flow_run_id: run,
    task_run_id: null,
    timestamp: new Date(Date.UTC(2026, 11, 6, 9, 0, 0, i)).toISOString(),
    level: "INFO",
    name: "test",
    message: `line ${i}`,
    info: {},
    created: new Date().toISOString(),
  };
}

async function messages(run: string): Promise<string[]> {
  const found: string[] = [];
  for await (const item of ofFlowRun(run)) found.push(String(item.message));
  return found;
}

function configFor(endpoint: string, prefix: string): Config {
  return parseConfig({
    AWS_REGION: "us-east-1",
    DROVER_DYNAMODB_ENDPOINT: endpoint,
    DROVER_MAIN_TABLE: `${prefix}-main`,
    DROVER_KV_TABLE: `${prefix}-kv`,
    DROVER_LOGS_TABLE: `${prefix}-logs`,
  });
}

/** DynamoDB Local as Drover started it before: every table in one `-sharedDb` file. */
async function startSharedDb(dataDir: string): Promise<{ endpoint: string; stop: () => Promise<void> }> {
  const folder = jarFolder();
  const port = await freePort();
  const child: ChildProcess = spawn(
    "java",
    [
      `-Djava.library.path=${join(folder, "DynamoDBLocal_lib")}`,
      "-jar",
      join(folder, "DynamoDBLocal.jar"),
      "-port",
      String(port),
      "-sharedDb",
      "-disableTelemetry",
      "-dbPath",
      dataDir,
    ],
    { cwd: folder, stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  cleanups.push(stop);
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await tablesOf(endpoint, "main");
      return { endpoint, stop };
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe("the logs table's own DynamoDB Local database", () => {
  it("holds the logs table, and the main database holds the main and KV tables", async () => {
    const config = await useTestTables("databases");
    const endpoint = config.dynamoEndpoint ?? "";
    const main = await tablesOf(endpoint, "main");
    const logs = await tablesOf(endpoint, "logs");
    expect(main).toEqual(expect.arrayContaining([config.tables.main, config.tables.kv]));
    expect(main).not.toContain(config.tables.logs);
    expect(logs).toContain(config.tables.logs);
    expect(logs).not.toContain(config.tables.main);

    // The application's clients find each table where it lives.
    const tenant = (await Workspace.create({ name: "Own databases" })).id;
    const run = "5b1f0a4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";
    await asTenant(tenant, () => store([line(run, 0), line(run, 1)]));
    expect(await asTenant(tenant, () => messages(run))).toEqual(["line 0", "line 1"]);
    expect((await Workspace.fromId(tenant))?.name).toBe("Own databases");
  });

  it("upgrades a data folder with one shared database: workspaces and log lines written before are read after", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-shared-db-"));
    cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const run = "6c2f0a4e-2c3d-4e5f-8a9b-0c1d2e3f4a5b";
    const lines = Array.from({ length: 30 }, (_, i) => line(run, i));

    const old = await startSharedDb(dataDir);
    const before = configFor(old.endpoint, "upgrade");
    configure(before);
    await ensureTables(before);
    const tenant = (await Workspace.create({ name: "Written before" })).id;
    await asTenant(tenant, () => store(lines));
    await old.stop();
    expect(existsSync(join(dataDir, "shared-local-instance.db"))).toBe(true);

    const dynamo = await startDynamoDbLocal({ dataDir });
    cleanups.push(() => dynamo.stop());
    const after = configFor(dynamo.endpoint, "upgrade");
    configure(after);
    await ensureTables(after);
    expect(existsSync(join(dataDir, "shared-local-instance.db"))).toBe(false);
    expect(existsSync(databaseFile(dataDir, "main"))).toBe(true);
    expect(existsSync(databaseFile(dataDir, "logs"))).toBe(true);
    expect((await Workspace.fromId(tenant))?.name).toBe("Written before");
    expect(await asTenant(tenant, () => messages(run))).toEqual(lines.map((l) => l.message));

    // New lines go to the logs database and are read with the old ones, across another restart.
    await asTenant(tenant, () => store([line(run, 30)]));
    await dynamo.stop();
    const again = await startDynamoDbLocal({ dataDir });
    cleanups.push(() => again.stop());
    configure(configFor(again.endpoint, "upgrade"));
    expect(await asTenant(tenant, () => messages(run))).toEqual([...lines.map((l) => l.message), "line 30"]);
    expect((await Workspace.fromId(tenant))?.name).toBe("Written before");
  }, 90_000);
});
