import { configure, parseConfig } from "#core/config.js";
import { useDynamo } from "#core/dynamo/client.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import * as Flow from "#core/flow/index.js";
import { WATCH_KINDS, WATCH_SHARDS } from "#core/flow-run/keys.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import { checkHealth } from "#core/schedule/health.js";
import { DUE_SHARDS } from "#core/schedule/keys.js";
import { tick } from "#core/schedule/tick.js";
import type { Benchmark, Figure } from "./lib/types.js";

/**
 * One scheduler tick that must create the next 10 runs of N active flow groups spread over 100
 * workspaces (hourly cron clocks), against DynamoDB Local: wall time, and the DynamoDB requests it
 * made (counted by an SDK middleware) against the runs created and index updates; then a second
 * tick with nothing due, whose reads must be the same whatever N is (one Query per due shard).
 * N defaults to 1,000 (10,000 runs); BENCH_SCHEDULER_GROUPS overrides it.
 */
const WORKSPACES = 100;
const GROUPS = Number(process.env.BENCH_SCHEDULER_GROUPS ?? 1000);
const WRITES = new Set([
  "PutItemCommand",
  "UpdateItemCommand",
  "DeleteItemCommand",
  "BatchWriteItemCommand",
  "TransactWriteItemsCommand",
]);
const READS = new Set(["GetItemCommand", "QueryCommand", "BatchGetItemCommand"]);

function counter() {
  const counts = { writes: 0, writtenItems: 0, reads: 0 };
  useDynamo().middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName);
      if (WRITES.has(name)) {
        counts.writes++;
        const input = args.input as { RequestItems?: Record<string, unknown[]>; TransactItems?: unknown[] };
        counts.writtenItems += input.RequestItems
          ? Object.values(input.RequestItems).reduce((n, items) => n + items.length, 0)
          : (input.TransactItems?.length ?? 1);
      }
      if (READS.has(name)) counts.reads++;
      return next(args);
    },
    { step: "initialize", name: "droverBenchCounter" },
  );
  return {
    reset: () => Object.assign(counts, { writes: 0, writtenItems: 0, reads: 0 }),
    snapshot: () => ({ ...counts }),
  };
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

export const schedulerBenchmark: Benchmark = {
  name: "scheduler",
  description: `one tick creating the next 10 runs for ${GROUPS} flow groups over ${WORKSPACES} workspaces; a second tick with nothing due`,
  run: async (context) => {
    const dynamo = await context.environment.dynamo();
    const prefix = `drover-bench-sched-${Date.now().toString(36)}`;
    const config = parseConfig({
      AWS_REGION: "us-east-1",
      DROVER_DYNAMODB_ENDPOINT: dynamo.endpoint,
      DROVER_MAIN_TABLE: `${prefix}-main`,
      DROVER_KV_TABLE: `${prefix}-kv`,
      DROVER_LOGS_TABLE: `${prefix}-logs`,
    });
    configure(config);
    await ensureTables(config);

    context.log(`scheduler: registering ${GROUPS} scheduled flows in ${WORKSPACES} workspaces`);
    const workspaces: Array<{ tenant: string; project: string }> = [];
    for (let w = 0; w < WORKSPACES; w++) {
      const tenant = (await Workspace.create({ name: `bench-${w}` })).id;
      const project = await asTenant(tenant, () => Project.create({ name: "bench" }));
      workspaces.push({ tenant, project: project.id });
    }
    const seeded = Date.now();
    await pool(
      Array.from({ length: GROUPS }, (_, i) => i),
      16,
      async (i) => {
        const { tenant, project } = workspaces[i % WORKSPACES] as { tenant: string; project: string };
        await asTenant(tenant, () =>
          Flow.registerJson({
            project_id: project,
            serialized_flow: {
              name: `flow-${i}`,
              type: "prefect.core.flow.Flow",
              parameters: [],
              tasks: [{ slug: "only-1", name: "only", type: "prefect.tasks.core.function.FunctionTask" }],
              edges: [],
              schedule: { type: "Schedule", clocks: [{ type: "CronClock", cron: `${i % 60} * * * *` }] },
              run_config: { type: "UniversalRun", labels: [] },
              __version__: "1.4.1",
            },
          }),
        );
      },
    );
    context.log(`scheduler: seeded in ${((Date.now() - seeded) / 1000).toFixed(1)} s; first tick`);

    const counts = counter();
    const now = new Date(Date.now() + 1000);
    const t1 = performance.now();
    const first = await tick({ now, maxSchedules: GROUPS, budgetMs: 3_600_000, concurrency: 32 });
    const firstMs = performance.now() - t1;
    const firstCounts = counts.snapshot();
    counts.reset();
    const t2 = performance.now();
    const second = await tick({ now, maxSchedules: GROUPS });
    const secondMs = performance.now() - t2;
    const secondCounts = counts.snapshot();
    // The health checks with every run healthy (all Scheduled in the future): the watch index's shards only.
    counts.reset();
    const t3 = performance.now();
    const health = await checkHealth({ now });
    const healthMs = performance.now() - t3;
    const healthCounts = counts.snapshot();
    const healthQueries = WATCH_KINDS.length * WATCH_SHARDS;
    if (first.runsCreated !== GROUPS * 10 || first.failed > 0 || second.due !== 0)
      throw new Error(`unexpected ticks: ${JSON.stringify({ first, second })}`);

    const perRun = (firstCounts.writtenItems - first.indexUpdates) / first.runsCreated;
    const figures: Figure[] = [
      {
        key: "scheduler.first.wall",
        label: `first tick: ${first.runsCreated} runs for ${GROUPS} groups`,
        value: firstMs / 1000,
        unit: "s",
      },
      {
        key: "scheduler.first.runs_per_s",
        label: "first tick: runs created per second",
        value: first.runsCreated / (firstMs / 1000),
        unit: "runs/s",
      },
      {
        key: "scheduler.first.written_items",
        label: "first tick: items written (runs + index updates)",
        value: firstCounts.writtenItems,
        unit: "items",
        note: `runs ${first.runsCreated} + index updates ${first.indexUpdates}; ${perRun.toFixed(1)} items per run (run, state#1, 1 pre-created task run); ${firstCounts.writes} write requests`,
      },
      {
        key: "scheduler.first.reads",
        label: "first tick: read requests",
        value: firstCounts.reads,
        unit: "requests",
      },
      { key: "scheduler.idle.wall", label: "second tick, nothing due", value: secondMs, unit: "ms" },
      {
        key: "scheduler.idle.reads",
        label: "second tick, nothing due: read requests",
        value: secondCounts.reads,
        unit: "requests",
        note: `one Query per due shard (${DUE_SHARDS}), independent of the ${GROUPS} groups; writes ${secondCounts.writes}`,
        ...(secondCounts.reads > DUE_SHARDS || secondCounts.writes > 0
          ? { failure: "an idle tick must read only the due shards" }
          : {}),
      },
      {
        key: "scheduler.health_idle.wall",
        label: "health checks, all runs healthy",
        value: healthMs,
        unit: "ms",
      },
      {
        key: "scheduler.health_idle.reads",
        label: "health checks, all runs healthy: read requests",
        value: healthCounts.reads,
        unit: "requests",
        note: `one Query per watch kind and shard (${healthQueries}), independent of the ${first.runsCreated} Scheduled runs; writes ${healthCounts.writes}; candidates ${JSON.stringify(health.candidates)}`,
        ...(healthCounts.reads > healthQueries || healthCounts.writes > 0
          ? { failure: "health checks with nothing to do must read only the watch shards" }
          : {}),
      },
    ];
    return figures;
  },
};
