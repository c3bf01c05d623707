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
  state,
} from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * A TypeScript agent and flow runner playing the Prefect 1.4.1 protocol over HTTP, as
 * PROTOCOL.md's "flow runner's loop" describes: register, create runs, poll, submit with the
 * version, run tasks (chained, retried, mapped, failing), cancel, and read everything back.
 */
let runtime: LocalRuntime;
let api: Api;
let tenantId: string;
let projectId: string;
let flowId: string;
let agentId: string;
const AGENT_LABELS = ["e2e", "linux"];

type TaskRunRow = {
  id: string;
  task: { id: string; slug: string };
  version: number;
  serialized_state: { type: string };
};
type RunnerRead = {
  flow_run_by_pk: {
    id: string;
    flow_id: string;
    parameters: Record<string, unknown>;
    version: number;
    serialized_state: { type: string };
    task_runs: TaskRunRow[];
    flow: { project: { name: string; id: string } };
  };
};

const soon = (ms = 10_000) => new Date(Date.now() + ms).toISOString();

async function poll(labels = AGENT_LABELS, id = agentId): Promise<string[]> {
  const data = await ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(
    api,
    Q.queue,
    { input: { before: soon(), labels, tenant_id: tenantId } },
    { "X-PREFECT-AGENT-ID": id },
  );
  return data.get_runs_in_queue.flow_run_ids;
}

async function setFlowRunState(id: string, version: number | null, s: Record<string, unknown>) {
  const data = await ok<{ set_flow_run_states: { states: Array<{ id: string; status: string }> } }>(
    api,
    Q.flowRunStates,
    { input: { states: [{ flow_run_id: id, version, state: s }] } },
    { "X-PREFECT-AGENT-ID": agentId },
  );
  expect(data.set_flow_run_states.states).toEqual([{ id, status: "SUCCESS", message: null }]);
}

async function setTaskRunState(id: string, version: number | null, s: Record<string, unknown>) {
  const data = await ok<{ set_task_run_states: { states: Array<{ id: string; status: string }> } }>(
    api,
    Q.taskRunStates,
    { input: { states: [{ task_run_id: id, version, state: s }] } },
  );
  expect(data.set_task_run_states.states).toEqual([{ id, status: "SUCCESS", message: null }]);
}

async function taskRunInfo(flowRunId: string, taskId: string, mapIndex = -1) {
  const data = await ok<{
    get_or_create_task_run_info: { id: string; version: number; serialized_state: { type: string } };
  }>(api, Q.taskRunInfo(flowRunId, taskId, mapIndex));
  return data.get_or_create_task_run_info;
}

/** The agent's step: poll, read the candidates as the agent does, set Submitted with the read version. */
async function agentSubmits(runId: string) {
  expect(await poll()).toContain(runId);
  const now = new Date().toISOString();
  const data = await ok<{
    flow_run: Array<{ id: string; version: number; state: string; serialized_state: unknown }>;
  }>(
    api,
    `query { flow_run(where: { id: { _in: ["${runId}"] }, _or: [{ state: { _eq: "Scheduled" } }, { state: { _eq: "Running" }, task_runs: { state_start_time: { _lte: "${now}" } } }] }) {
      id version state serialized_state name flow { id name core_version }
      task_runs(where: { state_start_time: { _lte: "${now}" } }) { id version serialized_state task_id }
    } }`,
  );
  const [run] = data.flow_run;
  expect(run).toMatchObject({ id: runId, state: "Scheduled", version: 1 });
  await setFlowRunState(runId, run?.version ?? 1, state("Submitted", { state: run?.serialized_state }));
  expect(await poll()).not.toContain(runId);
}

/** The flow runner's start: read the run, heartbeat, set Running with the version it read. */
async function runnerStarts(runId: string) {
  const read = (await ok<RunnerRead>(api, Q.runnerRead(runId))).flow_run_by_pk;
  expect(read.serialized_state.type).toBe("Submitted");
  expect(read.version).toBe(2);
  expect(await ok(api, Q.heartbeat(runId))).toEqual({ update_flow_run_heartbeat: { success: true } });
  await setFlowRunState(runId, read.version, state("Running", { message: "Running flow." }));
  const bySlug = new Map(read.task_runs.map((tr) => [tr.task.slug, tr]));
  return { read, bySlug };
}

