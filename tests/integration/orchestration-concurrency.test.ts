import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  ok,
  pipelineFlow,
  prefectClient,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/** Races the client can cause: every one must resolve to exactly one winner. */
let runtime: LocalRuntime;
let api: Api;
let tenantId: string;
let projectId: string;
let flowId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("orch-concurrency");
  tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  projectId = await createProject(api, "races");
  flowId = await registerFlow(api, projectId, pipelineFlow("raced", { labels: ["race"] }));
});

afterAll(async () => {
  await runtime?.stop();
});

async function registerAgent(name: string): Promise<string> {
  const data = await ok<{ register_agent: { id: string } }>(api, Q.registerAgent, {
    input: { type: "LocalAgent", name, labels: ["race"], tenant_id: tenantId },
  });
  return data.register_agent.id;
}

describe("two agents and one run", () => {
  it("lets exactly one agent submit it; the other gets VERSION_LOCKING_ERROR", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    const agents = [await registerAgent("agent-a"), await registerAgent("agent-b")];
    expect(new Set(agents).size).toBe(2);

    const polls = await Promise.all(
      agents.map((agentId) =>
        ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(
          api,
          Q.queue,
          {
            input: {
              before: new Date(Date.now() + 10_000).toISOString(),
              labels: ["race"],
              tenant_id: tenantId,
            },
          },
          { "X-PREFECT-AGENT-ID": agentId },
        ),
      ),
    );
    for (const poll of polls) expect(poll.get_runs_in_queue.flow_run_ids).toEqual([runId]);

    const results = await Promise.all(
      agents.map((agentId) =>
        api(
          Q.flowRunStates,
          { input: { states: [{ flow_run_id: runId, version: 1, state: state("Submitted") }] } },
          { "X-PREFECT-AGENT-ID": agentId },
        ),
      ),
    );
    const winners = results.filter((r) => !r.errors);
    const losers = results.filter((r) => r.errors);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(1);
    expect(losers[0]?.errors?.[0]?.extensions?.code).toBe("VERSION_LOCKING_ERROR");
    const winner = agents[results.findIndex((r) => !r.errors)];

    const data = await ok<{
      flow_run_by_pk: { state: string; version: number; agent_id: string; states: Array<{ state: string }> };
    }>(api, `query { flow_run_by_pk(id: "${runId}") { state version agent_id states { state } } }`);
    expect(data.flow_run_by_pk).toEqual({
      state: "Submitted",
      version: 2,
      agent_id: winner,
      states: [{ state: "Scheduled" }, { state: "Submitted" }],
    });
  });
});

describe("50 concurrent get_or_create_task_run_info for one mapped child", () => {
  it("creates exactly one task run and answers every caller with it", async () => {
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    const read = await ok<{ flow_run_by_pk: { task_runs: Array<{ task: { id: string; slug: string } }> } }>(
      api,
      Q.runnerRead(runId),
    );
    const square = read.flow_run_by_pk.task_runs.find((tr) => tr.task.slug === "square-1")?.task.id ?? "";
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        ok<{ get_or_create_task_run_info: { id: string; version: number } }>(
          api,
          Q.taskRunInfo(runId, square, 0),
        ),
      ),
    );
    const ids = new Set(answers.map((a) => a.get_or_create_task_run_info.id));
    expect(ids.size).toBe(1);
    expect(answers.every((a) => a.get_or_create_task_run_info.version === 1)).toBe(true);
    const children = await ok<{ task_run: Array<{ id: string; map_index: number; state: string }> }>(
      api,
      `query { task_run(where: { flow_run_id: { _eq: "${runId}" }, task_id: { _eq: "${square}" } }, order_by: { map_index: asc }) { id map_index state } }`,
    );
    expect(children.task_run.map((tr) => tr.map_index)).toEqual([-1, 0]);
    expect(children.task_run[1]).toEqual({ id: [...ids][0], map_index: 0, state: "Pending" });
  });
});

describe("concurrent registrations of one flow name", () => {
  it("get distinct, consecutive versions and leave exactly the newest unarchived", async () => {
    const n = 6;
    const ids = await Promise.all(
      Array.from({ length: n }, () => registerFlow(api, projectId, pipelineFlow("contended"))),
    );
    expect(new Set(ids).size).toBe(n);
    const data = await ok<{
      flow: Array<{ id: string; version: number; archived: boolean; flow_group_id: string }>;
    }>(
      api,
      `query { flow(where: { name: { _eq: "contended" } }, order_by: { version: asc }) { id version archived flow_group_id } }`,
    );
    expect(data.flow.map((f) => f.version)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new Set(data.flow.map((f) => f.flow_group_id)).size).toBe(1);
    expect(data.flow.filter((f) => !f.archived).map((f) => f.version)).toEqual([6]);

    const group = await ok<{ flow_group_by_pk: { flows: Array<{ version: number }> } }>(
      api,
      `query { flow_group_by_pk(id: "${data.flow[0]?.flow_group_id}") { flows(where: { archived: { _eq: false } }) { version } } }`,
    );
    expect(group.flow_group_by_pk.flows).toEqual([{ version: 6 }]);
  });
});

describe("a repeated create_flow_run idempotency key under concurrency", () => {
  it("creates one run and answers every caller with its id", async () => {
    const ids = await Promise.all(
      Array.from({ length: 12 }, () =>
        createRun(api, { flow_id: flowId, parameters: { n: 2 }, idempotency_key: "same-key" }),
      ),
    );
    expect(new Set(ids).size).toBe(1);
    const runs = await ok<{ flow_run: Array<{ id: string; task_runs: Array<{ id: string }> }> }>(
      api,
      `query { flow_run(where: { flow_id: { _eq: "${flowId}" }, idempotency_key: { _eq: "same-key" } }) { id task_runs { id } } }`,
    );
    expect(runs.flow_run).toHaveLength(1);
    expect(runs.flow_run[0]?.id).toBe(ids[0]);
    expect(runs.flow_run[0]?.task_runs).toHaveLength(5);
    // Still the same run later: the key never expires.
    expect(await createRun(api, { flow_id: flowId, parameters: { n: 2 }, idempotency_key: "same-key" })).toBe(
      ids[0],
    );
  });
});
