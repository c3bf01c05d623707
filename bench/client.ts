import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import {
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { LogKeys } from "#core/log/keys.js";
import { packMessages } from "#core/log/message.js";
import { lineCountOf } from "#core/log/read.js";
import { prepare } from "#core/log/record.js";
import { chunkItems } from "#core/log/store.js";
import { compress, mappedFlow, state } from "../tests/helpers/prefect-flow.js";
import { type BenchRuntime, type Gql, graphqlClient, startBenchRuntime } from "./lib/api.js";
import { cpuPerOperation, formatCpu, sampleCpu } from "./lib/cpu.js";
import type { DynamoCounts } from "./lib/dynamo-counter.js";
import { type BenchDynamo, dynamoAt } from "./lib/environment.js";
import { throughputFigure } from "./lib/figures.js";
import { floorOf } from "./lib/floor.js";
import { type Measurement, measure, type Operation } from "./lib/measure.js";
import { measurePaired, type Paired, roundRatios } from "./lib/paired.js";
import { warmUntilCompiled } from "./lib/settle.js";
import { summarizeLatencies } from "./lib/stats.js";
import type { BenchContext, Benchmark, Figure } from "./lib/types.js";
import { runWorkers } from "./lib/workers.js";

/**
 * The Prefect 1.4.1 client's own workload on the runtime users start: the whole local runtime with
 * a DynamoDB Local of its own, on disk in a fresh data folder as `npm start` runs it, then in memory
 * as `npm start -- --in-memory` does (DROVER_BENCH_CLIENT_MODES=disk or memory picks one;
 * DROVER_BENCH_CLIENT_PHASES=logs,runs picks phases), with the
 * defaults users get (rate limits and fair shares on). The requests are the client's, as recorded
 * in tests/fixtures/prefect1/client-requests.jsonl, for the recorded session's two-task flow (a
 * list, and a task mapped over it):
 * - `create_flow_run` with an idempotency key, as `prefect run` and the agent's schedules do;
 * - a task run's life as CloudTaskRunner drives a mapped child: `get_or_create_task_run_info` for a
 *   new map index, Running with the version it got, then Success with `version: null`;
 * - `update_flow_run_heartbeat` (the flow runner sends one every 30 s per running flow run);
 * - `write_run_logs` in batches of 100 from 32 writers, until every acknowledged line can be read;
 * - a whole flow run as agent and flow runner send it: create, poll, the agent's read, Submitted,
 *   the runner's read, Running, a heartbeat, the settings read, both tasks, MAPPED mapped children,
 *   the final state and the run's logs.
 * Each figure is measured against the raw DynamoDB requests the protocol needs, on the same
 * DynamoDB Local, in alternating rounds (bench/lib/paired.ts), and notes the API's DynamoDB
 * requests per operation (counted inside the runtime) and each process's CPU per operation.
 */
const MAPPED = 5;
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const COUNTED = 300;
/** The phases measured (all unless DROVER_BENCH_CLIENT_PHASES names some, comma-separated). */
const ALL_PHASES = ["create_flow_run", "task_run", "heartbeat", "logs", "runs"];
const PHASES = new Set(
  (process.env.DROVER_BENCH_CLIENT_PHASES ?? ALL_PHASES.join(",")).split(",").filter(Boolean),
);
for (const phase of PHASES)
  if (!ALL_PHASES.includes(phase))
    throw new Error(`DROVER_BENCH_CLIENT_PHASES: unknown phase ${phase} (one of ${ALL_PHASES.join(", ")})`);
const LOG_LINES = Number(process.env.DROVER_BENCH_CLIENT_LOG_LINES ?? 30_000);
const LOGS_PER_CALL = 100;

const Q = {
  createRun: "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
  flowStates:
    "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status id message } } }",
  taskStates:
    "mutation($input: set_task_run_states_input!) { set_task_run_states(input: $input) { states { status id message } } }",
  logs: "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
  queue: "mutation($input: get_runs_in_queue_input!) { get_runs_in_queue(input: $input) { flow_run_ids } }",
  heartbeat: (id: string) =>
    `mutation { update_flow_run_heartbeat(input: { flow_run_id: "${id}" }) { success } }`,
  taskRunInfo: (flowRunId: string, taskId: string, mapIndex: number) =>
    `mutation { get_or_create_task_run_info(input: { flow_run_id: "${flowRunId}", task_id: "${taskId}", map_index: ${mapIndex} }) { id version serialized_state } }`,
  agentRead: (id: string, before: string) =>
    `query { flow_run(where: { id: { _in: ["${id}"] }, _or: [{ state: { _eq: "Scheduled" } }, { state: { _eq: "Running" }, task_runs: { state_start_time: { _lte: "${before}" } } }] }) { id version state serialized_state parameters scheduled_start_time run_config name flow { version environment id name storage core_version } task_runs(where: { state_start_time: { _lte: "${before}" } }) { task_id version serialized_state id } } }`,
  runnerRead: (id: string) =>
    `query { flow_run_by_pk(id: "${id}") { id name flow_id parameters context version scheduled_start_time serialized_state task_runs(where: { map_index: { _eq: -1 } }) { id task { id slug } version serialized_state } flow { project { name id } } } }`,
  settings: (id: string) => `query { flow_run_by_pk(id: "${id}") { flow { settings } } }`,
};

type Space = {
  tenantId: string;
  gql: Gql;
  flowId: string;
  tasks: { items: string; work: string };
};

async function setUp(url: string, name: string): Promise<Space> {
  const tenant = await Workspace.create({ name });
  const key = await asTenant(tenant.id, () => ApiKey.create({ name: "bench" }));
  const base = graphqlClient(url, key.secret);
  const headers = { "X-PREFECT-TENANT-ID": tenant.id, "X-PREFECT-CORE-VERSION": "1.4.1" };
  const gql: Gql = (query, variables, extra) => base(query, variables, { ...headers, ...extra });
  const project = (
    await gql("mutation($input: create_project_input!) { create_project(input: $input) { id } }", {
      input: { name: "bench", description: null, tenant_id: tenant.id },
    })
  ).create_project as { id: string };
  const flow = (
    await gql(
      "mutation($input: create_flow_from_compressed_string_input!) { create_flow_from_compressed_string(input: $input) { id } }",
      {
        input: {
          project_id: project.id,
          serialized_flow: compress(mappedFlow("hello-flow")),
          set_schedule_active: false,
        },
      },
    )
  ).create_flow_from_compressed_string as { id: string };
  const read = (await gql(`query { flow_by_pk(id: "${flow.id}") { tasks { id slug } } }`)).flow_by_pk as {
    tasks: Array<{ id: string; slug: string }>;
  };
  const task = (slug: string) => {
    const found = read.tasks.find((t) => t.slug === slug);
    if (!found) throw new Error(`task ${slug} not registered`);
    return found.id;
  };
  return {
    tenantId: tenant.id,
    gql,
    flowId: flow.id,
    tasks: { items: task("items-1"), work: task("work-1") },
  };
}

let keys = 0;
const idempotencyKey = () => `${process.pid}-${Date.now().toString(36)}-${++keys}`;

async function createRun(space: Space, labels?: string[]): Promise<string> {
  const created = await space.gql(Q.createRun, {
    input: {
      flow_id: space.flowId,
      idempotency_key: idempotencyKey(),
      parameters: {},
      ...(labels ? { labels } : {}),
      context: {},
    },
  });
  return (created.create_flow_run as { id: string }).id;
}

async function setFlowState(space: Space, id: string, version: number | null, type: string) {
  await space.gql(Q.flowStates, {
    input: { states: [{ flow_run_id: id, version, state: state(type, { context: {} }) }] },
  });
}

async function setTaskState(space: Space, id: string, version: number | null, type: string) {
  const answer = await space.gql(Q.taskStates, {
    input: { states: [{ task_run_id: id, version, state: state(type) }] },
  });
  const status = (answer.set_task_run_states as { states: Array<{ status: string }> }).states[0]?.status;
  if (status !== "SUCCESS") throw new Error(`set_task_run_states answered ${status}`);
}

/** One task run's life as the task runner drives it: info (created on first ask), Running, final. */
async function taskRunLife(
  space: Space,
  flowRunId: string,
  taskId: string,
  mapIndex: number,
  final = "Success",
) {
  const info = (await space.gql(Q.taskRunInfo(flowRunId, taskId, mapIndex))).get_or_create_task_run_info as {
    id: string;
    version: number;
  };
  await setTaskState(space, info.id, info.version, "Running");
  await setTaskState(space, info.id, null, final);
}

/** Running flow runs, one per worker, each with its own run of new map indexes. */
async function runningRuns(space: Space, count: number) {
  const runs: Array<{ id: string; next: number }> = [];
  for (let i = 0; i < count; i++) {
    const id = await createRun(space);
    await setFlowState(space, id, null, "Running");
    runs.push({ id, next: 0 });
  }
  return runs;
}

export const clientBenchmark: Benchmark = {
  name: "client",
  description:
    "The Prefect 1.4.1 client's own requests (create_flow_run, mapped task runs, heartbeats, logs, a whole run) on npm start's runtime, on disk and in memory",
  run: async (context) => {
    const modes = (process.env.DROVER_BENCH_CLIENT_MODES ?? "disk,memory").split(",").filter(Boolean);
    const figures: Figure[] = [];
    for (const mode of modes) {
      if (mode !== "disk" && mode !== "memory")
        throw new Error(`DROVER_BENCH_CLIENT_MODES: unknown mode ${mode}`);
      const dataDir = mode === "disk" ? mkdtempSync(join(tmpdir(), "drover-bench-client-")) : undefined;
      const runtime = await startBenchRuntime(context, "drover-local", {
        limits: "configured",
        storage: { own: true, ...(dataDir ? { dataDir } : {}) },
      });
      const dynamo = await dynamoAt(runtime.dynamoEndpoint, "client-floor");
      try {
        figures.push(...(await measureMode(context, mode, runtime, dynamo)));
      } finally {
        dynamo.destroy();
        await runtime.stop();
        if (dataDir) rmSync(dataDir, { recursive: true, force: true });
      }
    }
    return figures;
  },
};

async function measureMode(
  context: BenchContext,
  mode: "disk" | "memory",
  runtime: BenchRuntime,
  dynamo: BenchDynamo,
): Promise<Figure[]> {
  const n = context.options.concurrency;
  const given = new Set(context.options.given ?? []);
  const timing = {
    concurrency: n,
    durationMs: given.has("duration") ? context.options.durationMs : 5000,
    warmupMs: given.has("warmup") ? context.options.warmupMs : 1000,
  };
  const where = mode === "disk" ? "on disk (npm start)" : "in memory (npm start -- --in-memory)";
  const figures: Figure[] = [];
  const record = (figure: Figure) => {
    figures.push(figure);
    const ratio = figure.floor ? ` (${(figure.value / figure.floor.value).toFixed(2)}x floor)` : "";
    const p99 = figure.latencyMs ? `, p99 ${figure.latencyMs.p99.toFixed(0)} ms` : "";
    context.log(`  [${mode}] ${figure.label}: ${figure.value.toFixed(1)} ${figure.unit}${p99}${ratio}`);
  };
  const space = await setUp(runtime.graphqlUrl, `bench-client-${mode}`);
  const floors = rawFloors(dynamo, n);

  // create_flow_run, as `prefect run` sends it.
  const create: Operation = async () => {
    await createRun(space);
    return undefined;
  };
  // A mapped child's life: each worker asks for the next map index of its own Running flow run.
  const runs = await runningRuns(space, n);
  const taskRun: Operation = async (worker) => {
    const run = runs[worker % runs.length];
    if (!run) throw new Error("no flow run");
    await taskRunLife(space, run.id, space.tasks.work, run.next++);
    return undefined;
  };
  const heartbeat: Operation = async (worker) => {
    const run = runs[worker % runs.length];
    if (!run) throw new Error("no flow run");
    const answer = await space.gql(Q.heartbeat(run.id), {}, { "X-PREFECT-HEARTBEAT-ID": run.id });
    if (!(answer.update_flow_run_heartbeat as { success: boolean }).success)
      throw new Error("heartbeat refused");
    return undefined;
  };

  const warm = await warmUntilCompiled(
    [create, taskRun, heartbeat, await floors.create(), await floors.taskRun(), await floors.heartbeat()],
    n,
    { minMs: 4000, maxMs: 60_000, sliceMs: 1500, quietCores: 0.05 },
  );
  context.log(
    `  [${mode}] warmed up ${(warm.elapsedMs / 1000).toFixed(0)} s (DynamoDB Local's JIT ${warm.settled ? "quiet" : "still busy"})`,
  );

  const measured: Array<{
    key: string;
    label: string;
    ours: Operation;
    floor: () => Promise<Operation>;
    floorLabel: string;
    unit: string;
    calls: number;
  }> = [
    {
      key: "create_flow_run",
      label: `create_flow_run (2-task flow, idempotency key), ${n} clients, ${where}`,
      ours: create,
      floor: floors.create,
      floorLabel: "one TransactWriteItems: the idempotency key if absent, the run and its 2 task runs",
      unit: "runs/s",
      calls: 1,
    },
    {
      key: "task_run",
      label: `task runs completed, the client's pattern (get_or_create_task_run_info for a new mapped child, Running, Success), ${n} clients, ${where}`,
      ours: taskRun,
      floor: floors.taskRun,
      floorLabel:
        "GetItem (the flow run's flow), PutItem if absent (the child), GetItem (the flow run's state), UpdateItem if version, UpdateItem",
      unit: "task runs/s",
      calls: 3,
    },
    {
      key: "heartbeat",
      label: `update_flow_run_heartbeat, ${n} clients, ${where}`,
      ours: heartbeat,
      floor: floors.heartbeat,
      floorLabel: "one UpdateItem SET heartbeat",
      unit: "ops/s",
      calls: 1,
    },
  ];
  for (const m of measured) {
    if (!PHASES.has(m.key)) continue;
    const counted = await countRequests(runtime, m.ours, n);
    const paired = await measurePaired(m.ours, await m.floor(), timing, ROUNDS);
    const floorFigure = throughputFigure(`client.${mode}.${m.key}.floor`, m.floorLabel, paired.floor, m.unit);
    record(
      throughputFigure(`client.${mode}.${m.key}`, m.label, paired.ours, m.unit, {
        floor: floorOf(floorFigure, `${m.floorLabel}, ${n} concurrent, alongside`),
        note: `target: at least 0.5 of the floor; ${m.calls > 1 ? `${(paired.ours.itemsPerSecond * m.calls).toFixed(0)} protocol calls/s; ` : ""}${roundRatios(paired)}; ${describeCounts(counted)}; ${cpuNote(paired)}`,
      }),
    );
  }

  if (PHASES.has("logs")) record(await logs(context, mode, where, runtime, dynamo, space));
  if (PHASES.has("runs")) record(await wholeRuns(mode, where, runtime, space, timing));
  return figures;
}

/** The API's DynamoDB requests per operation, over COUNTED operations of their own. */
async function countRequests(runtime: BenchRuntime, operation: Operation, concurrency: number) {
  await runtime.counts();
  const measured = await measure(operation, { concurrency, count: COUNTED });
  return { counts: await runtime.counts(), operations: measured.operations };
}

function describeCounts({ counts, operations }: { counts: DynamoCounts; operations: number }): string {
  const per = (value: number) => (value / Math.max(1, operations)).toFixed(2);
  const commands = Object.entries(counts.byCommand)
    .sort((a, b) => b[1] - a[1])
    .map(([command, count]) => `${command.replace(/Command$/, "")} ${per(count)}`)
    .join(", ");
  return `DynamoDB per operation: ${per(counts.requests)} requests (${commands}), ${per(counts.itemsRead)} items read, ${per(counts.itemsWritten)} written, ~${per(counts.writeUnits)} WCU`;
}

function cpuNote(paired: Paired): string {
  return `CPU per operation: ours ${formatCpu(paired.ours.cpuMsPerOperation)}; floor ${formatCpu(paired.floor.cpuMsPerOperation)}`;
}

/** A flow-run-sized item, keyed like the runtime's but in the floor tables. */
function runItem(pk: string, sk: string): Record<string, unknown> {
  return {
    pk,
    sk,
    version: 0,
    state: "Scheduled",
    flow_id: "0b7f3c1e-7d6a-4c55-9a51-2f0d8c3e4b11",
    name: "bench-item",
    labels: [],
    parameters: "{}",
    serialized_state: JSON.stringify(state("Scheduled")),
    scheduled_start_time: "2026-11-21T00:00:00.000Z",
  };
}

/** The raw DynamoDB requests each protocol operation needs, on the floor tables. */
function rawFloors(dynamo: BenchDynamo, concurrency: number) {
  const table = dynamo.config.tables.main;
  let sequence = 0;
  return {
    create: async (): Promise<Operation> => async () => {
      const id = `bench#create#${++sequence}`;
      await dynamo.client.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: table,
                Item: { pk: `${id}#idempotency`, sk: "key" },
                ConditionExpression: "attribute_not_exists(pk)",
              },
            },
            { Put: { TableName: table, Item: runItem(id, "run") } },
            { Put: { TableName: table, Item: runItem(id, "task#1") } },
            { Put: { TableName: table, Item: runItem(id, "task#2") } },
          ],
        }),
      );
      return undefined;
    },
    taskRun: async (): Promise<Operation> => {
      const runs = Array.from({ length: concurrency }, (_, i) => `bench#running#${++sequence}#${i}`);
      for (const pk of runs)
        await dynamo.client.send(new PutCommand({ TableName: table, Item: runItem(pk, "run") }));
      const readRun = (worker: number, attribute: string) =>
        dynamo.client.send(
          new GetCommand({
            TableName: table,
            Key: { pk: runs[worker % runs.length], sk: "run" },
            ProjectionExpression: "#a",
            ExpressionAttributeNames: { "#a": attribute },
            ConsistentRead: true,
          }),
        );
      return async (worker) => {
        const child = { pk: `bench#child#${++sequence}`, sk: "run" };
        await readRun(worker, "flow_id");
        await dynamo.client.send(
          new PutCommand({
            TableName: table,
            Item: runItem(child.pk, child.sk),
            ConditionExpression: "attribute_not_exists(pk)",
          }),
        );
        await readRun(worker, "state");
        for (const [expected, type] of [
          [0, "Running"],
          [null, "Success"],
        ] as const) {
          await dynamo.client.send(
            new UpdateCommand({
              TableName: table,
              Key: child,
              UpdateExpression: "SET #version = #version + :one, #state = :state, serialized_state = :s",
              ...(expected === null ? {} : { ConditionExpression: "#version = :expected" }),
              ExpressionAttributeNames: { "#version": "version", "#state": "state" },
              ExpressionAttributeValues: {
                ":one": 1,
                ":state": type,
                ":s": JSON.stringify(state(type)),
                ...(expected === null ? {} : { ":expected": expected }),
              },
            }),
          );
        }
        return undefined;
      };
    },
    heartbeat: async (): Promise<Operation> => {
      const runs = Array.from({ length: concurrency }, (_, i) => `bench#heartbeat#${++sequence}#${i}`);
      for (const pk of runs)
        await dynamo.client.send(new PutCommand({ TableName: table, Item: runItem(pk, "run") }));
      return async (worker) => {
        await dynamo.client.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk: runs[worker % runs.length], sk: "run" },
            UpdateExpression: "SET heartbeat = :now",
            ExpressionAttributeValues: { ":now": new Date().toISOString() },
          }),
        );
        return undefined;
      };
    },
  };
}