/** One task, as the task runner does it: info, Running with its version, then the final state. */
async function runTask(runId: string, taskId: string, final = "Success", mapIndex = -1) {
  const info = await taskRunInfo(runId, taskId, mapIndex);
  await setTaskRunState(info.id, info.version, state("Running", { message: "Starting task run." }));
  await setTaskRunState(info.id, null, state(final));
  return info.id;
}

function taskOf(bySlug: Map<string, TaskRunRow>, slug: string): string {
  const row = bySlug.get(slug);
  if (!row) throw new Error(`no pre-created task run for ${slug}`);
  return row.task.id;
}

beforeAll(async () => {
  runtime = await startTestRuntime("orch-e2e");
  tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  projectId = await createProject(api, "e2e");
  flowId = await registerFlow(api, projectId, pipelineFlow("pipeline", { labels: ["e2e"] }));
  const agent = await ok<{ register_agent: { id: string } }>(api, Q.registerAgent, {
    input: {
      type: "LocalAgent",
      name: "ts-agent",
      labels: AGENT_LABELS,
      tenant_id: tenantId,
      agent_config_id: null,
    },
  });
  agentId = agent.register_agent.id;
});

afterAll(async () => {
  await runtime?.stop();
});

describe("a flow run from registration to Success, with a retry and a mapped task", () => {
  let runId: string;
  let bySlug: Map<string, TaskRunRow>;
  let retriedTaskRunId: string;
  let mappedParentId: string;
  const childIds: string[] = [];

  it("registers the flow from its compressed form with tasks, edges and parameters", async () => {
    const data = await ok<{
      flow_by_pk: {
        name: string;
        version: number;
        archived: boolean;
        parameters: Array<{ name: string; required: boolean }>;
        project: { name: string };
        tasks: Array<{ slug: string; mapped: boolean; max_retries: number }>;
        edges: Array<{ key: string | null; mapped: boolean }>;
        serialized_flow: { name: string; tasks: unknown[] };
      };
    }>(
      api,
      `query { flow_by_pk(id: "${flowId}") { name version archived parameters project { name }
        tasks(order_by: { slug: asc }) { slug mapped max_retries } edges serialized_flow } }`,
    );
    const flow = data.flow_by_pk;
    expect(flow).toMatchObject({ name: "pipeline", version: 1, archived: false, project: { name: "e2e" } });
    expect(flow.parameters).toEqual([expect.objectContaining({ name: "n", required: true })]);
    expect(flow.tasks).toEqual([
      { slug: "extract-1", mapped: false, max_retries: 0 },
      { slug: "load-1", mapped: false, max_retries: 0 },
      { slug: "n", mapped: false, max_retries: 0 },
      { slug: "square-1", mapped: true, max_retries: 0 },
      { slug: "transform-1", mapped: false, max_retries: 2 },
    ]);
    expect(flow.edges).toHaveLength(4);
    expect(flow.edges.filter((e) => e.mapped)).toEqual([expect.objectContaining({ key: "x" })]);
    expect(flow.serialized_flow.name).toBe("pipeline");
    expect(flow.serialized_flow.tasks).toHaveLength(5);
  });

  it("creates a Scheduled run (version 1) with labels from the flow's run config and one Pending task run per task", async () => {
    runId = await createRun(api, {
      flow_id: flowId,
      parameters: { n: 3 },
      context: {},
      idempotency_key: "e2e-1",
    });
    const data = await ok<{
      flow_run_by_pk: {
        state: string;
        version: number;
        labels: string[];
        name: string;
        parameters: unknown;
        task_runs: Array<{ state: string; version: number; map_index: number }>;
      };
    }>(
      api,
      `query { flow_run_by_pk(id: "${runId}") { state version labels name parameters task_runs { state version map_index } } }`,
    );
    const run = data.flow_run_by_pk;
    expect(run).toMatchObject({ state: "Scheduled", version: 1, labels: ["e2e"], parameters: { n: 3 } });
    expect(run.name).toMatch(/^[a-z]+-[a-z]+$/);
    expect(run.task_runs).toHaveLength(5);
    expect(
      run.task_runs.every((tr) => tr.state === "Pending" && tr.version === 1 && tr.map_index === -1),
    ).toBe(true);
  });

  it("queues the run only for agents whose labels cover the run's", async () => {
    expect(await poll(["linux"])).not.toContain(runId);
    expect(await poll([])).not.toContain(runId);
    expect(await poll()).toEqual([runId]);
  });

  it("lets the agent submit with the version it read, and takes the run off the queue", async () => {
    await agentSubmits(runId);
  });

  it("runs the chained tasks with a retry that puts the Running run back on the queue until it moves on", async () => {
    const started = await runnerStarts(runId);
    bySlug = started.bySlug;
    expect([...bySlug.keys()].sort()).toEqual(["extract-1", "load-1", "n", "square-1", "transform-1"]);
    expect(started.read.parameters).toEqual({ n: 3 });
    expect(started.read.flow.project).toEqual({ name: "e2e", id: projectId });

    await runTask(runId, taskOf(bySlug, "n"));
    await runTask(runId, taskOf(bySlug, "extract-1"));

    const info = await taskRunInfo(runId, taskOf(bySlug, "transform-1"));
    retriedTaskRunId = info.id;
    expect(info).toMatchObject({ version: 1, serialized_state: { type: "Pending" } });
    await setTaskRunState(info.id, 1, state("Running"));
    await setTaskRunState(
      info.id,
      null,
      state("Failed", { message: "Error during execution of task: ValueError('first attempt fails')" }),
    );
    const retryAt = new Date(Date.now() + 1_000).toISOString();
    await setTaskRunState(info.id, null, state("Retrying", { start_time: retryAt, run_count: 1 }));

    // While a retry waits, the Running run is back in the queue (for an agent to resubmit if its runner died).
    expect(await poll()).toEqual([runId]);
    const candidates = await ok<{ flow_run: Array<{ id: string; task_runs: Array<{ id: string }> }> }>(
      api,
      `query { flow_run(where: { id: { _in: ["${runId}"] }, _or: [{ state: { _eq: "Scheduled" } }, { state: { _eq: "Running" }, task_runs: { state_start_time: { _lte: "${soon()}" } } }] }) {
        id task_runs(where: { state_start_time: { _lte: "${soon()}" } }) { id } } }`,
    );
    expect(candidates.flow_run).toEqual([{ id: runId, task_runs: [{ id: info.id }] }]);

    const again = await taskRunInfo(runId, taskOf(bySlug, "transform-1"));
    expect(again).toMatchObject({
      id: info.id,
      version: 4,
      serialized_state: { type: "Retrying", start_time: retryAt },
    });
    await setTaskRunState(info.id, again.version, state("Running"));
    expect(await poll()).not.toContain(runId);
    await setTaskRunState(info.id, null, state("Success"));
    expect(await poll()).not.toContain(runId);

    await runTask(runId, taskOf(bySlug, "load-1"));
  });

  it("creates each mapped child once, on first ask, and summarizes them", async () => {
    const parent = await taskRunInfo(runId, taskOf(bySlug, "square-1"));
    mappedParentId = parent.id;
    await setTaskRunState(parent.id, parent.version, state("Running"));
    await setTaskRunState(
      parent.id,
      null,
      state("Mapped", { n_map_states: 3, message: "Ready to proceed with mapping." }),
    );
    for (let i = 0; i < 3; i++) {
      const child = await taskRunInfo(runId, taskOf(bySlug, "square-1"), i);
      expect(child).toMatchObject({ version: 1, serialized_state: { type: "Pending" } });
      expect(child.id).not.toBe(parent.id);
      expect((await taskRunInfo(runId, taskOf(bySlug, "square-1"), i)).id).toBe(child.id);
      childIds.push(child.id);
      await runTask(runId, taskOf(bySlug, "square-1"), "Success", i);
    }
    expect(new Set(childIds).size).toBe(3);
    const summary = await ok<{
      mapped_children: { min_start_time: string; max_end_time: string; state_counts: Record<string, number> };
    }>(
      api,
      `query { mapped_children(task_run_id: "${mappedParentId}") { min_start_time max_end_time state_counts } }`,
    );
    expect(summary.mapped_children.state_counts).toEqual({ Success: 3 });
    expect(Date.parse(summary.mapped_children.min_start_time)).toBeLessThanOrEqual(
      Date.parse(summary.mapped_children.max_end_time),
    );
  });

  it("finishes the run with version null and reads back states, ordered history and task runs", async () => {
    await setFlowRunState(runId, null, state("Success", { message: "All reference tasks succeeded." }));
    const data = await ok<{
      flow_run_by_pk: {
        state: string;
        version: number;
        heartbeat: string | null;
        start_time: string | null;
        end_time: string | null;
        agent_id: string | null;
        states: Array<{ version: number; state: string; timestamp: string }>;
        task_runs: Array<{ id: string; map_index: number; state: string; task: { slug: string } }>;
      };
    }>(
      api,
      `query { flow_run_by_pk(id: "${runId}") { state version heartbeat start_time end_time agent_id
        states(order_by: { version: asc }) { version state timestamp }
        task_runs(order_by: [{ task_slug: asc }, { map_index: asc }]) { id map_index state task { slug } } } }`,
    );
    const run = data.flow_run_by_pk;
    expect(run).toMatchObject({ state: "Success", version: 4, agent_id: agentId });
    expect(run.heartbeat).not.toBeNull();
    expect(Date.parse(run.start_time ?? "")).toBeLessThanOrEqual(Date.parse(run.end_time ?? ""));
    expect(run.states.map((s) => [s.version, s.state])).toEqual([
      [1, "Scheduled"],
      [2, "Submitted"],
      [3, "Running"],
      [4, "Success"],
    ]);
    const times = run.states.map((s) => Date.parse(s.timestamp));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(run.task_runs.map((tr) => [tr.task.slug, tr.map_index, tr.state])).toEqual([
      ["extract-1", -1, "Success"],
      ["load-1", -1, "Success"],
      ["n", -1, "Success"],
      ["square-1", -1, "Mapped"],
      ["square-1", 0, "Success"],
      ["square-1", 1, "Success"],
      ["square-1", 2, "Success"],
      ["transform-1", -1, "Success"],
    ]);
  });

  it("keeps the retried task run's whole history in order", async () => {
    const data = await ok<{
      task_run_by_pk: {
        version: number;
        state: string;
        states: Array<{ version: number; state: string; start_time: string | null }>;
      };
    }>(
      api,
      `query { task_run_by_pk(id: "${retriedTaskRunId}") { version state states { version state start_time } } }`,
    );
    expect(data.task_run_by_pk).toMatchObject({ version: 6, state: "Success" });
    expect(data.task_run_by_pk.states.map((s) => s.state)).toEqual([
      "Pending",
      "Running",
      "Failed",
      "Retrying",
      "Running",
      "Success",
    ]);
    expect(data.task_run_by_pk.states.map((s) => s.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(data.task_run_by_pk.states[3]?.start_time).not.toBeNull();
    const info = await ok<{ get_task_run_info: { id: string; version: number; state: string } }>(
      api,
      `query { get_task_run_info(task_run_id: "${retriedTaskRunId}") { id version state } }`,
    );
    expect(info.get_task_run_info).toEqual({ id: retriedTaskRunId, version: 6, state: "Success" });
  });

  it("refuses a stale version with VERSION_LOCKING_ERROR and leaves the run as it was", async () => {
    const error = await fails(api, Q.flowRunStates, {
      input: { states: [{ flow_run_id: runId, version: 2, state: state("Running") }] },
    });
    expect(error.code).toBe("VERSION_LOCKING_ERROR");
    const data = await ok<{ flow_run_by_pk: { state: string; version: number } }>(
      api,
      `query { flow_run_by_pk(id: "${runId}") { state version } }`,
    );
    expect(data.flow_run_by_pk).toEqual({ state: "Success", version: 4 });
  });

  it("refuses a state over 64 KB with PAYLOAD_TOO_LARGE and leaves the run as it was", async () => {
    const error = await fails(api, Q.flowRunStates, {
      input: {
        states: [
          { flow_run_id: runId, version: 4, state: { ...state("Failed"), message: "m".repeat(70_000) } },
        ],
      },
    });
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(error.message).toContain("limit is 65536 bytes");
    const data = await ok<{ flow_run_by_pk: { state: string; version: number; states: unknown[] } }>(
      api,
      `query { flow_run_by_pk(id: "${runId}") { state version states { version } } }`,
    );
    expect(data.flow_run_by_pk).toMatchObject({ state: "Success", version: 4 });
    expect(data.flow_run_by_pk.states).toHaveLength(4);
  });
});

describe("retries of several task runs", () => {
  it("keep the Running run in the queue until the last waiting task run moves on", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 2 } });
    await agentSubmits(runId);
    const { bySlug } = await runnerStarts(runId);
    const square = taskOf(bySlug, "square-1");
    const children = [await taskRunInfo(runId, square, 0), await taskRunInfo(runId, square, 1)];
    for (const child of children) {
      await setTaskRunState(child.id, child.version, state("Running"));
      await setTaskRunState(child.id, null, state("Failed"));
    }
    const early = new Date(Date.now() + 1_000).toISOString();
    const late = new Date(Date.now() + 2_000).toISOString();
    await setTaskRunState(children[0]?.id ?? "", null, state("Retrying", { start_time: early }));
    await setTaskRunState(children[1]?.id ?? "", null, state("Retrying", { start_time: late }));
    expect(await poll()).toContain(runId);

    await setTaskRunState(children[0]?.id ?? "", null, state("Running"));
    expect(await poll()).toContain(runId);
    await setTaskRunState(children[1]?.id ?? "", null, state("Running"));
    expect(await poll()).not.toContain(runId);
    await setFlowRunState(runId, null, state("Cancelled"));
  });
});

