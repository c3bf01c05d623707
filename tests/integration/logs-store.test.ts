import { PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, test, vi } from "vitest";
import { asTenant } from "#core/actor.js";
import { useConfig } from "#core/config.js";
import { useDynamo } from "#core/dynamo/client.js";
import { deterministicId } from "#core/ids.js";
import { LogKeys } from "#core/log/keys.js";
import { linesOf, ofFlowRun } from "#core/log/read.js";
import type { LogRecord } from "#core/log/record.js";
import { storeEach } from "#core/log/store.js";
import { isoMicros } from "#core/time.js";
import { useTestTables } from "../helpers/storage.js";

/**
 * The consumer's store is per line: lines that can never be stored are reported alone (with the
 * reason), every other line of the call is written, on both write paths (BatchWriteItem on AWS,
 * TransactWriteItems on DynamoDB Local). Lines are stored as chunks, one item per flow run and
 * ten-second bucket of a call, and read back merged: in order, each line once.
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
  return (page.Items ?? []).flatMap((item) => linesOf(item).map((line) => String(line.message)));
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

describe.each([
  { path: "BatchWriteItem", transactional: false, run: "4e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6" },
  { path: "TransactWriteItems", transactional: true, run: "5e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6" },
])("chunks DynamoDB refuses, through $path", ({ transactional, run }) => {
  test("a line too large for any item is refused alone, by DynamoDB; its call's other chunks are written", async () => {
    // 40 lines in 4 buckets (4 chunks), and one line of 450 KB: over DynamoDB's 400 KB item limit.
    const lines = Array.from({ length: 40 }, (_, i) => ({
      ...line(i, { i }, run),
      timestamp: new Date(Date.UTC(2026, 11, 2, 9, 0, i)).toISOString(),
    }));
    lines[17] = { ...(lines[17] as LogRecord), message: `line 17 ${"x".repeat(450_000)}` };
    const calls: number[] = [];
    const client = useDynamo(useConfig().tables.logs);
    const send = client.send.bind(client);
    const spy = vi.spyOn(client, "send").mockImplementation(((command: {
      input: Record<string, unknown>;
    }) => {
      const items = (command.input.TransactItems ?? Object.values(command.input.RequestItems ?? {})[0]) as
        | unknown[]
        | undefined;
      calls.push(items?.length ?? 0);
      return send(command as never);
    }) as never);
    try {
      const rejected = await asTenant(TENANT, () => storeEach(lines, { transactional }));
      expect(rejected.map((r) => r.record.id)).toEqual([(lines[17] as LogRecord).id]);
      expect(rejected[0]?.error).toMatch(/size/i);
    } finally {
      spy.mockRestore();
    }
    // One call of 6 chunks (one a bucket; 17 is alone, over a chunk's bytes, and cuts its bucket
    // in three), refused, then halved until 17's chunk stands alone.
    expect(calls[0]).toBe(6);
    expect(calls.length).toBeGreaterThan(1);
    const messages = await stored(run);
    expect(messages).toHaveLength(39);
    expect(messages.some((m) => m.startsWith("line 17"))).toBe(false);
  });

  test("a chunk refused as invalid is split until the refused line stands alone", async () => {
    const lines = Array.from({ length: 30 }, (_, i) => line(i, { i }, run.replace("e2d", "f2d")));
    const poison = (lines[11] as LogRecord).id;
    const client = useDynamo(useConfig().tables.logs);
    const send = client.send.bind(client);
    // DynamoDB refuses any item holding the poison line, as it would a value it cannot store.
    const spy = vi.spyOn(client, "send").mockImplementation(((command: {
      input: Record<string, unknown>;
    }) => {
      if (JSON.stringify(command.input).includes(poison)) {
        const error = new Error("One or more parameter values were invalid: refused by the test");
        error.name = "ValidationException";
        return Promise.reject(error);
      }
      return send(command as never);
    }) as never);
    let rejected: Awaited<ReturnType<typeof storeEach>>;
    try {
      rejected = await asTenant(TENANT, () => storeEach(lines, { transactional }));
    } finally {
      spy.mockRestore();
    }
    expect(rejected.map((r) => r.record.id)).toEqual([poison]);
    const messages = await stored(run.replace("e2d", "f2d"));
    expect(messages).toHaveLength(29);
    expect(messages).not.toContain("line 11");
  });
});

describe("reading chunks", () => {
  const run = "6e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6";
  const task = "7e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6";
  const at = (seconds: number, ms: number) =>
    new Date(Date.UTC(2026, 11, 2, 9, 0, seconds, ms)).toISOString();
  const record = (i: number, timestamp: string, taskRunId: string | null = null): LogRecord => ({
    ...line(i, null, run),
    timestamp: isoMicros(timestamp) as string,
    task_run_id: taskRunId,
  });
  // Every stored line, in (timestamp, id) order.
  const ascending = [
    "line 0",
    "line 6",
    "line 1",
    "line 9",
    "line 2",
    "line 3",
    "line 7",
    "line 4",
    "line 5",
    "line 8",
  ];
  const read = (options: Parameters<typeof ofFlowRun>[1] = {}, taskRunId?: string) =>
    asTenant(TENANT, async () => {
      const out: string[] = [];
      for await (const row of ofFlowRun(run, options, taskRunId)) out.push(String(row.message));
      return out;
    });

  beforeAll(async () => {
    // Call 1: lines 0-5 over two buckets (9:00:00-09 and 9:00:10-19), some of a task run.
    const first = [
      record(0, at(1, 0)),
      record(1, at(3, 0), task),
      record(2, at(9, 999)),
      record(3, at(10, 0), task),
      record(4, at(12, 0)),
      record(5, at(15, 0)),
    ];
    // Call 2, interleaved in time with call 1 and repeating its line 4 (a client's resend).
    const second = [
      record(6, at(2, 0)),
      record(4, at(12, 0)),
      record(7, at(11, 0), task),
      record(8, at(21, 0)),
    ];
    await asTenant(TENANT, async () => {
      expect(await storeEach(first)).toEqual([]);
      expect(await storeEach(second)).toEqual([]);
    });
    // A line stored one an item, as versions before chunks did, in the first bucket.
    const legacy = record(9, at(5, 0));
    await useDynamo(useConfig().tables.logs).send(
      new PutCommand({
        TableName: useConfig().tables.logs,
        Item: {
          pk: LogKeys.partition(TENANT, run),
          sk: `${legacy.timestamp}#${legacy.id}`,
          ...legacy,
          tenant_id: TENANT,
          ttl_epoch: Math.floor(Date.now() / 1000) + 3600,
        },
      }),
    );
  });

  test("every line once, in time order either way, chunks and old one-line items merged", async () => {
    expect(await read()).toEqual(ascending);
    expect(await read({ order: [{ timestamp: "desc" }, { id: "desc" }] })).toEqual([...ascending].reverse());
  });

  test("a time window reads the buckets it overlaps, whole", async () => {
    // From 9:00:03 (inside the first bucket) to 9:00:11: the engine applies the exact bounds.
    const lines = await read({ where: { timestamp: { _gte: at(3, 0), _lte: at(11, 0) } } });
    // Every line but the one of the last bucket (9:00:20-29).
    expect(lines).toEqual(ascending.slice(0, -1));
    // A window after every bucket but the last reads only the last.
    expect(await read({ where: { timestamp: { _gt: at(20, 0) } } })).toEqual(["line 8"]);
  });

  test("a task run's lines only, from chunks that mix task runs", async () => {
    expect(await read({}, task)).toEqual(["line 1", "line 3", "line 7"]);
  });

  test("one item a bucket and call: 5 chunks (11 lines, one of them twice) and the old line", async () => {
    const items = await useDynamo(useConfig().tables.logs).send(
      new QueryCommand({
        TableName: useConfig().tables.logs,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": LogKeys.partition(TENANT, run) },
      }),
    );
    const counts = items.Items?.map((item) => Number(item.line_count ?? 1)) ?? [];
    expect(counts).toHaveLength(6);
    expect(counts.reduce((x, y) => x + y, 0)).toBe(11);
  });
});
