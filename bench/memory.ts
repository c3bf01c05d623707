import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { GetQueueAttributesCommand } from "@aws-sdk/client-sqs";
import type { CacheStats } from "#core/cache.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { createSqsClient } from "#core/sqs/client.js";
import { compress, pipelineFlow, state } from "../tests/helpers/prefect-flow.js";
import { type BenchRuntime, type Gql, graphqlClient, startBenchRuntime } from "./lib/api.js";
import { httpRequest } from "./lib/http.js";
import type { Benchmark, Figure } from "./lib/types.js";
import { runWorkers } from "./lib/workers.js";

/**
 * Memory under a long mixed load (issue #14, "memory stays flat"): the local runtime in a process
 * of its own (bench/lib/api.ts) is driven for 10 minutes (`--duration=<ms>` shortens it) by 64
 * clients (`--concurrency`) across many workspaces and API keys, each request one of:
 * - a read whose query text is new every time (a random literal: what a client building queries by
 *   string interpolation, or an attacker, sends), and a malformed query text, new every time;
 * - the same reads with fixed texts (flow runs, projects);
 * - a flow run created, set Running, a task run moved Running → Success, the flow run Success;
 * - `write_run_logs` of 20 lines (LOG_LINES) on one of the workspace's runs;
 * - `set_key_value` / `key_value` over 500 keys a workspace, and the REST face's GET;
 * - a request with an unknown API key (a new random one each time), and now and then a new API key
 *   created through the API and used at once, and a dashboard session token made and used.
 * Every `sample` (30 s, or a twelfth of a shorter run) it prints the runtime process's RSS (VmRSS of
 * /proc/<pid>/status, read first), then its heap after a full GC (the runtime runs with
 * --expose-gc: the live set, which a leak makes grow), the ingestion queue's depth (the local queue
 * lives in the runtime process) and the bounded caches' sizes. The run plateaus when the last
 * third's largest RSS is at most 5% (or 16 MB, whichever is more) above the middle third's, and the
 * heap after GC too.
 */
const DEFAULT_DURATION_MS = 10 * 60_000;
const DEFAULT_CONCURRENCY = 64;
const WORKSPACES = 16;
const KEYS_PER_WORKSPACE = 4;
const RUNS_PER_WORKSPACE = 8;
const KV_KEYS = 500;
/**
 * Lines per `write_run_logs` (DROVER_BENCH_MEMORY_LOG_LINES, default 20). Locally the ingestion
 * queue lives in the runtime process: while the consumer stores fewer lines a second than the mix
 * writes, its backlog (about 10 KB a 20-line message) grows the heap; fewer lines keep the
 * consumer ahead, so what remains is the API's own memory.
 */
const LOG_LINES = Number(process.env.DROVER_BENCH_MEMORY_LOG_LINES ?? 20);
/** Allowed growth of the last third's peak over the middle third's: relative, and at least this. */
const PLATEAU_RATIO = 1.05;
const PLATEAU_SLACK_BYTES = 16 * 2 ** 20;
/** How long, after the load, to wait for the ingestion backlog to drain before measuring again. */
const DRAIN_WAIT_MS = 180_000;

const Q = {
  project: "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
  flow: "mutation($input: create_flow_from_compressed_string_input!) { create_flow_from_compressed_string(input: $input) { id } }",
  run: "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
  flowStates:
    "mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status } } }",
  taskStates:
    "mutation($input: set_task_run_states_input!) { set_task_run_states(input: $input) { states { status } } }",
  taskRuns: "query($id: uuid!) { flow_run_by_pk(id: $id) { task_runs(limit: 1) { id version } } }",
  logs: "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
  kvSet: "mutation($input: set_key_value_input!) { set_key_value(input: $input) { id } }",
  kvGet: "query($key: String!) { key_value(where: { key: { _eq: $key } }) { value } }",
  runs: "query { flow_run(limit: 10, order_by: { created: desc }) { id state version } }",
  projects: "query { project(limit: 20) { id name } }",
  newKey: "mutation($input: create_api_key_input!) { create_api_key(input: $input) { key } }",
  session: "mutation { create_session_token { token } }",
  who: "query { auth_info { tenant_id } }",
};

type Space = { tenantId: string; keys: string[]; gqls: Gql[]; flowId: string; runs: string[] };

type Sample = {
  atMs: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  spaces: Record<string, number>;
  external: number;
  queued: number;
  operations: number;
  errors: number;
  caches: CacheStats[];
};

