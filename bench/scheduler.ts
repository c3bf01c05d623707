import { randomUUID } from "node:crypto";
import { gzipSync } from "node:zlib";
import { BatchWriteCommand, GetCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { useConfig } from "#core/config.js";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as FlowGroup from "#core/flow/group.js";
import * as Flow from "#core/flow/index.js";
import { FlowKeys } from "#core/flow/keys.js";
import { WATCH_KINDS, WATCH_SHARDS } from "#core/flow-run/keys.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import { checkHealth } from "#core/schedule/health.js";
import { DUE_SHARDS, ScheduleKeys } from "#core/schedule/keys.js";
import { type TickResult, tick } from "#core/schedule/tick.js";
import { useFreshTables } from "./lib/environment.js";
import type { Benchmark, Figure } from "./lib/types.js";

/**
 * The scheduler's first ticks for N active flow groups (hourly crons, one task each) spread over
 * 100 workspaces, against DynamoDB Local: every group needs its next 10 runs. The ticks run with
 * the scheduler Lambda's own bounds (at most 1,000 schedules and 45 s per invocation, 32 DynamoDB
 * requests in flight), one after the other at the same instant, until every group was handled;
 * then one more tick with nothing due, whose reads must not depend on N, and the health checks
 * with every run healthy. DynamoDB requests are counted by an SDK middleware on core's client.
 *
 * N defaults to 1,000 (10,000 runs); BENCH_SCHEDULER_GROUPS overrides it (the figure is
 * 10,000). BENCH_SCHEDULER_MAX_SCHEDULES and BENCH_SCHEDULER_BUDGET_MS override the bounds (e.g.
 * one unbounded tick). Seeding: one flow per workspace is registered through core; the other
 * groups are copies of its items (name lock, group, flow, task, schedule index item) with fresh
 * ids and their own cron, written 25 per BatchWriteItem.
 */
const WORKSPACES = 100;
const GROUPS = Number(process.env.BENCH_SCHEDULER_GROUPS ?? 1000);
const MAX_SCHEDULES = process.env.BENCH_SCHEDULER_MAX_SCHEDULES
  ? Number(process.env.BENCH_SCHEDULER_MAX_SCHEDULES)
  : undefined;
const BUDGET_MS = process.env.BENCH_SCHEDULER_BUDGET_MS
  ? Number(process.env.BENCH_SCHEDULER_BUDGET_MS)
  : undefined;
const UPCOMING = 10;
const WRITES = new Set([
  "PutItemCommand",
  "UpdateItemCommand",
  "DeleteItemCommand",
  "BatchWriteItemCommand",
  "TransactWriteItemsCommand",
]);
const READS = new Set(["GetItemCommand", "QueryCommand", "BatchGetItemCommand"]);

type Counts = { writes: number; writtenItems: number; reads: number; puts: number; updates: number };

function counter() {
  const zero = (): Counts => ({ writes: 0, writtenItems: 0, reads: 0, puts: 0, updates: 0 });
  let counts = zero();
  // The scheduler's log lines (lateness, overlap) go to the logs table's client.
  for (const client of new Set([useDynamo(), useDynamo(useConfig().tables.logs)]))
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = String(context.commandName);
        if (WRITES.has(name)) {
          counts.writes++;
          const input = args.input as { RequestItems?: Record<string, unknown[]>; TransactItems?: unknown[] };
          counts.writtenItems += input.RequestItems
            ? Object.values(input.RequestItems).reduce((n, items) => n + items.length, 0)
            : (input.TransactItems?.length ?? 1);
          if (name === "PutItemCommand") counts.puts++;
          if (name === "UpdateItemCommand") counts.updates++;
        }
        if (READS.has(name)) counts.reads++;
        return next(args);
      },
      { step: "initialize", name: "droverBenchCounter" },
    );
  return {
    reset: () => {
      counts = zero();
    },
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

const cron = (i: number) => ({
  type: "Schedule",
  clocks: [{ type: "CronClock", cron: `${i % 60} * * * *` }],
});

function serializedFlow(name: string, i: number) {
  return {
    name,
    type: "prefect.core.flow.Flow",
    parameters: [],
    tasks: [{ slug: "only-1", name: "only", type: "prefect.tasks.core.function.FunctionTask" }],
    edges: [],
    schedule: cron(i),
    run_config: { type: "UniversalRun", labels: [] },
    __version__: "1.4.1",
  };
}

type Template = {
  tenant: string;
  project: string;
  name: string;
  items: Record<string, unknown>[];
  ids: Record<string, string>;
};

/** Registers workspace w's template flow through core and reads back every item registration wrote for it. */
async function template(w: number, tenant: string, project: string): Promise<Template> {
  const name = `bench-template-${w}`;
  return asTenant(tenant, async () => {
    const { id: flowId } = await Flow.registerJson({
      project_id: project,
      serialized_flow: serializedFlow(name, w),
    });
    const flow = await Flow.requireFlow(flowId);
    const get = async (key: { pk: string; sk: string }) => {
      const result = await useDynamo().send(
        new GetCommand({ TableName: mainTable(), Key: key, ConsistentRead: true }),
      );
      if (!result.Item) throw new Error(`template item ${key.pk} ${key.sk} missing`);
      return result.Item;
    };
    const tasks = await useDynamo().send(
      new QueryCommand({
        TableName: mainTable(),
        IndexName: "gsi1",
        KeyConditionExpression: "gsi1pk = :pk",
        ExpressionAttributeValues: { ":pk": FlowKeys.taskOfFlow(tenant, flowId, "").gsi1pk },
      }),
    );
    const items = [
      await get(FlowKeys.nameLock(tenant, project, name)),
      await get(FlowKeys.group(tenant, flow.flow_group_id)),
      await get(FlowKeys.flow(tenant, flowId)),
      ...(tasks.Items ?? []),
      await get(ScheduleKeys.schedule(tenant, flow.flow_group_id)),
    ];
    const ids: Record<string, string> = {
      flow: flowId,
      group: flow.flow_group_id,
      versionGroup: flow.version_group_id,
    };
    for (const task of tasks.Items ?? []) ids[`task:${String(task.slug)}`] = String(task.id);
    return { tenant, project, name, items, ids };
  });
}

function replaceAll(value: unknown, replacements: Array<[string, string]>): unknown {
  if (typeof value === "string") {
    let out = value;
    for (const [from, to] of replacements) if (out.includes(from)) out = out.split(from).join(to);
    return out;
  }
  if (Array.isArray(value)) return value.map((v) => replaceAll(v, replacements));
  if (value && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, replaceAll(v, replacements)]));
  return value;
}