describe("a failing run", () => {
  it("ends Failed with the failed task's message and no run left in the queue", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await agentSubmits(runId);
    const { bySlug } = await runnerStarts(runId);
    await runTask(runId, taskOf(bySlug, "n"));
    const failed = await taskRunInfo(runId, taskOf(bySlug, "extract-1"));
    await setTaskRunState(failed.id, failed.version, state("Running"));
    await setTaskRunState(
      failed.id,
      null,
      state("Failed", { message: "Error during execution of task: RuntimeError('always fails')" }),
    );
    for (const slug of ["transform-1", "load-1", "square-1"]) {
      const info = await taskRunInfo(runId, taskOf(bySlug, slug));
      await setTaskRunState(
        info.id,
        info.version,
        state("TriggerFailed", {
          message: 'Trigger was "all_successful" but some of the upstream tasks failed.',
        }),
      );
    }
    await setFlowRunState(runId, null, state("Failed", { message: "Some reference tasks failed." }));

    const data = await ok<{
      flow_run_by_pk: {
        state: string;
        state_message: string;
        end_time: string | null;
        task_runs: Array<{ state: string; state_message: string; task: { slug: string } }>;
      };
    }>(
      api,
      `query { flow_run_by_pk(id: "${runId}") { state state_message end_time
        task_runs(order_by: { task_slug: asc }) { state state_message task { slug } } } }`,
    );
    const run = data.flow_run_by_pk;
    expect(run).toMatchObject({ state: "Failed", state_message: "Some reference tasks failed." });
    expect(run.end_time).not.toBeNull();
    expect(run.task_runs.map((tr) => [tr.task.slug, tr.state])).toEqual([
      ["extract-1", "Failed"],
      ["load-1", "TriggerFailed"],
      ["n", "Success"],
      ["square-1", "TriggerFailed"],
      ["transform-1", "TriggerFailed"],
    ]);
    expect(run.task_runs[0]?.state_message).toContain("always fails");
    expect(await poll()).not.toContain(runId);
    const failedRuns = await ok<{ flow_run: Array<{ id: string }> }>(
      api,
      `query { flow_run(where: { flow_id: { _eq: "${flowId}" }, state: { _eq: "Failed" } }) { id } }`,
    );
    expect(failedRuns.flow_run).toEqual([{ id: runId }]);
  });
});

