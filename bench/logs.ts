import { performance } from "node:perf_hooks";
import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { BatchWriteCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { LogKeys } from "#core/log/keys.js";
import { packMessages } from "#core/log/message.js";
import { lineCountOf } from "#core/log/read.js";
import { prepare } from "#core/log/record.js";
import { chunkItems } from "#core/log/store.js";
import { createSqsClient } from "#core/sqs/client.js";
import { graphqlClient, startBenchRuntime } from "./lib/api.js";
import { throughputFigure } from "./lib/figures.js";
import { serialFloor } from "./lib/floor.js";
import { measure, type Operation } from "./lib/measure.js";
import { summarizeLatencies } from "./lib/stats.js";
import type { Benchmark, Figure } from "./lib/types.js";

/**
 * Run logs end to end, as flow runners send them: `write_run_logs` batches of 100 lines from 32
 * concurrent writers (one flow run each) through the local runtime's API, fauxqs and the
 * functions/logs consumer into DynamoDB Local. The rate counts a line once it is queryable (in the
 * logs table), from the start of the measured phase until the last acknowledged line is stored.
 * The floor, measured in the same run on the same emulators: the same lines sent to SQS (one
 * 100-line message per batch, as Drover packs them) and batch-written (25 per BatchWriteItem),
 * 32 concurrent, combined with `serialFloor` (per-line times add).
 */
const LINES = 100;
const WRITE = "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }";
const TENANT = "3f1c2b9e-5d7a-4e11-8f0c-6a2b4c8d9e01";
const RUN = "a6d0e4f2-1b3c-4d5e-8f70-9a1b2c3d4e5f";
const DRAIN_TIMEOUT_MS = 120_000;

function lines(flowRunId: string, sequence: number) {
  const base = Date.UTC(2026, 10, 21) + sequence * LINES;
  return Array.from({ length: LINES }, (_, i) => ({
    flow_run_id: flowRunId,
    task_run_id: null,
    timestamp: new Date(base + i).toISOString(),
    name: "prefect.CloudTaskRunner",
    level: "INFO",
    message: `Task 'extract[${i}]': Finished task run for task with final state: 'Success' (${sequence})`,
  }));
}

export const logsBenchmark: Benchmark = {
  name: "logs",
  description: "write_run_logs end to end (acknowledged → queryable) vs raw SQS send + BatchWriteItem",
  run: async (context) => {
    const dynamo = await context.environment.dynamo();
    const sqs = await context.environment.sqs();
    const n = context.options.concurrency;
    const timing = {
      concurrency: n,
      durationMs: context.options.durationMs,
      warmupMs: context.options.warmupMs,
    };
    const figures: Figure[] = [];
    const record = (figure: Figure) => {
      figures.push(figure);
      const ratio = figure.floor ? ` (${(figure.value / figure.floor.value).toFixed(2)}x floor)` : "";
      context.log(`  ${figure.label}: ${figure.value.toFixed(1)} ${figure.unit}${ratio}`);
    };

    // The floor: the same lines, SQS then DynamoDB, without Drover.
    const queueUrl = await sqs.createQueue("logs-floor");
    const floorRecords = (sequence: number) =>
      prepare(TENANT, lines(RUN, sequence), new Date().toISOString()).records;
    const send: Operation = async (_worker, sequence) => {
      const [body] = packMessages(TENANT, floorRecords(sequence));
      await sqs.client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
      return LINES;
    };
    const table = dynamo.config.tables.logs;
    const write: Operation = async (_worker, sequence) => {
      const items = chunkItems(TENANT, floorRecords(sequence), 2_000_000_000);
      for (let i = 0; i < items.length; i += 25) {
        const result = await dynamo.logsClient.send(
          new BatchWriteCommand({
            RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
          }),
        );
        if ((result.UnprocessedItems?.[table]?.length ?? 0) > 0) throw new Error("unprocessed items");
      }
      return LINES;
    };
    const sendFigure = throughputFigure(
      "logs.floor.sqs_send",
      `SQS SendMessage of a ${LINES}-line log message, ${n} concurrent`,
      await measure(send, timing),
      "lines/s",
    );
    const writeFigure = throughputFigure(
      "logs.floor.batch_write",
      `DynamoDB BatchWriteItem of log lines (25/request), ${n} concurrent`,
      await measure(write, timing),
      "lines/s",
    );
    record(sendFigure);
    record(writeFigure);
    const floor = serialFloor(
      "SQS send + BatchWriteItem of the same lines",
      [sendFigure, writeFigure],
      "lines/s",
    );

    const runtime = await startBenchRuntime(context, "drover-bench-logs");
    const ingest = createSqsClient(runtime.config);
    try {
      const graphql = graphqlClient(runtime.graphqlUrl, runtime.bootstrap.secret ?? "");
      const project = (await graphql(
        "mutation($i: create_project_input!) { create_project(input: $i) { id } }",
        {
          i: { name: `bench-logs-${Date.now()}` },
        },
      )) as { create_project: { id: string } };
      const flow = (await graphql("mutation($i: create_flow_input!) { create_flow(input: $i) { id } }", {
        i: {
          project_id: project.create_project.id,
          serialized_flow: {
            name: "bench-logs",
            type: "prefect.core.flow.Flow",
            parameters: [],
            tasks: [{ slug: "extract-1", name: "extract", type: "prefect.tasks.core.function.FunctionTask" }],
            edges: [],
            run_config: { type: "UniversalRun", labels: [] },
            __version__: "1.4.1",
          },
        },
      })) as { create_flow: { id: string } };
      const runs: string[] = [];
      for (let i = 0; i < n; i++) {
        const run = (await graphql(
          "mutation($i: create_flow_run_input!) { create_flow_run(input: $i) { id } }",
          {
            i: { flow_id: flow.create_flow.id },
          },
        )) as { create_flow_run: { id: string } };
        runs.push(run.create_flow_run.id);
      }

      let acknowledged = 0;
      // Every batch distinct across phases (`sequence` restarts with each measure): equal lines would
      // get equal ids and be stored once.
      let batches = 0;
      const writeLogs: Operation = async (worker) => {
        await graphql(WRITE, { input: { logs: lines(runs[worker % runs.length] ?? "", batches++) } });
        acknowledged += LINES;
        return LINES;
      };
      const stored = async () => {
        const counts = await Promise.all(
          runs.map(async (id) => {
            let count = 0;
            let cursor: Record<string, unknown> | undefined;
            do {
              const page = await dynamo.logsClient.send(
                new QueryCommand({
                  TableName: runtime.config.tables.logs,
                  KeyConditionExpression: "pk = :pk",
                  ExpressionAttributeValues: { ":pk": LogKeys.partition(runtime.bootstrap.workspace.id, id) },
                  ProjectionExpression: "line_count",
                  ExclusiveStartKey: cursor,
                }),
              );
              for (const item of page.Items ?? []) count += lineCountOf(item);
              cursor = page.LastEvaluatedKey;
            } while (cursor);
            return count;
          }),
        );
        return counts.reduce((a, b) => a + b, 0);
      };
      // The consumer deletes a message only once its lines are written, so an empty queue (nothing
      // visible, nothing in flight) means every acknowledged line is queryable; counting the table
      // instead would compete with the consumer for DynamoDB Local. The count is checked after.
      const inQueue = async () => {
        const { Attributes } = await ingest.send(
          new GetQueueAttributesCommand({
            QueueUrl: runtime.ingestQueueUrl,
            AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
          }),
        );
        return (
          Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
          Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
        );
      };
      const drained = async () => {
        const deadline = performance.now() + DRAIN_TIMEOUT_MS;
        for (;;) {
          const left = await inQueue();
          if (left === 0) return performance.now();
          if (performance.now() > deadline)
            throw new Error(`lines still not stored after ${DRAIN_TIMEOUT_MS} ms`);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      };

      // Warm-up (JIT of the API and consumer), drained before the measured phase starts.
      await measure(writeLogs, { concurrency: n, durationMs: Math.max(2000, context.options.warmupMs) });
      await drained();
      const before = acknowledged;
      const start = performance.now();
      const sustained = await measure(writeLogs, { concurrency: n, durationMs: context.options.durationMs });
      const end = await drained();
      const lines_ = acknowledged - before;
      const e2e: Figure = {
        key: "logs.e2e.concurrent",
        label: `Log lines acknowledged → queryable, write_run_logs of ${LINES} lines, ${n} concurrent writers`,
        value: (lines_ * 1000) / (end - start),
        unit: "lines/s",
        latencyMs: sustained.latencyMs,
        errors: sustained.errors,
        floor,
        note: `${lines_} lines; writers ran ${sustained.elapsedMs.toFixed(0)} ms, the last line was stored ${(end - start - sustained.elapsedMs).toFixed(0)} ms after; acknowledged-only rate ${sustained.itemsPerSecond.toFixed(0)} lines/s${sustained.firstError ? `; first error: ${sustained.firstError}` : ""}`,
      };
      record(e2e);
      for (const p of ["p50", "p99"] as const) {
        record({
          key: `logs.write_run_logs.concurrent.${p}`,
          label: `write_run_logs (${LINES} lines) latency under ${n} concurrent writers: ${p}`,
          value: sustained.latencyMs[p],
          unit: "ms",
        });
      }
      // Latency of one writer alone (the steady state of a few flow runs).
      const latencies: number[] = [];
      await measure(
        async (worker, sequence) => {
          const begin = performance.now();
          await writeLogs(worker, sequence);
          latencies.push(performance.now() - begin);
          return LINES;
        },
        { concurrency: 1, count: 100 },
      );
      const alone = summarizeLatencies(latencies.sort((a, b) => a - b));
      for (const p of ["p50", "p99"] as const) {
        record({
          key: `logs.write_run_logs.sequential.${p}`,
          label: `write_run_logs (${LINES} lines) latency, one writer: ${p}`,
          value: alone[p],
          unit: "ms",
        });
      }
      await drained();
      const count = await stored();
      if (count !== acknowledged) throw new Error(`${acknowledged} lines acknowledged but ${count} stored`);
      return figures;
    } finally {
      ingest.destroy();
      await runtime.stop();
    }
  },
};