/**
 * LOG_LINES lines from `concurrency` writers in calls of LOGS_PER_CALL, each writer into its own
 * flow run, then the time until every acknowledged line is stored (the ingestion queue empty and
 * the lines counted in the logs table); against the raw requests a stored call is made of
 * (`logsFloor`), measured right after for as long as the store took.
 */
async function logs(
  context: BenchContext,
  mode: string,
  where: string,
  runtime: BenchRuntime,
  dynamo: BenchDynamo,
  space: Space,
): Promise<Figure> {
  const n = context.options.concurrency;
  const runs = await runningRuns(space, n);
  const sqs = new SQSClient({
    endpoint: runtime.sqsEndpoint,
    region: runtime.config.region,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  const queued = async () => {
    const answer = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: runtime.ingestQueueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    const a = answer.Attributes ?? {};
    return Number(a.ApproximateNumberOfMessages ?? 0) + Number(a.ApproximateNumberOfMessagesNotVisible ?? 0);
  };
  const calls = Math.ceil(LOG_LINES / LOGS_PER_CALL);
  let sent = 0;
  const latencies: number[] = [];
  await runtime.counts();
  const cpuBefore = sampleCpu();
  const started = performance.now();
  await runWorkers(n, async (worker) => {
    const run = runs[worker % runs.length];
    if (!run) return;
    while (sent < calls) {
      const call = sent++;
      const begin = performance.now();
      const lines = Array.from({ length: LOGS_PER_CALL }, (_, i) => ({
        flow_run_id: run.id,
        task_run_id: null,
        timestamp: new Date(Date.UTC(2026, 0, 1) + call * LOGS_PER_CALL + i).toISOString(),
        name: "prefect.CloudTaskRunner",
        level: "INFO",
        message: `Task 'work[${i}]': Finished task run for task with final state: 'Success' (call ${call})`,
      }));
      const answer = await space.gql(Q.logs, { input: { logs: lines } });
      if (!(answer.write_run_logs as { success: boolean }).success) throw new Error("write_run_logs refused");
      latencies.push(performance.now() - begin);
    }
  });
  const acknowledgedSeconds = (performance.now() - started) / 1000;
  const deadline = performance.now() + 600_000;
  while ((await queued()) > 0) {
    if (performance.now() > deadline) throw new Error("the ingestion queue did not drain in 10 minutes");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const storedSeconds = (performance.now() - started) / 1000;
  const cpu = cpuPerOperation(cpuBefore, sampleCpu(), calls);
  const counts = await runtime.counts();
  let stored = 0;
  for (const run of runs) stored += await countLines(runtime, space.tenantId, run.id);
  const lines = calls * LOGS_PER_CALL;
  if (stored !== lines) throw new Error(`logs: ${lines} lines acknowledged, ${stored} stored`);

  const floor = await measure(await logsFloor(dynamo, sqs), {
    concurrency: n,
    durationMs: Math.max(2000, storedSeconds * 1000),
    warmupMs: 500,
  });
  sqs.destroy();
  const floorFigure = throughputFigure(
    `client.${mode}.logs.floor`,
    `the raw requests of a stored call of ${LOGS_PER_CALL} lines, one after the other: SQS SendMessage, ReceiveMessage, DeleteMessage, and one TransactWriteItems of their chunk item on the logs database; ${n} concurrent, right after`,
    floor,
    "lines/s",
  );
  const storedPerSecond = stored / storedSeconds;
  const measurement: Measurement = {
    concurrency: n,
    operations: calls,
    items: stored,
    errors: 0,
    firstError: undefined,
    elapsedMs: storedSeconds * 1000,
    operationsPerSecond: calls / storedSeconds,
    itemsPerSecond: storedPerSecond,
    latencyMs: summarizeLatencies(latencies),
  };
  return throughputFigure(
    `client.${mode}.logs.stored`,
    `log lines stored (write_run_logs, ${LOGS_PER_CALL} a call, ${n} writers, ${lines} lines, from the first call until all can be read), ${where}`,
    measurement,
    "lines/s",
    {
      floor: floorOf(floorFigure),
      note: `target: at least 5,000 lines/s; acknowledged ${(lines / acknowledgedSeconds).toFixed(0)} lines/s (latency per call in the percentiles); stored ${storedPerSecond.toFixed(0)} lines/s; DynamoDB per 100 lines: ${((counts.requests * 100) / lines).toFixed(2)} requests (${JSON.stringify(counts.byCommand)}); CPU per 100 lines (acknowledged and stored): ${formatCpu(cpu)}`,
    },
  );
}

async function countLines(runtime: BenchRuntime, tenantId: string, flowRunId: string): Promise<number> {
  const { createDocumentClient } = await import("#core/dynamo/client.js");
  const client = createDocumentClient(runtime.config, "logs");
  const key = LogKeys.partition(tenantId, flowRunId);
  let count = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new QueryCommand({
        TableName: runtime.config.tables.logs,
        KeyConditionExpression: "pk = :pk",
        ExpressionAttributeValues: { ":pk": key },
        ProjectionExpression: "line_count",
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) count += lineCountOf(item);
    start = page.LastEvaluatedKey;
  } while (start);
  client.destroy();
  return count;
}

/**
 * The raw requests a stored call of LOGS_PER_CALL lines is made of, one after the other: SQS
 * SendMessage of its packed body (what write_run_logs sends), ReceiveMessage and DeleteMessage
 * (what the consumer does with it), and one TransactWriteItems of its chunk item on the logs
 * database (the consumer's write).
 */
async function logsFloor(dynamo: BenchDynamo, sqs: SQSClient): Promise<Operation> {
  const table = dynamo.config.tables.logs;
  const tenant = "00000000-0000-4000-8000-00000000b0b0";
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: "bench-client-logs-floor" }));
  let sequence = 0;
  return async () => {
    const batch = ++sequence;
    const run = `00000000-0000-4000-8000-${String(batch % 64).padStart(12, "0")}`;
    const inputs = Array.from({ length: LOGS_PER_CALL }, (_, i) => ({
      flow_run_id: run,
      timestamp: new Date(Date.UTC(2026, 0, 1) + batch * LOGS_PER_CALL + i).toISOString(),
      name: "prefect.CloudTaskRunner",
      level: "INFO",
      message: `Task 'work[${i}]': Finished task run for task with final state: 'Success' (call ${batch})`,
    }));
    const { records } = prepare(tenant, inputs, new Date().toISOString());
    for (const body of packMessages(tenant, records))
      await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: body }));
    const received = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MaxNumberOfMessages: 1 }));
    for (const message of received.Messages ?? [])
      await sqs.send(new DeleteMessageCommand({ QueueUrl, ReceiptHandle: message.ReceiptHandle }));
    const items = chunkItems(tenant, records, 2_000_000_000);
    await dynamo.logsClient.send(
      new TransactWriteCommand({ TransactItems: items.map((Item) => ({ Put: { TableName: table, Item } })) }),
    );
    return LOGS_PER_CALL;
  };
}

