import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { configure } from "#core/config.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { compress, pipelineFlow } from "../tests/helpers/prefect-flow.js";
import { startReceiver } from "../tests/helpers/receiver.js";
import { type BenchRuntime, type Gql, graphqlClient, startBenchRuntime } from "./lib/api.js";
import type { Operation } from "./lib/measure.js";
import { measurePaired, roundRatios } from "./lib/paired.js";
import type { BenchContext, Benchmark, Figure } from "./lib/types.js";

/**
 * Events and cloud hooks on npm start's runtime, on disk (docs/events.md):
 * - **Delivered hook events per second**: workers change flow run states as fast as the API takes
 *   them (each change one event, a WEBHOOK hook watching every state), then the benchmark waits
 *   until a loopback receiver has every acknowledged change. The floor, measured in the same
 *   window, is the state changes acknowledged per second: hooks cannot be told faster than the
 *   changes happen.
 * - **A state change's latency with events on and off**: `set_flow_run_states` on two runtimes,
 *   one with events (the table's stream, the events and hooks consumers, a hook on every state),
 *   one with `DROVER_EVENTS=off`, measured in alternating rounds; the bound is 10 % added.
 */
const SET = `mutation($input: set_flow_run_states_input!) { set_flow_run_states(input: $input) { states { status } } }`;

type Space = { gql: Gql; runs: string[] };

async function setUp(runtime: BenchRuntime, name: string, runs: number, hookUrl?: string): Promise<Space> {
  configure(runtime.config);
  const tenant = await Workspace.create({ name });
  const key = await asTenant(tenant.id, () => ApiKey.create({ name: "bench" }));
  const gql = graphqlClient(runtime.graphqlUrl, key.secret);
  const project = (
    await gql("mutation($input: create_project_input!) { create_project(input: $input) { id } }", {
      input: { name: "events" },
    })
  ).create_project as { id: string };
  const flow = (
    await gql(
      "mutation($input: create_flow_from_compressed_string_input!) { create_flow_from_compressed_string(input: $input) { id } }",
      {
        input: {
          project_id: project.id,
          serialized_flow: compress(pipelineFlow("events")),
          set_schedule_active: false,
        },
      },
    )
  ).create_flow_from_compressed_string as { id: string };
  if (hookUrl)
    await gql("mutation($input: create_cloud_hook_input!) { create_cloud_hook(input: $input) { id } }", {
      input: { type: "WEBHOOK", states: ["RUNNING", "SUCCESS"], config: { url: hookUrl } },
    });
  const ids: string[] = [];
  for (let i = 0; i < runs; i++) {
    const run = (
      await gql("mutation($input: create_flow_run_input!) { create_flow_run(input: $input) { id } }", {
        input: { flow_id: flow.id, parameters: { n: 1 } },
      })
    ).create_flow_run as { id: string };
    ids.push(run.id);
  }
  return { gql, runs: ids };
}

/** Each worker toggles its own run between Running and Success: one state change, one event, per call. */
function toggler(space: Space): Operation {
  const next = new Map<number, number>();
  return async (worker) => {
    const run = space.runs[worker % space.runs.length];
    const n = next.get(worker) ?? 0;
    next.set(worker, n + 1);
    await space.gql(SET, {
      input: {
        states: [{ flow_run_id: run, version: null, state: { type: n % 2 === 0 ? "Running" : "Success" } }],
      },
    });
    return undefined;
  };
}

export const eventsBenchmark: Benchmark = {
  name: "events",
  description:
    "Cloud hook deliveries per second from flow run state changes, and a state change's latency with events on and off, on npm start's runtime on disk",
  run: async (context) => {
    const given = new Set(context.options.given ?? []);
    const n = given.has("concurrency") ? context.options.concurrency : 8;
    const durationMs = given.has("duration") ? context.options.durationMs : 5000;
    const warmupMs = given.has("warmup") ? context.options.warmupMs : 1000;
    const receiver = await startReceiver();
    const dirs = [
      mkdtempSync(join(tmpdir(), "drover-bench-events-on-")),
      mkdtempSync(join(tmpdir(), "drover-bench-events-off-")),
    ];
    const env = { DROVER_HOOK_ALLOW_PRIVATE_TARGETS: "true" };
    let on: BenchRuntime | undefined;
    let off: BenchRuntime | undefined;
    try {
      on = await startBenchRuntime(context, "drover-local", {
        storage: { own: true, dataDir: dirs[0] },
        env: { ...env, DROVER_EVENTS: "on" },
      });
      const onSpace = await setUp(on, "bench-events-on", n, receiver.url);
      off = await startBenchRuntime(context, "drover-local", {
        storage: { own: true, dataDir: dirs[1] },
        env: { ...env, DROVER_EVENTS: "off" },
      });
      const offSpace = await setUp(off, "bench-events-off", n);
      const figures: Figure[] = [];
      figures.push(await deliveries(context, onSpace, receiver, n, durationMs, warmupMs));
      figures.push(...(await latency(context, onSpace, offSpace, n, durationMs, warmupMs)));
      return figures;
    } finally {
      await on?.stop();
      await off?.stop();
      await receiver.close();
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    }
  },
};