let lastClone:
  | { tenant: string; flow: string; group: string; versionGroup: string; name: string }
  | undefined;

/** Reads a copied group back through core, as the scheduler and the API read it. */
async function checkClone(): Promise<void> {
  const c = lastClone;
  if (!c) return;
  await asTenant(c.tenant, async () => {
    const [flow, group, tasks] = await Promise.all([
      Flow.requireFlow(c.flow),
      FlowGroup.fromId(c.group),
      Flow.tasksOf(c.flow),
    ]);
    const ok =
      flow.name === c.name &&
      flow.flow_group_id === c.group &&
      flow.version_group_id === c.versionGroup &&
      group?.latest_flow_id === c.flow &&
      group.name === c.name &&
      tasks.length === 1 &&
      tasks[0]?.id === Flow.taskId(c.flow, "only-1");
    if (!ok)
      throw new Error(
        `a copied flow group does not read back as core wrote it: ${JSON.stringify({ flow, group, tasks })}`,
      );
  });
}

/** Group i as a copy of its workspace's template: fresh ids everywhere they appear, its own name and cron. */
function clone(from: Template, i: number): Record<string, unknown>[] {
  const name = `flow-${i}`;
  const versionGroup = randomUUID();
  const group = FlowGroup.groupId(from.tenant, versionGroup);
  const flow = randomUUID();
  const replacements: Array<[string, string]> = [
    [from.ids.flow as string, flow],
    [from.ids.group as string, group],
    [from.ids.versionGroup as string, versionGroup],
    [from.name, name],
  ];
  for (const [key, id] of Object.entries(from.ids))
    if (key.startsWith("task:")) replacements.push([id, Flow.taskId(flow, key.slice(5))]);
  const schedule = cron(i);
  lastClone = { tenant: from.tenant, flow, group, versionGroup, name };
  return from.items.map((item) => {
    const copy = replaceAll(item, replacements) as Record<string, unknown>;
    if (copy.entity === "flow") {
      copy.schedule = schedule;
      copy.serialized_flow_gz = gzipSync(JSON.stringify(serializedFlow(name, i))).toString("base64");
    }
    if (copy.sk === "schedule") {
      copy.schedule = schedule;
      copy.generation = randomUUID();
      Object.assign(copy, ScheduleKeys.due(from.tenant, group, String(copy.next_due)));
    }
    return copy;
  });
}

