import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { applyTransition } from "#core/state/transition.js";
import { parseState } from "#core/state/types.js";
import { TaskRunKeys } from "#core/task-run/keys.js";
import { compress, pipelineFlow, state } from "../tests/helpers/prefect-flow.js";
import { type SeedTarget, seededRunId, seedFinishedRuns } from "../tests/helpers/seed-runs.js";
import { transitionRequestsFloor, updateVersionedFloor } from "./floors.js";
import { type Gql, graphqlClient, startBenchRuntime } from "./lib/api.js";
import { formatCpu } from "./lib/cpu.js";
import type { DynamoCounts } from "./lib/dynamo-counter.js";
import { throughputFigure } from "./lib/figures.js";
import { floorOf } from "./lib/floor.js";
import { httpRequest } from "./lib/http.js";
import { measure, type Operation } from "./lib/measure.js";
import { measurePaired, type Paired, roundRatios } from "./lib/paired.js";
import { warmUntilCompiled } from "./lib/settle.js";
import { summarizeLatencies } from "./lib/stats.js";
import type { BenchContext, Benchmark, Figure } from "./lib/types.js";

/**
 * The orchestration API over HTTP as agents and flow runners use it, on the local runtime (a
 * process of its own, bench/lib/api.ts) and the same DynamoDB Local as the floors:
 * - task run state transitions per second at the run's concurrency vs the raw version-locked
 *   UpdateItem floor, measured alongside in alternating rounds (bench/lib/paired.ts) once the path
 *   and the floors are warm and DynamoDB Local's JIT compiler is quiet (bench/lib/settle.ts), with
 *   each process's CPU per operation (bench/lib/cpu.ts) in the note: the task runner's pattern
 *   (each task run of a Running flow run enters Running with its version, then Success with
 *   `version: null`; then the next task run); for information, the same against the raw requests
 *   it is made of, the transition's UpdateItem alone (core's applyTransition, in process), the
 *   HTTP hop with no DynamoDB request, and one task run per worker moved back and forth without
 *   end (its history paged out).
 *   The task runs were created through the same runtime, so the API knows their flow runs without
 *   a read (core/src/task-run `flowRunIdsOf`), as a warm Lambda container that created or read them
 *   does; a cold one reads the task run once more on its first Running;
 * - `get_runs_in_queue` latency and DynamoDB items read per call with 1,000 and then 100,000 runs
 *   stored in the polled workspace, among 10 workspaces each with runs waiting;
 * - `create_flow_run` per second for a flow of 20 tasks, and the writes each created run costs.
 * The stored runs are finished runs written with BatchWriteItem in the shape core writes
 * (tests/helpers/seed-runs.ts): creating 100,000 through the API would take most of an hour here.
 */
const STORED_RUNS = Number(process.env.DROVER_BENCH_STORED_RUNS ?? 100_000);
const SMALL_STORE = 1_000;
const WORKSPACES = 10;
const READY_PER_WORKSPACE = 30;
const QUEUE_SAMPLES = 200;
const WRITE_SAMPLES = 20;
/** Flow runs (of TASKS_PER_RUN task runs) whose task runs the transition benchmark moves. */
const RUNS_FOR_TRANSITIONS = 60;
const TASKS_PER_RUN = 50;
/** Flow runs whose task runs warm the transition path up (bench/lib/settle.ts says for how long). */
const WARMUP_RUNS = 10;
/** Transitions over which the API's DynamoDB requests per transition are counted. */
const COUNTED_TRANSITIONS = 1000;

const M = {
  project: "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
  flow: "mutation($input: create_flow_from_compressed_string_input!) { create_flow_from_compressed_string(input: $input) { id } }",
  run: "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
  flowStates:
    "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status } } }",
  taskStates:
    "mutation($input: set_task_run_states_input!) { set_task_run_states(input: $input) { states { status } } }",
  agent: "mutation($input: register_agent_input!) { register_agent(input: $input) { id } }",
  queue: "mutation($input: get_runs_in_queue_input!) { get_runs_in_queue(input: $input) { flow_run_ids } }",
};