const MB = 2 ** 20;
const mb = (bytes: number) => (bytes / MB).toFixed(1);

const sum = (spaces: Record<string, number>) => Object.values(spaces).reduce((a, b) => a + b, 0);
const bySpace = (spaces: Record<string, number>) =>
  Object.entries(spaces)
    .filter(([, bytes]) => bytes >= MB)
    .map(([name, bytes]) => `${name.replace(/_space$/, "")} ${mb(bytes)}`)
    .join(", ");

/** VmRSS of a process, in bytes (Linux). */
function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) * 1024;
}

const random = () => Math.random().toString(36).slice(2);

async function setUp(runtime: BenchRuntime, index: number): Promise<Space> {
  const tenant = await Workspace.create({ name: `bench-memory-${index}-${random()}` });
  const keys: string[] = [];
  for (let k = 0; k < KEYS_PER_WORKSPACE; k++) {
    keys.push((await asTenant(tenant.id, () => ApiKey.create({ name: `bench-${k}` }))).secret);
  }
  const gqls = keys.map((key) => graphqlClient(runtime.graphqlUrl, key));
  const gql = gqls[0] as Gql;
  const project = (await gql(Q.project, { input: { name: "memory" } })).create_project as { id: string };
  const flow = (
    await gql(Q.flow, {
      input: {
        project_id: project.id,
        serialized_flow: compress(pipelineFlow(`memory-${index}`)),
        set_schedule_active: false,
      },
    })
  ).create_flow_from_compressed_string as { id: string };
  const runs: string[] = [];
  for (let r = 0; r < RUNS_PER_WORKSPACE; r++) {
    const run = (await gql(Q.run, { input: { flow_id: flow.id, parameters: { n: r } } })).create_flow_run as {
      id: string;
    };
    runs.push(run.id);
  }
  return { tenantId: tenant.id, keys, gqls, flowId: flow.id, runs };
}

/** One request (or one short sequence) of the mix; `n` picks which. */
async function operate(runtime: BenchRuntime, space: Space, n: number): Promise<void> {
  const gql = space.gqls[n % space.gqls.length] as Gql;
  const key = space.keys[n % space.keys.length] as string;
  const kvKey = `memory/${n % KV_KEYS}`;
  switch (n % 12) {
    case 0:
      // A query text never seen before, valid.
      await gql(`query { project(where: { name: { _eq: "${random()}${n}" } }) { id name } }`);
      return;
    case 1: {
      // A malformed query text never seen before: refused, with a parse error.
      const response = await httpRequest(runtime.graphqlUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        body: JSON.stringify({ query: `query { project(where: { name: ${random()} ${n} }` }),
      });
      if (!response.body.includes("GRAPHQL_PARSE_FAILED")) throw new Error(`bad query: ${response.body}`);
      return;
    }
    case 2:
      await gql(Q.runs);
      return;
    case 3: {
      const run = (await gql(Q.run, { input: { flow_id: space.flowId, parameters: { n } } }))
        .create_flow_run as {
        id: string;
      };
      await gql(Q.flowStates, {
        input: { states: [{ flow_run_id: run.id, version: null, state: state("Running") }] },
      });
      const read = (await gql(Q.taskRuns, { id: run.id })).flow_run_by_pk as {
        task_runs: Array<{ id: string; version: number }>;
      };
      const taskRun = read.task_runs[0];
      if (taskRun) {
        await gql(Q.taskStates, {
          input: { states: [{ task_run_id: taskRun.id, version: taskRun.version, state: state("Running") }] },
        });
        await gql(Q.taskStates, {
          input: { states: [{ task_run_id: taskRun.id, version: null, state: state("Success") }] },
        });
      }
      await gql(Q.flowStates, {
        input: { states: [{ flow_run_id: run.id, version: null, state: state("Success") }] },
      });
      space.runs[n % space.runs.length] = run.id;
      return;
    }
    case 4:
    case 5: {
      const flowRunId = space.runs[n % space.runs.length] as string;
      const base = Date.now();
      const logs = Array.from({ length: LOG_LINES }, (_, i) => ({
        flow_run_id: flowRunId,
        task_run_id: null,
        timestamp: new Date(base + i).toISOString(),
        name: "prefect.CloudTaskRunner",
        level: "INFO",
        message: `memory bench line ${i} of batch ${n}`,
      }));
      await gql(Q.logs, { input: { logs } });
      return;
    }
    case 6:
      await gql(Q.kvSet, { input: { key: kvKey, value: { n, at: new Date().toISOString() } } });
      return;
    case 7:
      await gql(Q.kvGet, { key: kvKey });
      return;
    case 8: {
      const response = await httpRequest(`${runtime.url}/kv/${encodeURIComponent(kvKey)}`, {
        headers: { authorization: `Bearer ${key}` },
      });
      if (response.status !== 200 && response.status !== 404) throw new Error(`REST GET ${response.status}`);
      return;
    }
    case 9: {
      // An API key nobody has: refused.
      const response = await graphqlClient(
        runtime.graphqlUrl,
        `drv_${random()}${random()}`,
      )(Q.who).catch((error: Error) => error);
      if (!(response instanceof Error) || !response.message.includes("UNAUTHENTICATED")) {
        throw new Error("an unknown key was not refused");
      }
      return;
    }
    case 10:
      await gql(Q.projects);
      return;
    default: {
      // Now and then a new key (used at once) or a session token; otherwise a fixed read.
      if (n % 48 === 11) {
        const created = (await gql(Q.newKey, { input: { name: `k${n}` } })).create_api_key as { key: string };
        await graphqlClient(runtime.graphqlUrl, created.key)(Q.who);
      } else if (n % 48 === 23) {
        const token = ((await gql(Q.session)).create_session_token as { token: string }).token;
        await graphqlClient(runtime.graphqlUrl, token)(Q.who);
      } else {
        await gql(Q.who);
      }
    }
  }
}

