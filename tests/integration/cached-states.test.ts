import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  Q,
  registerFlow,
} from "../helpers/orchestration.js";
import { EnumValue, parseGraphql, withArgs } from "../helpers/prefect-graphql.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * The Prefect 1.4.1 client's cached-state query (`Client.get_latest_cached_states`, read by the
 * cloud task runner for every task with `cache_for`): Cached task runs of a task, or of a cache key
 * across tasks and flows, with a state timestamp at or after a naive UTC time, newest first,
 * limit 100. Served from the sparse Cached indexes: a run is there only while it is Cached.
 */
let runtime: LocalRuntime;
let api: Api;

type Run = { id: string; taskRuns: Map<string, { id: string; taskId: string }> };

const flowWithCacheKey = (name: string) => {
  const flow = pipelineFlow(name);
  for (const task of flow.tasks as Array<Record<string, unknown>>)
    if (task.slug === "extract-1") task.cache_key = "shared-extract";
  return flow;
};

async function startedRun(flowId: string): Promise<Run> {
  const id = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
  await ok(api, Q.flowRunStates, {
    input: { states: [{ flow_run_id: id, version: null, state: { type: "Running", message: "go" } }] },
  });
  const data = await ok<{
    flow_run_by_pk: { task_runs: Array<{ id: string; task_id: string; task: { slug: string } }> };
  }>(api, `query { flow_run_by_pk(id: "${id}") { task_runs { id task_id task { slug } } } }`);
  return {
    id,
    taskRuns: new Map(
      data.flow_run_by_pk.task_runs.map((r) => [r.task.slug, { id: r.id, taskId: r.task_id }]),
    ),
  };
}

async function setTaskRunStates(entries: Array<[string, Record<string, unknown>]>) {
  await ok(api, Q.taskRunStates, {
    input: { states: entries.map(([id, state]) => ({ task_run_id: id, version: null, state })) },
  });
}

const cachedState = (message: string) => ({
  type: "Cached",
  message,
  cached_inputs: {},
  cache_for: 3_600_000,
  __version__: "1.4.1",
});

/** The client's query text, from `get_latest_cached_states`'s own argument dictionary. */
function cachedQuery(by: { task_id: string } | { cache_key: string }, createdAfter: Date) {
  // `datetime.datetime.utcnow() - cache_for`, `.isoformat()`: naive, with microseconds.
  const naive = `${createdAfter.toISOString().slice(0, -1)}123`;
  const key = "task_id" in by ? { task_id: { _eq: by.task_id } } : { cache_key: { _eq: by.cache_key } };
  return parseGraphql({
    query: {
      [withArgs("task_run", {
        where: { state: { _eq: "Cached" }, state_timestamp: { _gte: naive }, ...key },
        order_by: { state_timestamp: new EnumValue("desc") },
        limit: 100,
      })]: { serialized_state: true },
    },
  });
}

let first: Run;
let second: Run;
let other: Run;
let before: Date;

beforeAll(async () => {
  runtime = await startTestRuntime("cached-states");
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", runtime.bootstrap.workspace.id);
  const project = await createProject(api, "cache");
  const flow = await registerFlow(api, project, flowWithCacheKey("cachey"), { set_schedule_active: false });
  const otherFlow = await registerFlow(api, project, flowWithCacheKey("other"), {
    set_schedule_active: false,
  });
  before = new Date(Date.now() - 1000);
  first = await startedRun(flow);
  second = await startedRun(flow);
  other = await startedRun(otherFlow);
  const run = (r: Run, slug: string) => r.taskRuns.get(slug)?.id ?? "";
  // One at a time (the single-write path), then several in one call (the batch path).
  await setTaskRunStates([[run(first, "extract-1"), { type: "Running", message: "r" }]]);
  await setTaskRunStates([[run(first, "extract-1"), cachedState("first")]]);
  await setTaskRunStates([[run(first, "load-1"), cachedState("load, no cache key")]]);
  await setTaskRunStates([
    [run(second, "extract-1"), cachedState("second")],
    [run(second, "transform-1"), cachedState("transform, no cache key")],
  ]);
  await setTaskRunStates([[run(other, "extract-1"), cachedState("other flow, same key")]]);
});

afterAll(async () => {
  await runtime?.stop();
});

type Answer = { task_run: Array<{ serialized_state: { message: string } }> };

describe("the cached-state query", () => {
  it("finds a task's Cached runs, newest first, and not other tasks'", async () => {
    const taskId = first.taskRuns.get("extract-1")?.taskId ?? "";
    const data = await ok<Answer>(api, cachedQuery({ task_id: taskId }, before));
    expect(data.task_run.map((r) => r.serialized_state.message)).toEqual(["second", "first"]);
  });

  it("finds a cache key's Cached runs across tasks and flows", async () => {
    const data = await ok<Answer>(api, cachedQuery({ cache_key: "shared-extract" }, before));
    expect(data.task_run.map((r) => r.serialized_state.message)).toEqual([
      "other flow, same key",
      "second",
      "first",
    ]);
  });

  it("keeps only states at or after the given time, read as UTC", async () => {
    const taskId = first.taskRuns.get("extract-1")?.taskId ?? "";
    const data = await ok<Answer>(api, cachedQuery({ task_id: taskId }, new Date(Date.now() + 60_000)));
    expect(data.task_run).toEqual([]);
  });

  it("forgets a run once it leaves Cached", async () => {
    const id = second.taskRuns.get("extract-1")?.id ?? "";
    await setTaskRunStates([[id, { type: "Pending", message: "again" }]]);
    const data = await ok<Answer>(api, cachedQuery({ cache_key: "shared-extract" }, before));
    expect(data.task_run.map((r) => r.serialized_state.message)).toEqual(["other flow, same key", "first"]);
  });

  it("still refuses a task_id query for other states (no path reads them), naming the filters that work", async () => {
    const taskId = first.taskRuns.get("extract-1")?.taskId ?? "";
    const error = await fails(
      api,
      `query { task_run(where: { task_id: { _eq: "${taskId}" }, state: { _eq: "Success" } }) { id } }`,
    );
    expect(error.code).toBe("BAD_USER_INPUT");
    expect(error.message).toMatch(
      /on one of: id, flow_run_id, task_id \(with state: \{ _eq: "Cached" \}\), cache_key \(with state: \{ _eq: "Cached" \}\)/,
    );
  });
});
