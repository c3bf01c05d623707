import { fork } from "node:child_process";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { compress, pipelineFlow } from "../tests/helpers/prefect-flow.js";
import { type Gql, graphqlClient, startBenchRuntime } from "./lib/api.js";
import { summarizeLatencies } from "./lib/stats.js";
import type { Benchmark, Figure, LatencySummary } from "./lib/types.js";

/**
 * Noisy neighbours on the local runtime (one API process, one event loop, as `npm start`), with
 * the limits the environment configures (the defaults when it sets none: docs/tenant-limits.md): tenant B reads one flow run by id, 5
 * times a second, alone ("idle"), then while tenant A floods from several clients (`--concurrency`, default 32 split over the kinds
 * below): depth-12 fan-outs, 1,000-alias `__schema` bombs, the pathological `_like` the issue
 * measured at 11–14 s, fan-outs within the depth limit (the read budget's case), and 1,000-line
 * log bursts. Reported: B's p50 and p99 idle and under flood, the p99 ratio (target ≤ 2x), and
 * how A's requests were answered (by HTTP status and error code).
 */
const M = {
  project: "mutation($input: create_project_input!) { create_project(input: $input) { id } }",
  flow: "mutation($input: create_flow_from_compressed_string_input!) { create_flow_from_compressed_string(input: $input) { id } }",
  run: "mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }",
  logs: "mutation($input: write_run_logs_input!) { write_run_logs(input: $input) { success } }",
};

type Space = { key: string; gql: Gql; runId: string };

async function workspace(url: string, name: string): Promise<Space> {
  const tenant = await Workspace.create({ name });
  const key = (await asTenant(tenant.id, () => ApiKey.create({ name: "bench" }))).secret;
  const gql = graphqlClient(url, key);
  const project = (await gql(M.project, { input: { name: "noisy" } })).create_project as { id: string };
  const flow = (
    await gql(M.flow, {
      input: {
        project_id: project.id,
        serialized_flow: compress(pipelineFlow("noisy")),
        set_schedule_active: false,
      },
    })
  ).create_flow_from_compressed_string as { id: string };
  // Named like the issue's victim of `%a%a%a%a%a%a%a%b`: 64 characters of "a".
  const run = (
    await gql(M.run, { input: { flow_id: flow.id, parameters: { n: 1 }, flow_run_name: "a".repeat(64) } })
  ).create_flow_run as { id: string };
  return { key, gql, runId: run.id };
}

/** A's requests, one kind per worker (worker index modulo the kinds). */
function floods(runId: string): Array<{ kind: string; query: string; variables?: unknown }> {
  let deep = "id";
  for (let level = 10; level >= 1; level--)
    deep = `${level % 2 === 1 ? "task_runs" : "flow_run"} { ${deep} }`;
  return [
    { kind: "depth-12 fan-out", query: `query { flow_run_by_pk(id: "${runId}") { ${deep} } }` },
    {
      kind: "1,000 __schema aliases",
      query: `query { ${Array.from({ length: 1000 }, (_, i) => `s${i}: __schema { types { name } }`).join(" ")} }`,
    },
    {
      kind: "pathological _like",
      query: `query { flow_run(where: { name: { _like: "%a%a%a%a%a%a%a%b" } }) { id name } }`,
    },
    {
      kind: "fan-out at depth 8",
      query: `query { flow_run_by_pk(id: "${runId}") { task_runs { flow_run { task_runs { flow_run { task_runs { flow_run { id } } } } } } } }`,
    },
    {
      kind: "1,000-line log burst",
      query: M.logs,
      variables: {
        input: {
          logs: Array.from({ length: 1000 }, (_, i) => ({ flow_run_id: runId, message: `flood line ${i}` })),
        },
      },
    },
  ];
}

/** B's reads at a steady pace (one every `intervalMs`, never overlapping), as a dashboard or agent polls. */
type Paced = {
  latencyMs: LatencySummary;
  operations: number;
  errors: number;
  firstError: string | undefined;
};