/**
 * Whole flow runs as the agent and flow runner send them; each worker is an agent with a label of
 * its own, so its poll finds its run.
 */
async function wholeRuns(
  mode: string,
  where: string,
  runtime: BenchRuntime,
  space: Space,
  timing: { concurrency: number; durationMs: number; warmupMs: number },
): Promise<Figure> {
  // create, poll, the agent's read, Submitted, the runner's read, Running, heartbeat, settings,
  // 3 per task run (both tasks and the mapped children), the final state, the logs.
  const callsPerRun = 8 + 3 * (2 + MAPPED) + 2;
  const agents: string[] = [];
  for (let i = 0; i < timing.concurrency; i++) {
    const agent = await space.gql(
      "mutation($input: register_agent_input!) { register_agent(input: $input) { id } }",
      {
        input: {
          type: "LocalAgent",
          name: `agent-${i}`,
          labels: [`w${i}`],
          tenant_id: space.tenantId,
          agent_config_id: null,
        },
      },
    );
    agents.push((agent.register_agent as { id: string }).id);
  }
  const life: Operation = async (worker) => {
    const label = `w${worker}`;
    const id = await createRun(space, [label]);
    const before = new Date(Date.now() + 10_000).toISOString();
    const polled = (
      await space.gql(
        Q.queue,
        { input: { before, labels: [label], tenant_id: space.tenantId } },
        { "X-PREFECT-AGENT-ID": agents[worker] ?? "" },
      )
    ).get_runs_in_queue as { flow_run_ids: string[] };
    if (!polled.flow_run_ids.includes(id)) throw new Error("the agent's poll did not return its run");
    const seen = (await space.gql(Q.agentRead(id, before))).flow_run as Array<{ version: number }>;
    await setFlowState(space, id, seen[0]?.version ?? null, "Submitted");
    const run = (await space.gql(Q.runnerRead(id))).flow_run_by_pk as { version: number };
    await setFlowState(space, id, run.version, "Running");
    await space.gql(Q.heartbeat(id), {}, { "X-PREFECT-HEARTBEAT-ID": id });
    await space.gql(Q.settings(id));
    await taskRunLife(space, id, space.tasks.items, -1);
    await taskRunLife(space, id, space.tasks.work, -1, "Mapped");
    for (let i = 0; i < MAPPED; i++) await taskRunLife(space, id, space.tasks.work, i);
    await setFlowState(space, id, null, "Success");
    await space.gql(Q.logs, {
      input: {
        logs: Array.from({ length: 10 }, (_, i) => ({
          flow_run_id: id,
          task_run_id: null,
          timestamp: new Date().toISOString(),
          name: "prefect.CloudFlowRunner",
          level: "INFO",
          message: `line ${i} of flow run ${id}`,
        })),
      },
    });
    return undefined;
  };
  const counted = await countRequests(runtime, life, timing.concurrency);
  const result = await measure(life, timing);
  return throughputFigure(
    `client.${mode}.flow_run_life`,
    `whole flow runs as agent and flow runner send them (2 tasks, ${MAPPED} mapped children, ${callsPerRun.toFixed(0)} calls each), ${timing.concurrency} agents, ${where}`,
    result,
    "runs/s",
    {
      note: `${(result.itemsPerSecond * callsPerRun).toFixed(0)} protocol calls/s; latency is a whole run's; ${describeCounts(counted)}; CPU per run: ${formatCpu(result.cpuMsPerOperation)}`,
    },
  );
}