type BenchSpace = { tenantId: string; gql: Gql; flowId: string; target: SeedTarget; agentId: string };

async function setUpWorkspace(url: string, tenantId: string, key: string, tasks: number, labels: string[]) {
  const gql = graphqlClient(url, key);
  const project = (await gql(M.project, { input: { name: "bench" } })).create_project as { id: string };
  const flow = pipelineFlow(`bench-${tasks}`, { labels, extraTasks: Math.max(0, tasks - 5) });
  const created = (
    await gql(M.flow, {
      input: { project_id: project.id, serialized_flow: compress(flow), set_schedule_active: false },
    })
  ).create_flow_from_compressed_string as { id: string };
  const read = (await gql(`query { flow_by_pk(id: "${created.id}") { flow_group_id } }`)).flow_by_pk as {
    flow_group_id: string;
  };
  const agent = (
    await gql(M.agent, { input: { type: "LocalAgent", name: "bench", labels, tenant_id: tenantId } })
  ).register_agent as { id: string };
  return {
    tenantId,
    gql,
    flowId: created.id,
    agentId: agent.id,
    target: { tenantId, flowId: created.id, flowGroupId: read.flow_group_id, projectId: project.id },
  } satisfies BenchSpace;
}

async function newWorkspace(url: string, name: string, tasks: number, labels: string[]): Promise<BenchSpace> {
  const tenant = await Workspace.create({ name });
  const key = await asTenant(tenant.id, () => ApiKey.create({ name: "bench" }));
  return setUpWorkspace(url, tenant.id, key.secret, tasks, labels);
}

export const orchestrationBenchmark: Benchmark = {
  name: "orchestration",
  description: "Task run transitions, get_runs_in_queue over 100k stored runs, create_flow_run (20 tasks)",
  run: async (context) => {
    const dynamo = await context.environment.dynamo();
    const runtime = await startBenchRuntime(context, "drover-bench-orchestration");
    const counter = { take: () => runtime.counts() };
    const figures: Figure[] = [];
    const record = (figure: Figure) => {
      figures.push(figure);
      const ratio = figure.floor ? ` (${(figure.value / figure.floor.value).toFixed(2)}x floor)` : "";
      context.log(`  ${figure.label}: ${figure.value.toFixed(2)} ${figure.unit}${ratio}`);
    };
    try {
      const url = runtime.graphqlUrl;
      await transitions(context, url, counter, record);
      await createRuns(context, url, counter, record);
      // Seeds go into the runtime's own tables (named after its prefix, not the bench environment's).
      await queue(
        context,
        url,
        { client: dynamo.client, table: runtime.config.tables.main },
        counter,
        record,
      );
      return figures;
    } finally {
      await runtime.stop();
    }
  },
};

