import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatchWriteCommand, PutCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { startDynamoDbLocal } from "../local/src/dynamodb-local.js";
import { dynamoAt } from "./lib/environment.js";
import { throughputFigure } from "./lib/figures.js";
import { measure, type Operation } from "./lib/measure.js";
import type { Benchmark, Figure } from "./lib/types.js";

/**
 * The embedded store's raw write rates in each way `npm start` could run DynamoDB Local: on disk
 * with SQLite's write-ahead log (the default since it was measured here), on disk with its rollback
 * journal (DynamoDB Local's own default), in memory (`--in-memory`), and JVM options tried on the
 * default. Each variant is a fresh DynamoDB Local measured alone: UpdateItem of one item per
 * worker, BatchWriteItem of 25 new items, and TransactWriteItems of 4 new items (a 2-task run's
 * creation), at the run's concurrency after a warm-up long enough for its JIT.
 * DROVER_BENCH_DYNAMODB_VARIANTS=name,... picks variants.
 */
type Variant = {
  name: string;
  label: string;
  disk: boolean;
  journal?: "wal" | "rollback";
  jvmOptions?: string[];
};

const VARIANTS: Variant[] = [
  { name: "disk-wal", label: "on disk, write-ahead log (default)", disk: true },
  { name: "disk-rollback", label: "on disk, rollback journal", disk: true, journal: "rollback" },
  { name: "memory", label: "in memory (--in-memory)", disk: false },
  {
    name: "disk-wal-c1",
    label: "on disk, write-ahead log, JIT C1 only (-XX:TieredStopAtLevel=1)",
    disk: true,
    jvmOptions: ["-Xmx1g", "-XX:TieredStopAtLevel=1"],
  },
  {
    name: "disk-wal-serial-gc",
    label: "on disk, write-ahead log, serial GC (-XX:+UseSerialGC)",
    disk: true,
    jvmOptions: ["-Xmx1g", "-XX:+UseSerialGC"],
  },
  {
    name: "disk-wal-parallel-gc",
    label: "on disk, write-ahead log, parallel GC (-XX:+UseParallelGC)",
    disk: true,
    jvmOptions: ["-Xmx1g", "-XX:+UseParallelGC"],
  },
  {
    name: "disk-wal-heap-256m",
    label: "on disk, write-ahead log, a 256 MB heap (-Xmx256m)",
    disk: true,
    jvmOptions: ["-Xmx256m"],
  },
  {
    name: "memory-c1",
    label: "in memory, JIT C1 only (-XX:TieredStopAtLevel=1)",
    disk: false,
    jvmOptions: ["-Xmx1g", "-XX:TieredStopAtLevel=1"],
  },
];

export const dynamodbLocalBenchmark: Benchmark = {
  name: "dynamodb-local",
  description:
    "DynamoDB Local's raw write rates on disk (write-ahead log, rollback journal), in memory, and with JVM options",
  run: async (context) => {
    const wanted = process.env.DROVER_BENCH_DYNAMODB_VARIANTS?.split(",");
    const n = context.options.concurrency;
    const given = new Set(context.options.given ?? []);
    const timing = {
      concurrency: n,
      durationMs: given.has("duration") ? context.options.durationMs : 5000,
      warmupMs: given.has("warmup") ? context.options.warmupMs : 15_000,
    };
    const figures: Figure[] = [];
    for (const variant of VARIANTS.filter((v) => !wanted || wanted.includes(v.name))) {
      const dataDir = variant.disk ? mkdtempSync(join(tmpdir(), "drover-bench-ddb-")) : undefined;
      const local = await startDynamoDbLocal({
        ...(dataDir ? { dataDir } : {}),
        ...(variant.journal ? { journal: variant.journal } : {}),
        ...(variant.jvmOptions ? { jvmOptions: variant.jvmOptions } : {}),
      });
      const dynamo = await dynamoAt(local.endpoint, `ddb-${variant.name}`);
      const table = dynamo.config.tables.main;
      try {
        const keys = Array.from({ length: n }, (_, i) => ({ pk: `update#${i}`, sk: "item" }));
        for (const Key of keys)
          await dynamo.client.send(new PutCommand({ TableName: table, Item: { ...Key, v: 0 } }));
        let sequence = 0;
        const operations: Array<[string, string, Operation, string]> = [
          [
            "update",
            "UpdateItem",
            async (worker) => {
              await dynamo.client.send(
                new UpdateCommand({
                  TableName: table,
                  Key: keys[worker % keys.length],
                  UpdateExpression: "SET v = v + :one",
                  ExpressionAttributeValues: { ":one": 1 },
                }),
              );
              return undefined;
            },
            "ops/s",
          ],
          [
            "batch_write",
            "BatchWriteItem of 25 new items",
            async () => {
              const batch = ++sequence;
              const items = Array.from({ length: 25 }, (_, i) => ({
                pk: `batch#${batch}`,
                sk: `${i}`,
                v: i,
              }));
              const result = await dynamo.client.send(
                new BatchWriteCommand({
                  RequestItems: { [table]: items.map((Item) => ({ PutRequest: { Item } })) },
                }),
              );
              return 25 - (result.UnprocessedItems?.[table]?.length ?? 0);
            },
            "items/s",
          ],
          [
            "transact_write",
            "TransactWriteItems of 4 new items",
            async () => {
              const id = ++sequence;
              await dynamo.client.send(
                new TransactWriteCommand({
                  TransactItems: Array.from({ length: 4 }, (_, i) => ({
                    Put: { TableName: table, Item: { pk: `transact#${id}`, sk: `${i}`, v: i } },
                  })),
                }),
              );
              return undefined;
            },
            "transactions/s",
          ],
        ];
        for (const [key, label, operation, unit] of operations) {
          const measured = await measure(operation, timing);
          const figure = throughputFigure(
            `dynamodb_local.${variant.name}.${key}`,
            `${label}, ${variant.label}, ${n} concurrent`,
            measured,
            unit,
          );
          context.log(`  ${figure.label}: ${figure.value.toFixed(0)} ${unit}`);
          figures.push(figure);
        }
      } finally {
        dynamo.destroy();
        await local.stop();
        if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      }
    }
    return figures;
  },
};