function peak(samples: Sample[], from: number, to: number, pick: (s: Sample) => number): number {
  const inRange = samples.filter((s) => s.atMs >= from && s.atMs <= to);
  return Math.max(...inRange.map(pick));
}

export const memoryBenchmark: Benchmark = {
  name: "memory",
  description: "RSS of the local runtime over a long mixed load (10 min by default; --duration shortens)",
  run: async (context) => {
    const given = context.options.given ?? [];
    const durationMs = given.includes("duration") ? context.options.durationMs : DEFAULT_DURATION_MS;
    const concurrency = given.includes("concurrency") ? context.options.concurrency : DEFAULT_CONCURRENCY;
    const sampleMs = Math.max(5_000, Math.min(30_000, Math.floor(durationMs / 12)));
    const runtime = await startBenchRuntime(context, "drover-bench-memory", {
      nodeFlags: ["--expose-gc"],
      // The scheduler ticks as it does in `npm start` (every minute), over the workspaces' runs.
      env: { DROVER_BENCH_SCHEDULER_MS: "60000" },
    });
    const sqs = createSqsClient(runtime.config);
    try {
      const spaces: Space[] = [];
      for (let i = 0; i < WORKSPACES; i++) spaces.push(await setUp(runtime, i));
      context.log(
        `  ${WORKSPACES} workspaces x ${KEYS_PER_WORKSPACE} keys set up; ${concurrency} clients for ${durationMs / 1000} s, a sample every ${sampleMs / 1000} s`,
      );

      const queued = async () => {
        const { Attributes } = await sqs.send(
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
      let operations = 0;
      let errors = 0;
      let firstError: string | undefined;
      const samples: Sample[] = [];
      const start = performance.now();
      const sample = async () => {
        const rss = rssOf(runtime.pid);
        const memory = await runtime.memory();
        const s: Sample = {
          atMs: performance.now() - start,
          rss,
          heapUsed: memory.usage.heapUsed,
          heapTotal: memory.usage.heapTotal,
          spaces: memory.spaces,
          external: memory.usage.external,
          queued: await queued(),
          operations,
          errors,
          caches: memory.caches,
        };
        samples.push(s);
        const caches = s.caches
          .filter((c) => c.entries > 0)
          .map((c) => `${c.name} ${c.entries}/${c.maxEntries} ${mb(c.bytes)}/${mb(c.maxBytes)} MB`)
          .join(", ");
        context.log(
          `  t=${(s.atMs / 1000).toFixed(0).padStart(4)} s  rss ${mb(s.rss).padStart(6)} MB  heap spaces ${mb(sum(s.spaces)).padStart(6)} MB (${bySpace(s.spaces)})  live after gc ${mb(s.heapUsed).padStart(6)} MB  external ${mb(s.external).padStart(5)} MB  queued msgs ${s.queued}  operations ${operations} (${errors} errors)${caches ? `  caches: ${caches}` : ""}`,
        );
      };
      await sample();
      // With DROVER_BENCH_HEAP_SNAPSHOT=<dir>: a heap snapshot now and one at the end, to compare.
      if (process.env.DROVER_BENCH_HEAP_SNAPSHOT) await runtime.memory("start");

      const deadline = start + durationMs;
      let sequence = 0;
      let sampling = Promise.resolve();
      const timer = setInterval(() => {
        sampling = sampling.then(sample);
      }, sampleMs);
      try {
        await runWorkers(concurrency, async (worker) => {
          const space = spaces[worker % spaces.length] as Space;
          while (performance.now() < deadline) {
            try {
              await operate(runtime, space, sequence++);
              operations++;
            } catch (error) {
              errors++;
              firstError ??= error instanceof Error ? error.message.slice(0, 300) : String(error);
            }
          }
        });
      } finally {
        clearInterval(timer);
      }
      await sampling;
      await sample();
      if (process.env.DROVER_BENCH_HEAP_SNAPSHOT) await runtime.memory("end");
      if (firstError) context.log(`  first error: ${firstError}`);

      const first = samples[0] as Sample;
      const end = samples.at(-1) as Sample;
      const third = end.atMs / 3;
      const middle = (pick: (s: Sample) => number) => peak(samples, third, 2 * third, pick);
      const last = (pick: (s: Sample) => number) => peak(samples, 2 * third, end.atMs, pick);
      const flat = (pick: (s: Sample) => number) =>
        last(pick) <= Math.max(middle(pick) * PLATEAU_RATIO, middle(pick) + PLATEAU_SLACK_BYTES);
      const rssFlat = flat((s) => s.rss);
      const heapFlat = flat((s) => s.heapUsed);
      const verdict = `RSS peak ${mb(middle((s) => s.rss))} MB in the middle third, ${mb(last((s) => s.rss))} MB in the last: ${rssFlat ? "plateau" : "STILL RISING"}; heap after GC ${mb(middle((s) => s.heapUsed))} → ${mb(last((s) => s.heapUsed))} MB: ${heapFlat ? "plateau" : "STILL RISING"}`;
      let backlog = "";
      if (end.queued > first.queued + 100) {
        // The backlog is held in the runtime process: once the consumer has drained it (no load
        // now), the heap after GC says how much of the growth it was.
        const drainDeadline = performance.now() + DRAIN_WAIT_MS;
        while ((await queued()) > 0 && performance.now() < drainDeadline) {
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
        const drained = (await runtime.memory()).usage.heapUsed;
        const left = await queued();
        backlog = `; the ingestion queue (in the runtime process locally) grew to ${end.queued} messages (the log consumer is slower than the writers); ${left === 0 ? "drained" : `${left} left`} ${((performance.now() - start - end.atMs) / 1000).toFixed(0)} s after the load, heap after GC ${mb(drained)} MB`;
      }
      context.log(`  ${verdict}${backlog}`);
      const note = `${concurrency} clients, ${WORKSPACES} workspaces, ${(end.atMs / 1000).toFixed(0)} s; ${end.operations} operations (${(end.operations / (end.atMs / 1000)).toFixed(0)}/s), ${end.errors} errors`;
      const figures: Figure[] = [
        { key: "memory.rss.start", label: "runtime RSS before the load", value: first.rss / MB, unit: "MB" },
        {
          key: "memory.rss.middle_peak",
          label: "runtime RSS, largest in the middle third",
          value: middle((s) => s.rss) / MB,
          unit: "MB",
        },
        {
          key: "memory.rss.last_peak",
          label: "runtime RSS, largest in the last third",
          value: last((s) => s.rss) / MB,
          unit: "MB",
          note: `${note}; ${verdict}${backlog}`,
          ...(rssFlat ? {} : { failure: "RSS still rising in the last third" }),
        },
        {
          key: "memory.heap_after_gc.end",
          label: "runtime heap after a full GC, at the end",
          value: end.heapUsed / MB,
          unit: "MB",
          ...(heapFlat ? {} : { failure: "heap after GC still rising in the last third" }),
        },
        {
          key: "memory.operations",
          label: "mixed-load operations per second (a flow run's lifecycle counts as one)",
          value: end.operations / (end.atMs / 1000),
          unit: "ops/s",
          errors: end.errors,
        },
      ];
      return figures;
    } finally {
      sqs.destroy();
      await runtime.stop();
    }
  },
};