async function transitions(
  context: BenchContext,
  url: string,
  counter: { take: () => Promise<DynamoCounts> },
  record: (figure: Figure) => void,
): Promise<void> {
  const n = context.options.concurrency;
  const ws = await newWorkspace(url, "bench-transitions", TASKS_PER_RUN, []);
  // Running flow runs whose pre-created task runs the workers take in turn.
  const runningTaskRuns = async (runs: number) => {
    const taskRuns: Array<{ id: string; version: number }> = [];
    for (let i = 0; i < runs; i++) {
      const run = (await ws.gql(M.run, { input: { flow_id: ws.flowId, parameters: { n: i } } }))
        .create_flow_run as {
        id: string;
      };
      await ws.gql(M.flowStates, {
        input: { states: [{ flow_run_id: run.id, version: null, state: state("Running") }] },
      });
      const read = (
        await ws.gql(
          `query { flow_run_by_pk(id: "${run.id}") { task_runs(where: { map_index: { _eq: -1 } }) { id version } } }`,
        )
      ).flow_run_by_pk as { task_runs: Array<{ id: string; version: number }> };
      taskRuns.push(...read.task_runs);
    }
    return taskRuns;
  };
  // One transition of the task runner's pair: Running with the version it read, then the final state unconditionally.
  const step = async (taskRun: { id: string; version: number }) => {
    const running = taskRun.version % 2 === 1;
    await ws.gql(M.taskStates, {
      input: {
        states: [
          running
            ? { task_run_id: taskRun.id, version: taskRun.version, state: state("Running") }
            : { task_run_id: taskRun.id, version: null, state: state("Success") },
        ],
      },
    });
    taskRun.version++;
  };
  const timing = {
    concurrency: n,
    durationMs: context.options.durationMs,
    warmupMs: context.options.warmupMs,
  };

  // The task runner's pattern: each task run of a flow run enters Running, then Success; the next.
  const taskRunnerOver = (pool: Array<{ id: string; version: number }>, move = step): Operation => {
    let next = 0;
    const mine: Array<{ id: string; version: number } | undefined> = [];
    const steps: number[] = [];
    return async (worker) => {
      let taskRun = mine[worker];
      if (!taskRun || (steps[worker] ?? 0) >= 2) {
        // Past the pool's end the task runs start again (Running after Success is allowed, as in Prefect).
        taskRun = pool[next++ % pool.length];
        if (!taskRun) throw new Error("no task runs");
        mine[worker] = taskRun;
        steps[worker] = 0;
      }
      await move(taskRun);
      steps[worker] = (steps[worker] ?? 0) + 1;
      return undefined;
    };
  };
  // The API's JavaScript and DynamoDB Local's JVM compile this path over its first thousands of
  // requests, and the JVM goes on compiling for a minute or more: warm the path and both floors on
  // items of their own until the JVM's compiler is quiet (bench/lib/settle.ts), then measure.
  const dynamo = await context.environment.dynamo();
  const updateFloor = await updateVersionedFloor(dynamo, n);
  const requestsFloor = await transitionRequestsFloor(dynamo, n);
  const warmPool = await runningTaskRuns(WARMUP_RUNS);
  const warm = await warmUntilCompiled([taskRunnerOver(warmPool), updateFloor, requestsFloor], n);
  const warmedUp = `warmed up ${(warm.elapsedMs / 1000).toFixed(0)} s${
    warm.jitCores === undefined
      ? ""
      : `, until DynamoDB Local's JIT compiler ${warm.settled ? "was quiet" : "was still busy"} (${(warm.jitCores * 100).toFixed(0)} % of a core)`
  }`;
  context.log(`  transitions: ${warmedUp}`);
  // Requests per transition, counted over transitions of their own (the warm-up's task runs again).
  await counter.take();
  const counted = await measure(taskRunnerOver(warmPool), { concurrency: n, count: COUNTED_TRANSITIONS });
  const counts = await counter.take();
  const perTransition = counts.requests / Math.max(1, counted.operations);
  context.log(
    `  set_task_run_states: DynamoDB requests per transition ${perTransition.toFixed(2)} (${JSON.stringify(counts.byCommand)})`,
  );
  const fresh = await runningTaskRuns(RUNS_FOR_TRANSITIONS);
  const paired = await measurePaired(taskRunnerOver(fresh), updateFloor, timing);
  const floor = throughputFigure(
    "orchestration.task_run_transition.floor",
    `DynamoDB UpdateItem if version = :v, SET version + 1, ${n} concurrent, alongside (median of ${paired.ratios.length})`,
    paired.floor,
  );
  record(
    throughputFigure(
      "orchestration.task_run_transition.concurrent",
      `set_task_run_states, task runner pattern (Running with version, then Success with null, next task run), ${n} concurrent`,
      paired.ours,
      "ops/s",
      {
        floor: floorOf(floor),
        note: `target: at least 0.5 of the floor; ${roundRatios(paired)}; ${fresh.length} task runs in ${RUNS_FOR_TRANSITIONS} Running flow runs; ${warmedUp}; ${perTransition.toFixed(2)} DynamoDB requests per transition; ${cpuNote(paired)}`,
      },
    ),
  );

  // For information, not the target: the same pattern against the raw requests it is made of
  // (GetItem + UpdateItem for a Running, UpdateItem for a Success), i.e. what the API path adds.
  const againstRequests = await measurePaired(taskRunnerOver(fresh), requestsFloor, timing);
  const requestsFloorFigure = throughputFigure(
    "orchestration.task_run_transition.requests_floor",
    `raw requests of the pattern (GetItem + UpdateItem, then UpdateItem), ${n} concurrent, alongside (median of ${againstRequests.ratios.length})`,
    againstRequests.floor,
  );
  record(
    throughputFigure(
      "orchestration.task_run_transition.vs_requests",
      `set_task_run_states, task runner pattern, ${n} concurrent, vs the raw requests it is made of`,
      againstRequests.ours,
      "ops/s",
      {
        floor: floorOf(requestsFloorFigure),
        note: `for information (the target is against the UpdateItem floor); ${roundRatios(againstRequests)}; ${cpuNote(againstRequests)}`,
      },
    ),
  );

  // For information: the transition's one UpdateItem alone, core's applyTransition called in this
  // process on task runs of their own, without HTTP, GraphQL, the Running check's read or anything
  // else of the API, against the UpdateItem floor: what the write itself costs DynamoDB Local.
  const updateOnly = async (taskRun: { id: string; version: number }) => {
    const running = taskRun.version % 2 === 1;
    await applyTransition({
      entity: "task run",
      id: taskRun.id,
      key: TaskRunKeys.run(ws.tenantId, taskRun.id),
      version: running ? taskRun.version : null,
      state: parseState(state(running ? "Running" : "Success")),
    });
    taskRun.version++;
  };
  const updatePool = await runningTaskRuns(RUNS_FOR_TRANSITIONS);
  const updates = await measurePaired(
    taskRunnerOver(updatePool, updateOnly),
    await updateVersionedFloor(dynamo, n),
    timing,
  );
  record(
    throughputFigure(
      "orchestration.task_run_transition.update_only",
      `a transition's UpdateItem alone (core applyTransition, in process), task runner pattern, ${n} concurrent`,
      updates.ours,
      "ops/s",
      {
        floor: floorOf(
          throughputFigure(
            "orchestration.task_run_transition.update_only.floor",
            `DynamoDB UpdateItem if version = :v, SET version + 1, ${n} concurrent, alongside (median of ${updates.ratios.length})`,
            updates.floor,
          ),
        ),
        note: `for information; ${roundRatios(updates)}; ${cpuNote(updates)}`,
      },
    ),
  );

  // For information: the HTTP API hop alone, with no DynamoDB request: GET /health (node:http in
  // and out), then a GraphQL query through the whole handler (API key, cached; yoga; the schema).
  // Their CPU per request is the part of a transition that no change to its DynamoDB work can save.
  const health = new URL("/health", url).toString();
  const hops: Array<[string, string, Operation]> = [
    [
      "orchestration.http_hop.health",
      `the HTTP hop alone: GET /health, ${n} concurrent`,
      async () => {
        const response = await httpRequest(health);
        if (response.status !== 200) throw new Error(`/health answered ${response.status}`);
        return undefined;
      },
    ],
    [
      "orchestration.http_hop.graphql",
      `the HTTP hop and GraphQL: { __typename } with an API key, ${n} concurrent`,
      async () => {
        await ws.gql("query { __typename }");
        return undefined;
      },
    ],
  ];
  for (const [key, label, operation] of hops) {
    const hop = await measure(operation, timing);
    record(
      throughputFigure(key, label, hop, "ops/s", {
        note: `for information; CPU per request: ${formatCpu(hop.cpuMsPerOperation)}`,
      }),
    );
  }

  // One task run per worker, moved back and forth for the whole run: its history grows without end
  // and is paged out of the task run item every few transitions (core/src/state/history.ts).
  const same = await runningTaskRuns(Math.ceil(n / TASKS_PER_RUN));
  const longHistory: Operation = async (worker) => {
    const taskRun = same[worker];
    if (!taskRun) throw new Error(`no task run for worker ${worker}`);
    await step(taskRun);
    return undefined;
  };
  const paged = await measure(longHistory, timing);
  record(
    throughputFigure(
      "orchestration.task_run_transition.long_history.concurrent",
      `set_task_run_states, one task run per worker back and forth (history paged), ${n} concurrent`,
      paged,
      "ops/s",
      { floor: floorOf(floor) },
    ),
  );
}