async function batchWrite(items: Record<string, unknown>[]) {
  let pending: Record<string, unknown[]> | undefined = {
    [mainTable()]: items.map((Item) => ({ PutRequest: { Item } })),
  };
  while (pending && Object.keys(pending).length > 0) {
    const result = await useDynamo().send(new BatchWriteCommand({ RequestItems: pending as never }));
    pending = result.UnprocessedItems as Record<string, unknown[]> | undefined;
  }
}

/** Due index items with their start at or before `now`: one COUNT Query per shard (paged). */
async function countDue(now: Date): Promise<number> {
  let total = 0;
  for (let shard = 0; shard < DUE_SHARDS; shard++) {
    let start: Record<string, unknown> | undefined;
    do {
      const page = await useDynamo().send(
        new QueryCommand({
          TableName: mainTable(),
          IndexName: "due",
          KeyConditionExpression: "due_pk = :pk AND due_sk <= :now",
          ExpressionAttributeValues: {
            ":pk": ScheduleKeys.duePartition(shard),
            ":now": `${now.toISOString()}#~`,
          },
          Select: "COUNT",
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      total += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
  }
  return total;
}

async function seed(log: (message: string) => void): Promise<void> {
  const started = Date.now();
  const workspaces: Array<{ tenant: string; project: string }> = [];
  for (let w = 0; w < WORKSPACES; w++) {
    const tenant = (await Workspace.create({ name: `bench-${w}` })).id;
    const project = await asTenant(tenant, () => Project.create({ name: "bench" }));
    workspaces.push({ tenant, project: project.id });
  }
  const templates: Template[] = [];
  await pool(
    workspaces.map((ws, w) => ({ ...ws, w })).slice(0, Math.min(GROUPS, WORKSPACES)),
    16,
    async ({ tenant, project, w }) => {
      templates[w] = await template(w, tenant, project);
    },
  );
  log(
    `scheduler: ${templates.length} template flows registered through core in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  const clones = Array.from({ length: Math.max(GROUPS - WORKSPACES, 0) }, (_, k) => k + WORKSPACES);
  const perBatch = Math.floor(25 / (templates[0]?.items.length ?? 5));
  const batches: number[][] = [];
  for (let k = 0; k < clones.length; k += perBatch) batches.push(clones.slice(k, k + perBatch));
  let done = 0;
  let reported = 0;
  await pool(batches, 8, async (batch) => {
    await batchWrite(batch.flatMap((i) => clone(templates[i % WORKSPACES] as Template, i)));
    done += batch.length;
    if (done - reported >= clones.length / 10 || done === clones.length) {
      reported = done;
      log(
        `scheduler: ${done + templates.length} / ${GROUPS} groups seeded (${((Date.now() - started) / 1000).toFixed(1)} s)`,
      );
    }
  });
  await checkClone();
}

export const schedulerBenchmark: Benchmark = {
  name: "scheduler",
  description: `the ticks creating the next 10 runs for ${GROUPS} flow groups over ${WORKSPACES} workspaces; a tick with nothing due`,
  run: async (context) => {
    await useFreshTables(await context.environment.dynamo(), "sched");

    context.log(`scheduler: seeding ${GROUPS} scheduled flow groups in ${WORKSPACES} workspaces`);
    const seeded = Date.now();
    await seed(context.log);
    const now = new Date(Date.now() + 1000);
    const due = await countDue(now);
    if (due !== GROUPS) throw new Error(`seeded ${GROUPS} groups but ${due} schedules are due`);
    context.log(`scheduler: seeded in ${((Date.now() - seeded) / 1000).toFixed(1)} s; ticking`);

    const counts = counter();
    const bounds = {
      ...(MAX_SCHEDULES ? { maxSchedules: MAX_SCHEDULES } : {}),
      ...(BUDGET_MS ? { budgetMs: BUDGET_MS } : {}),
    };
    const ticks: Array<TickResult & { ms: number }> = [];
    const total = { processed: 0, runsCreated: 0, indexUpdates: 0, failed: 0, ms: 0 };
    const t0 = performance.now();
    while (total.processed < GROUPS) {
      const t = performance.now();
      const result = await tick({ now, ...bounds });
      const ms = performance.now() - t;
      ticks.push({ ...result, ms });
      total.processed += result.processed;
      total.runsCreated += result.runsCreated;
      total.indexUpdates += result.indexUpdates;
      total.failed += result.failed;
      context.log(
        `scheduler: tick ${ticks.length}: ${result.processed} schedules, ${result.runsCreated} runs in ${(ms / 1000).toFixed(1)} s (${total.processed} / ${GROUPS})`,
      );
      if (result.processed === 0) throw new Error(`a tick handled nothing: ${JSON.stringify(result)}`);
    }
    total.ms = performance.now() - t0;
    const busy = counts.snapshot();
    counts.reset();
    const t2 = performance.now();
    const idle = await tick({ now, ...bounds });
    const idleMs = performance.now() - t2;
    const idleCounts = counts.snapshot();
    // The health checks with every run healthy (all Scheduled in the future): the watch index's shards only.
    counts.reset();
    const t3 = performance.now();
    const health = await checkHealth({ now });
    const healthMs = performance.now() - t3;
    const healthCounts = counts.snapshot();
    const healthQueries = WATCH_KINDS.length * WATCH_SHARDS;
    if (total.runsCreated !== GROUPS * UPCOMING || total.failed > 0 || idle.due !== 0)
      throw new Error(`unexpected ticks: ${JSON.stringify({ total, idle })}`);

    // Each run created is also counted towards its workspace's stored-run quota (one UpdateItem,
    // core/src/limits/quota.ts), and each workspace's one label set (no labels) is listed once for
    // the agents' queue (core/src/flow-run/ready-index.ts).
    const labelSets = Math.min(GROUPS, WORKSPACES);
    const expectedItems = 2 * total.runsCreated + total.indexUpdates + labelSets;
    const perTick = ticks.map((t) => `${(t.ms / 1000).toFixed(1)} s / ${t.processed}`).join(", ");
    const figures: Figure[] = [
      {
        key: "scheduler.ticks.wall",
        label: `${ticks.length} tick(s) until every group has its runs: ${total.runsCreated} runs for ${GROUPS} groups`,
        value: total.ms / 1000,
        unit: "s",
        note: `per tick (wall / schedules): ${perTick}; bounds ${JSON.stringify({ maxSchedules: MAX_SCHEDULES ?? "default 1000", budgetMs: BUDGET_MS ?? "default 45000" })}`,
      },
      {
        key: "scheduler.ticks.longest",
        label: "longest tick",
        value: Math.max(...ticks.map((t) => t.ms)) / 1000,
        unit: "s",
      },
      {
        key: "scheduler.ticks.runs_per_s",
        label: "runs created per second",
        value: total.runsCreated / (total.ms / 1000),
        unit: "runs/s",
      },
      {
        key: "scheduler.ticks.written_items",
        label: "items written (must be runs created × 2 (run, quota counter) + index updates + label sets)",
        value: busy.writtenItems,
        unit: "items",
        note: `runs ${total.runsCreated} × 2 + index updates ${total.indexUpdates} + label sets ${labelSets} = ${expectedItems}; ${busy.writes} write requests (${busy.puts} PutItem, ${busy.updates} UpdateItem)`,
        ...(busy.writtenItems !== expectedItems
          ? {
              failure:
                "the ticks must write one item and one quota count per run created, one index update per schedule and one entry per label set",
            }
          : {}),
      },
      {
        key: "scheduler.ticks.reads",
        label: "read requests",
        value: busy.reads,
        unit: "requests",
        note: `${ticks.length} × ${DUE_SHARDS} due-shard Queries (more when a shard has more than its share) + the flow and group of each schedule (${2 * total.processed} GetItem)`,
      },
      { key: "scheduler.idle.wall", label: "tick with nothing due", value: idleMs, unit: "ms" },
      {
        key: "scheduler.idle.reads",
        label: "tick with nothing due: read requests",
        value: idleCounts.reads,
        unit: "requests",
        note: `one Query per due shard (${DUE_SHARDS}), independent of the ${GROUPS} groups; writes ${idleCounts.writes}`,
        ...(idleCounts.reads > DUE_SHARDS || idleCounts.writes > 0
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
        note: `one Query per watch kind and shard (${healthQueries}), independent of the ${total.runsCreated} Scheduled runs; writes ${healthCounts.writes}; candidates ${JSON.stringify(health.candidates)}`,
        ...(healthCounts.reads > healthQueries || healthCounts.writes > 0
          ? { failure: "health checks with nothing to do must read only the watch shards" }
          : {}),
      },
    ];
    return figures;
  },
};