async function deliveries(
  context: BenchContext,
  space: Space,
  receiver: Awaited<ReturnType<typeof startReceiver>>,
  n: number,
  durationMs: number,
  warmupMs: number,
): Promise<Figure> {
  const operation = toggler(space);
  let acknowledged = 0;
  let errors = 0;
  const drive = async (ms: number) => {
    const stopAt = performance.now() + ms;
    await Promise.all(
      Array.from({ length: n }, async (_, worker) => {
        for (let sequence = 0; performance.now() < stopAt; sequence++) {
          try {
            await operation(worker, sequence);
            acknowledged++;
          } catch {
            errors++;
          }
        }
      }),
    );
  };
  // A warm-up (DynamoDB Local's JIT, the consumers' first batches), drained before measuring.
  await drive(Math.max(warmupMs, 2000));
  const drainBy = performance.now() + 60_000;
  while (receiver.received.length < acknowledged && performance.now() < drainBy)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const before = receiver.received.length;
  acknowledged = 0;
  errors = 0;
  const started = performance.now();
  await drive(durationMs);
  const written = performance.now();
  const deadline = written + 120_000;
  while (receiver.received.length - before < acknowledged && performance.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const delivered = receiver.received.length - before;
  const last = receiver.received.at(-1)?.at ?? Date.now();
  // The receiver's clock is Date.now(); convert the window's start to it.
  const elapsedMs = last - (Date.now() - (performance.now() - started));
  const lag = (performance.now() - written) / 1000;
  const value = delivered / (elapsedMs / 1000);
  const floor = acknowledged / ((written - started) / 1000);
  context.log(
    `  hook events: ${delivered} of ${acknowledged} delivered, ${value.toFixed(1)}/s (state changes ${floor.toFixed(1)}/s), last ${lag.toFixed(1)} s after the writes`,
  );
  return {
    key: "events.hook-deliveries",
    label: "cloud hook events delivered per second (state change → stream → bus → hooks queue → webhook)",
    value,
    unit: "events/s",
    floor: { label: "state changes acknowledged per second, same window", value: floor, unit: "changes/s" },
    errors: errors + (acknowledged - delivered),
    note: `${n} workers for ${durationMs / 1000} s; ${delivered} of ${acknowledged} acknowledged changes delivered, the last ${lag.toFixed(1)} s after the last write`,
    ...(delivered < acknowledged
      ? { failure: `${acknowledged - delivered} acknowledged changes never reached the hook` }
      : {}),
  };
}

async function latency(
  context: BenchContext,
  on: Space,
  off: Space,
  n: number,
  durationMs: number,
  warmupMs: number,
): Promise<Figure[]> {
  const concurrency = Math.max(1, Math.min(n, 4));
  const paired = await measurePaired(toggler(on), toggler(off), { concurrency, durationMs, warmupMs });
  const added = (paired.ours.latencyMs.p50 / paired.floor.latencyMs.p50 - 1) * 100;
  context.log(
    `  state change p50 ${paired.ours.latencyMs.p50.toFixed(2)} ms with events, ${paired.floor.latencyMs.p50.toFixed(2)} ms without (${added >= 0 ? "+" : ""}${added.toFixed(1)} %)`,
  );
  return [
    {
      key: "events.state-change-with-events",
      label: "set_flow_run_states with events on (stream, consumers, a hook on every change)",
      value: paired.ours.operationsPerSecond,
      unit: "changes/s",
      latencyMs: paired.ours.latencyMs,
      floor: {
        label: "the same with DROVER_EVENTS=off",
        value: paired.floor.operationsPerSecond,
        unit: "changes/s",
      },
      errors: paired.ours.errors + paired.floor.errors,
      note: `${concurrency} workers; p50 ${paired.ours.latencyMs.p50.toFixed(2)} vs ${paired.floor.latencyMs.p50.toFixed(2)} ms (${added >= 0 ? "+" : ""}${added.toFixed(1)} %), p99 ${paired.ours.latencyMs.p99.toFixed(1)} vs ${paired.floor.latencyMs.p99.toFixed(1)} ms; ${roundRatios(paired)}`,
      ...(added > 10
        ? { failure: `events add ${added.toFixed(1)} % to a state change's p50 (bound: 10 %)` }
        : {}),
    },
  ];
}