async function createRuns(
  context: BenchContext,
  url: string,
  counter: { take: () => Promise<DynamoCounts> },
  record: (figure: Figure) => void,
): Promise<void> {
  const n = context.options.concurrency;
  const ws = await newWorkspace(url, "bench-create", 20, []);
  const create = async (sequence: number) => {
    // As the Prefect client does: an idempotency key on every run.
    await ws.gql(M.run, {
      input: {
        flow_id: ws.flowId,
        parameters: { n: sequence },
        context: {},
        idempotency_key: `bench-${sequence}`,
      },
    });
  };
  await counter.take();
  for (let i = 0; i < WRITE_SAMPLES; i++) await create(1_000_000 + i);
  const counts = await counter.take();
  const perRun = (value: number) => value / WRITE_SAMPLES;
  const measured = await measure(
    async (_worker, sequence) => {
      await create(sequence);
      return undefined;
    },
    { concurrency: n, durationMs: context.options.durationMs, warmupMs: context.options.warmupMs },
  );
  record(
    throughputFigure(
      "orchestration.create_flow_run.concurrent",
      `create_flow_run (20 tasks), ${n} concurrent`,
      measured,
    ),
  );
  record({
    key: "orchestration.create_flow_run.items_written",
    label: "create_flow_run (20 tasks): DynamoDB items written per run",
    value: perRun(counts.itemsWritten),
    unit: "items",
    note: describe(counts, WRITE_SAMPLES),
  });
  record({
    key: "orchestration.create_flow_run.write_units",
    label: "create_flow_run (20 tasks): DynamoDB write units per run (table + GSIs, estimated)",
    value: perRun(counts.writeUnits),
    unit: "WCU",
  });
}