async function paced(read: () => Promise<unknown>, durationMs: number, intervalMs: number): Promise<Paced> {
  const samples: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const end = performance.now() + durationMs;
  while (performance.now() < end) {
    const started = performance.now();
    try {
      await read();
      samples.push(performance.now() - started);
    } catch (error) {
      errors++;
      firstError ??= error instanceof Error ? error.message.slice(0, 200) : String(error);
    }
    const wait = started + intervalMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return { latencyMs: summarizeLatencies(samples), operations: samples.length, errors, firstError };
}

function latency(label: string, m: Paced): string {
  const failed = m.firstError ? `; first error: ${m.firstError}` : "";
  return `${label}: p50 ${m.latencyMs.p50.toFixed(1)} ms, p99 ${m.latencyMs.p99.toFixed(1)} ms (${m.operations} reads, ${m.errors} errors${failed})`;
}

/** B's pace: 5 reads per second, under any per-workspace limit a deployment would set. */
const B_INTERVAL_MS = 200;

export const noisyBenchmark: Benchmark = {
  name: "noisy",
  description: "tenant B's one-item reads alone and while tenant A floods (deep, aliases, _like, logs)",
  run: async (context) => {
    const runtime = await startBenchRuntime(context, "drover-bench-noisy", { limits: "configured" });
    try {
      const a = await workspace(runtime.graphqlUrl, "Flooder");
      const b = await workspace(runtime.graphqlUrl, "Neighbour");
      const read = `query { flow_run_by_pk(id: "${b.runId}") { id state } }`;
      const readOne = async () => {
        const data = await b.gql(read);
        if ((data.flow_run_by_pk as { id: string } | null)?.id !== b.runId)
          throw new Error("B's read missed");
      };
      await paced(readOne, context.options.warmupMs, B_INTERVAL_MS);
      const idle = await paced(readOne, context.options.durationMs, B_INTERVAL_MS);
      context.log(`  ${latency("B idle", idle)}`);

      // DROVER_BENCH_NOISY_KINDS=0,2 floods with those kinds only (by index in `floods`), to see each one's cost.
      const only = process.env.DROVER_BENCH_NOISY_KINDS?.split(",").map(Number);
      const kinds = floods(a.runId).filter((_, i) => !only || only.includes(i));
      const workers = Math.max(kinds.length, context.options.concurrency);
      const flooder = fork(fileURLToPath(new URL("./lib/flood-process.ts", import.meta.url)), [], {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const message = (type: string) =>
        new Promise<{ outcomes?: Array<[string, number, number]> }>((resolve, reject) => {
          const onExit = (code: number | null) => reject(new Error(`the flooder exited (code ${code})`));
          flooder.once("exit", onExit);
          flooder.on(
            "message",
            function answer(m: { type: string; outcomes?: Array<[string, number, number]> }) {
              if (m.type !== type) return;
              flooder.off("message", answer);
              flooder.off("exit", onExit);
              resolve(m);
            },
          );
        });
      const started = message("started");
      flooder.send({
        type: "start",
        url: runtime.graphqlUrl,
        key: a.key,
        workers,
        requests: kinds.map((k) => ({
          kind: k.kind,
          body: JSON.stringify({ query: k.query, variables: JSON.stringify(k.variables ?? {}) }),
        })),
      });
      await started;
      // Let the flood start (and drain A's bursts) before B is measured under it.
      await new Promise((resolve) => setTimeout(resolve, context.options.warmupMs));
      const flooded = await paced(readOne, context.options.durationMs, B_INTERVAL_MS);
      const done = message("outcomes");
      flooder.send({ type: "stop" });
      const answered = ((await done).outcomes ?? []).sort(([x], [y]) => x.localeCompare(y));
      context.log(`  ${latency("B under flood", flooded)}`);
      const ratio = flooded.latencyMs.p99 / idle.latencyMs.p99;
      context.log(`  B p99 under flood / idle: ${ratio.toFixed(2)}x (target ≤ 2x)`);
      for (const [outcome, count, ms] of answered) {
        context.log(`  A: ${outcome}: ${count} (mean ${(ms / count).toFixed(0)} ms)`);
      }

      const note = `A (${workers} clients, own process): ${answered.map(([o, c]) => `${o} ×${c}`).join("; ")}`;
      const figures: Figure[] = [
        {
          key: "b.idle",
          label: "B one-item read, alone (5 reads/s)",
          value: idle.latencyMs.p99,
          unit: "ms p99",
          latencyMs: idle.latencyMs,
          errors: idle.errors,
        },
        {
          key: "b.flood",
          label: `B one-item read (5 reads/s) while A floods (${workers} clients)`,
          value: flooded.latencyMs.p99,
          unit: "ms p99",
          latencyMs: flooded.latencyMs,
          errors: flooded.errors,
          note,
        },
        {
          key: "b.p99-ratio",
          label: "B p99 under flood / idle (target ≤ 2x)",
          value: ratio,
          unit: "x",
          ...(ratio > 2 ? { note: "over the 2x target" } : {}),
        },
      ];
      return figures;
    } finally {
      await runtime.stop();
    }
  },
};
