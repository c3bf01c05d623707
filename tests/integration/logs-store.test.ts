import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, test } from "vitest";
import { asTenant } from "#core/actor.js";
import { useConfig } from "#core/config.js";
import { useDynamo } from "#core/dynamo/client.js";
import { deterministicId } from "#core/ids.js";
import { LogKeys } from "#core/log/keys.js";
import type { LogRecord } from "#core/log/record.js";
import { storeEach } from "#core/log/store.js";
import { useTestTables } from "../helpers/storage.js";

/**
 * The consumer's store is per line: lines DynamoDB refuses are reported alone (with the reason),
 * every other line of the call is written, on both write paths (BatchWriteItem on AWS,
 * TransactWriteItems on DynamoDB Local).
 */
const TENANT = "8d6f4a2e-1c3b-4e5f-9a7b-0c1d2e3f4a5b";
const RUN = "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6";

beforeAll(async () => {
  await useTestTables("logs-store");
});

function line(i: number, info: unknown, run = RUN): LogRecord {
  return {
    id: deterministicId("logs-store", run, i),
    flow_run_id: run,
    task_run_id: null,
    timestamp: new Date(Date.UTC(2026, 11, 2, 9, 0, 0, i)).toISOString(),
    level: "INFO",
    name: "test",
    message: `line ${i}`,
    info,
    created: new Date().toISOString(),
  };
}

async function stored(run: string): Promise<string[]> {
  const page = await useDynamo(useConfig().tables.logs).send(
    new QueryCommand({
      TableName: useConfig().tables.logs,
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": LogKeys.partition(TENANT, run) },
    }),
  );
  return (page.Items ?? []).map((item) => String(item.message));
}

describe.each([
  { path: "BatchWriteItem", transactional: false, run: "2e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6" },
  { path: "TransactWriteItems", transactional: true, run: "3e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6" },
])("storeEach through $path", ({ transactional, run }) => {
  test("writes every storable line and reports each refused one alone", async () => {
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    const lines = Array.from({ length: 60 }, (_, i) => line(i, { i }, run));
    lines[7] = line(7, { deep }, run);
    lines[31] = line(31, { big: 2 ** 60 }, run);
    lines[52] = line(52, { inf: 1e300 }, run);
    const rejected = await asTenant(TENANT, () => storeEach(lines, { transactional }));
    expect(rejected.map((r) => r.record.message).sort()).toEqual(["line 31", "line 52", "line 7"]);
    for (const r of rejected) expect(r.error.length).toBeGreaterThan(0);
    const messages = await stored(run);
    expect(messages).toHaveLength(57);
    expect(messages).not.toContain("line 7");
    // Idempotent: storing the same lines again writes the same items.
    await asTenant(TENANT, () => storeEach(lines, { transactional }));
    expect(await stored(run)).toHaveLength(57);
  });
});