describe("cancelling", () => {
  it("moves a Running run to Cancelling; the runner sees it and sets Cancelled, which cancels unfinished task runs", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 2 } });
    await agentSubmits(runId);
    const { bySlug } = await runnerStarts(runId);
    await runTask(runId, taskOf(bySlug, "n"));
    const running = await taskRunInfo(runId, taskOf(bySlug, "extract-1"));
    await setTaskRunState(running.id, running.version, state("Running"));

    const cancelled = await ok<{ cancel_flow_run: { state: string } }>(api, Q.cancel, {
      input: { flow_run_id: runId },
    });
    expect(cancelled.cancel_flow_run.state).toBe("Cancelling");

    // The runner's periodic re-read sees the cancellation and stops.
    const seen = await ok<{
      flow_run_by_pk: { state: string; version: number; serialized_state: { type: string } };
    }>(api, `query { flow_run_by_pk(id: "${runId}") { state version serialized_state } }`);
    expect(seen.flow_run_by_pk).toMatchObject({
      state: "Cancelling",
      version: 4,
      serialized_state: { type: "Cancelling" },
    });
    await setFlowRunState(runId, null, state("Cancelled", { message: "Flow run is cancelled" }));

    const data = await ok<{
      flow_run_by_pk: {
        state: string;
        states: Array<{ state: string }>;
        task_runs: Array<{ state: string; version: number; task: { slug: string } }>;
      };
    }>(
      api,
      `query { flow_run_by_pk(id: "${runId}") { state states { state } task_runs(order_by: { task_slug: asc }) { state version task { slug } } } }`,
    );
    expect(data.flow_run_by_pk.state).toBe("Cancelled");
    expect(data.flow_run_by_pk.states.map((s) => s.state)).toEqual([
      "Scheduled",
      "Submitted",
      "Running",
      "Cancelling",
      "Cancelled",
    ]);
    expect(data.flow_run_by_pk.task_runs.map((tr) => [tr.task.slug, tr.state])).toEqual([
      ["extract-1", "Cancelled"],
      ["load-1", "Cancelled"],
      ["n", "Success"],
      ["square-1", "Cancelled"],
      ["transform-1", "Cancelled"],
    ]);

    // A task run may enter Running only inside a Running flow run.
    const load = await taskRunInfo(runId, taskOf(bySlug, "load-1"));
    const refused = await fails(api, Q.taskRunStates, {
      input: { states: [{ task_run_id: load.id, version: load.version, state: state("Running") }] },
    });
    expect(refused.code).toBe("BAD_USER_INPUT");
    expect(refused.message).toMatch(/Cancelled, not Running/);

    // Cancelling a finished run changes nothing.
    const again = await ok<{ cancel_flow_run: { state: string } }>(api, Q.cancel, {
      input: { flow_run_id: runId },
    });
    expect(again.cancel_flow_run.state).toBe("Cancelled");
  });

  it("cancels a run that has not started straight away and takes it off the queue", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 2 } });
    expect(await poll()).toContain(runId);
    const cancelled = await ok<{ cancel_flow_run: { state: string } }>(api, Q.cancel, {
      input: { flow_run_id: runId },
    });
    expect(cancelled.cancel_flow_run.state).toBe("Cancelled");
    expect(await poll()).not.toContain(runId);
  });
});