function describe(counts: DynamoCounts, per: number): string {
  return Object.entries(counts.byCommand)
    .map(([command, count]) => `${command} ${(count / per).toFixed(1)}`)
    .join(", ");
}

async function queue(
  context: BenchContext,
  url: string,
  dynamo: { client: DynamoDBDocumentClient; table: string },
  counter: { take: () => Promise<DynamoCounts> },
  record: (figure: Figure) => void,
): Promise<void> {
  const labels = ["bench"];
  const spaces: BenchSpace[] = [];
  for (let w = 0; w < WORKSPACES; w++) spaces.push(await newWorkspace(url, `bench-queue-${w}`, 1, labels));
  const polled = spaces[0];
  if (!polled) throw new Error("no workspace");
  context.log(
    `  queue: ${WORKSPACES} workspaces, ${READY_PER_WORKSPACE} ready runs and ${SMALL_STORE} stored runs each`,
  );
  await Promise.all(
    spaces.map(async (ws) => {
      for (let i = 0; i < READY_PER_WORKSPACE; i++)
        await ws.gql(M.run, { input: { flow_id: ws.flowId, parameters: { n: i } } });
      // Runs scheduled for later sit in the ready index past `before`: never read.
      const later = new Date(Date.now() + 3600_000).toISOString();
      for (let i = 0; i < 10; i++)
        await ws.gql(M.run, {
          input: { flow_id: ws.flowId, parameters: { n: i }, scheduled_start_time: later },
        });
    }),
  );
  for (const ws of spaces) {
    await seedFinishedRuns(dynamo.client, dynamo.table, ws.target, SMALL_STORE - READY_PER_WORKSPACE - 10);
  }

  // The seeds must be what the API reads: a seeded run answers through it.
  const seeded = async (index: number) => {
    const id = seededRunId(polled.flowId, index);
    const found = await polled.gql(`query { flow_run_by_pk(id: "${id}") { name } }`);
    if (!found.flow_run_by_pk) throw new Error(`seeded run ${index} (${id}) is not readable through the API`);
  };
  await seeded(500);

  const poll = async () => {
    const data = await polled.gql(
      M.queue,
      { input: { before: new Date(Date.now() + 10_000).toISOString(), labels, tenant_id: polled.tenantId } },
      { "X-PREFECT-AGENT-ID": polled.agentId },
    );
    const ids = (data.get_runs_in_queue as { flow_run_ids: string[] }).flow_run_ids;
    if (ids.length !== 25) throw new Error(`get_runs_in_queue returned ${ids.length} runs, expected 25`);
  };
  const sample = async (stored: number) => {
    for (let i = 0; i < 20; i++) await poll();
    const latencies: number[] = [];
    let itemsRead = 0;
    let requests = 0;
    for (let i = 0; i < QUEUE_SAMPLES; i++) {
      await counter.take();
      const begin = performance.now();
      await poll();
      latencies.push(performance.now() - begin);
      const counts = await counter.take();
      itemsRead += counts.itemsRead;
      requests += counts.requests;
    }
    const latency = summarizeLatencies(latencies);
    const label = `get_runs_in_queue (25 of ${READY_PER_WORKSPACE} ready, ${stored.toLocaleString("en")} runs stored, ${WORKSPACES} workspaces), sequential`;
    for (const percentile of ["p50", "p99"] as const) {
      record({
        key: `orchestration.get_runs_in_queue.${stored}.${percentile}`,
        label: `${label}: ${percentile} latency`,
        value: latency[percentile],
        unit: "ms",
        latencyMs: latency,
      });
    }
    record({
      key: `orchestration.get_runs_in_queue.${stored}.items_read`,
      label: `${label}: DynamoDB items read per call`,
      value: itemsRead / QUEUE_SAMPLES,
      unit: "items",
      note: `${(requests / QUEUE_SAMPLES).toFixed(1)} DynamoDB requests per call`,
    });
  };
  await sample(SMALL_STORE);

  const started = performance.now();
  context.log(
    `  queue: seeding ${(STORED_RUNS - SMALL_STORE).toLocaleString("en")} more finished runs (BatchWriteItem)`,
  );
  await seedFinishedRuns(dynamo.client, dynamo.table, polled.target, STORED_RUNS - SMALL_STORE, {
    firstIndex: SMALL_STORE,
    concurrency: 16,
    createdBefore: new Date(Date.now() - 86_400_000),
  });
  context.log(`  queue: seeded in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  await seeded(STORED_RUNS - 1);
  await sample(STORED_RUNS);
  await cliReads(polled, counter, record, STORED_RUNS);
}

/** Calls of each read query measured (after one warm-up call). */
const READ_SAMPLES = 5;

/**
 * DynamoDB items read per query of the Prefect 1.4.1 CLI and flow runner (the texts its
 * `with_args` renders, with the filters the user left unset as `_eq: null`; tests/contract/
 * prefect-cli.test.ts checks their answers), with `stored` runs in the workspace. The floor is
 * the rows the query returns: a query whose reads grow with the runs stored shows it here.
 */
async function cliReads(
  space: BenchSpace,
  counter: { take: () => Promise<DynamoCounts> },
  record: (figure: Figure) => void,
  stored: number,
): Promise<void> {
  const runFields = "flow { name } id created state name start_time";
  const someRun = "seeded-500";
  const queries: Array<{
    key: string;
    label: string;
    query: string;
    rows: (data: Record<string, unknown>) => number;
  }> = [
    {
      key: "get_flow_runs",
      label: "prefect get flow-runs",
      query: `query { flow_run(where: { flow: { _and: { name: { _eq: null }, project: { name: { _eq: null } } } } }, limit: 10, order_by: { created: desc }) { ${runFields} } }`,
      rows: (d) => (d.flow_run as unknown[]).length,
    },
    {
      key: "get_flow_runs_started",
      label: "prefect get flow-runs --started",
      query: `query { flow_run(where: { _and: { flow: { _and: { name: { _eq: null }, project: { name: { _eq: null } } } }, start_time: { _is_null: false } } }, limit: 10, order_by: { start_time: desc }) { ${runFields} } }`,
      rows: (d) => (d.flow_run as unknown[]).length,
    },
    {
      key: "describe_flow_run",
      label: "prefect describe flow-runs --name",
      query: `query { flow_run(where: { _and: { name: { _eq: "${someRun}" }, flow: { name: { _eq: null } } } }) { name flow { name } created parameters auto_scheduled scheduled_start_time start_time end_time heartbeat serialized_state } }`,
      rows: (d) => (d.flow_run as unknown[]).length,
    },
    {
      key: "get_logs",
      label: "prefect get logs --name",
      query: `query { flow_run(where: { name: { _eq: "${someRun}" }, id: { _eq: null } }, order_by: { start_time: desc }) { logs(order_by: { timestamp: asc }) { timestamp message level } start_time } }`,
      rows: (d) => (d.flow_run as unknown[]).length,
    },
    {
      key: "get_flows",
      label: "prefect get flows",
      query: `query { flow(where: { _and: { name: { _eq: null }, version: { _eq: null }, project: { name: { _eq: null } } } }, order_by: { name: asc, version: desc }, distinct_on: name, limit: 10) { name version created id project { name } } }`,
      rows: (d) => (d.flow as unknown[]).length,
    },
    {
      key: "runner_read",
      label: "the flow runner's read of its run (flow_run_by_pk with task runs)",
      query: `query { flow_run_by_pk(id: "${seededRunId(space.flowId, 500)}") { id name flow_id parameters context version scheduled_start_time serialized_state task_runs(where: { map_index: { _eq: -1 } }) { id version serialized_state } flow { project { name id } } } }`,
      rows: (d) => (d.flow_run_by_pk ? 1 : 0),
    },
  ];
  for (const q of queries) {
    const named = {
      key: `orchestration.reads.${q.key}.${stored}.items_read`,
      label: `${q.label} (${stored.toLocaleString("en")} runs stored): DynamoDB items read per call`,
    };
    const refused = await space.gql(q.query).then(
      () => undefined,
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    if (refused) {
      record({
        ...named,
        value: Number.NaN,
        unit: "items",
        failure: `refused: ${refused.slice(0, 200)}`,
      });
      continue;
    }
    let itemsRead = 0;
    let requests = 0;
    let rows = 0;
    for (let i = 0; i < READ_SAMPLES; i++) {
      await counter.take();
      const data = await space.gql(q.query);
      const counts = await counter.take();
      itemsRead += counts.itemsRead;
      requests += counts.requests;
      rows = q.rows(data);
    }
    record({
      ...named,
      value: itemsRead / READ_SAMPLES,
      unit: "items",
      floor: { label: "rows returned", value: Math.max(rows, 1), unit: "items" },
      note: `${rows} rows; ${(requests / READ_SAMPLES).toFixed(1)} DynamoDB requests per call`,
    });
  }
}

/** Where each side's CPU went per operation (bench/lib/cpu.ts), medians of the rounds. */
function cpuNote(paired: Paired): string {
  return `CPU per operation: ours ${formatCpu(paired.ours.cpuMsPerOperation)}; floor ${formatCpu(paired.floor.cpuMsPerOperation)}`;
}
