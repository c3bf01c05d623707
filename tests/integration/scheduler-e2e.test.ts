import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tick } from "#core/schedule/tick.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  ok,
  pipelineFlow,
  prefectClient,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * A scheduled run from the tick to Success over HTTP, as the Prefect 1.4.1 agent and flow runner
 * drive it (PROTOCOL.md, "The flow runner's loop"): the tick creates the run without task runs,
 * the agent polls and submits it, and the flow runner's read of the run finds one Pending task run
 * per task, which it then runs. The tick runs in-process on the runtime's tables; the agent asks
 * for runs due within two minutes (a real agent asks 10 s ahead), so the first run is handed out
 * without waiting for its start.
 */
let runtime: LocalRuntime;
let api: Api;
let tenantId: string;
let flowId: string;
let agentId: string;
const LABELS = ["sched-e2e"];

type TaskRunRow = {
  id: string;
  task: { id: string; slug: string };
  version: number;
  serialized_state: { type: string };
};
type RunRow = {
  id: string;
  state: string;
  auto_scheduled: boolean;
  task_runs: Array<{ id: string; state: string }>;
};

const soon = () => new Date(Date.now() + 120_000).toISOString();

async function runs(): Promise<RunRow[]> {
  const data = await ok<{ flow_run: RunRow[] }>(
    api,
    `query { flow_run(where: { flow_id: { _eq: "${flowId}" } }, order_by: { scheduled_start_time: asc }) {
      id state auto_scheduled task_runs { id state } } }`,
  );
  return data.flow_run;
}

async function setFlowRunState(id: string, version: number | null, s: Record<string, unknown>) {
  await ok(
    api,
    Q.flowRunStates,
    { input: { states: [{ flow_run_id: id, version, state: s }] } },
    { "X-PREFECT-AGENT-ID": agentId },
  );
}

async function setTaskRunState(id: string, version: number | null, s: Record<string, unknown>) {
  await ok(api, Q.taskRunStates, { input: { states: [{ task_run_id: id, version, state: s }] } });
}

beforeAll(async () => {
  runtime = await startTestRuntime("sched-e2e");
  tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  const projectId = await createProject(api, "scheduled");
  flowId = await registerFlow(api, projectId, {
    ...pipelineFlow("every-minute", { labels: LABELS }),
    schedule: {
      type: "Schedule",
      clocks: [{ type: "CronClock", cron: "* * * * *", parameter_defaults: { n: 2 }, __version__: "1.4.1" }],
      __version__: "1.4.1",
    },
  });
  const agent = await ok<{ register_agent: { id: string } }>(api, Q.registerAgent, {
    input: {
      type: "LocalAgent",
      name: "sched-agent",
      labels: LABELS,
      tenant_id: tenantId,
      agent_config_id: null,
    },
  });
  agentId = agent.register_agent.id;
});

afterAll(async () => {
  await runtime?.stop();
});

describe("a scheduled run from the tick to Success", () => {
  let runId: string;
  let read: { version: number; serialized_state: { type: string }; task_runs: TaskRunRow[] };

  it("is created by the tick without task runs", async () => {
    const result = await tick();
    expect(result).toMatchObject({ runsCreated: 10, failed: 0 });
    const all = await runs();
    expect(all.length).toBeGreaterThanOrEqual(10);
    for (const run of all)
      expect(run).toMatchObject({ state: "Scheduled", auto_scheduled: true, task_runs: [] });
  });

  it("is handed to the agent, which submits it with the version it read", async () => {
    const polled = await ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(
      api,
      Q.queue,
      { input: { before: soon(), labels: LABELS, tenant_id: tenantId } },
      { "X-PREFECT-AGENT-ID": agentId },
    );
    const ids = polled.get_runs_in_queue.flow_run_ids;
    expect(ids.length).toBeGreaterThan(0);
    runId = ids[0] as string;
    const data = await ok<{ flow_run: Array<{ version: number; serialized_state: unknown }> }>(
      api,
      `query { flow_run(where: { id: { _in: ["${runId}"] } }) { version serialized_state } }`,
    );
    expect(data.flow_run[0]?.version).toBe(1);
    await setFlowRunState(runId, 1, state("Submitted", { state: data.flow_run[0]?.serialized_state }));
  });

  it("shows the flow runner one Pending task run per task when it reads the run", async () => {
    read = (await ok<{ flow_run_by_pk: typeof read }>(api, Q.runnerRead(runId))).flow_run_by_pk;
    expect(read).toMatchObject({ version: 2, serialized_state: { type: "Submitted" } });
    expect(read.task_runs.map((tr) => tr.task.slug).sort()).toEqual([
      "extract-1",
      "load-1",
      "n",
      "square-1",
      "transform-1",
    ]);
    for (const taskRun of read.task_runs)
      expect(taskRun).toMatchObject({ version: 1, serialized_state: { type: "Pending" } });
  });

  it("runs its task runs through their states to Success", async () => {
    expect(await ok(api, Q.heartbeat(runId))).toEqual({ update_flow_run_heartbeat: { success: true } });
    await setFlowRunState(runId, read.version, state("Running"));
    for (const taskRun of read.task_runs) {
      const info = await ok<{ get_or_create_task_run_info: { id: string; version: number } }>(
        api,
        Q.taskRunInfo(runId, taskRun.task.id, -1),
      );
      // The task runner finds the task run the flow runner read, not a new one.
      expect(info.get_or_create_task_run_info).toMatchObject({ id: taskRun.id, version: 1 });
      await setTaskRunState(taskRun.id, 1, state("Running"));
      await setTaskRunState(taskRun.id, null, state("Success"));
    }
    await setFlowRunState(runId, null, state("Success"));
    const all = await runs();
    const done = all.find((run) => run.id === runId);
    expect(done?.state).toBe("Success");
    expect(done?.task_runs).toHaveLength(5);
    expect(done?.task_runs.every((tr) => tr.state === "Success")).toBe(true);
    // The runs nobody submitted still have none.
    for (const run of all.filter((r) => r.id !== runId)) expect(run.task_runs).toEqual([]);
  });
});