describe("the agent as the client sees it", () => {
  it("reports the agent's labels and the time of its last poll", async () => {
    const before = Date.now();
    await poll();
    const data = await ok<{
      agent: Array<{ id: string; name: string; type: string; labels: string[]; last_queried: string }>;
    }>(api, `query { agent(where: { id: { _eq: "${agentId}" } }) { id name type labels last_queried } }`);
    expect(data.agent).toHaveLength(1);
    expect(data.agent[0]).toMatchObject({
      id: agentId,
      name: "ts-agent",
      type: "LocalAgent",
      labels: ["e2e", "linux"],
    });
    expect(Date.parse(data.agent[0]?.last_queried ?? "")).toBeGreaterThanOrEqual(before - 5);
    expect(Date.parse(data.agent[0]?.last_queried ?? "")).toBeLessThanOrEqual(Date.now());
  });

  it("lists the runs it submitted through the agent relationship", async () => {
    const data = await ok<{ flow_run: Array<{ id: string; agent: { id: string } | null }> }>(
      api,
      `query { flow_run(where: { flow_id: { _eq: "${flowId}" }, agent_id: { _eq: "${agentId}" } }) { id agent { id } } }`,
    );
    expect(data.flow_run.length).toBe(4);
    expect(data.flow_run.every((r) => r.agent?.id === agentId)).toBe(true);
  });
});
