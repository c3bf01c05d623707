import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/src/runtime.js";
import { compress, pipelineFlow, Q, state } from "../helpers/orchestration.js";
import { prefectRetryingClient, type RetryStats } from "../helpers/prefect-retry.js";

/**
 * DynamoDB Local's java process SIGKILLed in the middle of a flow run, held down ~10 s by the
 * supervisor's first restart delay, then restarted on the same port and data folder. A client
 * retrying exactly as the Prefect 1.4.1 client does rides it out: the run ends in Success with
 * every state recorded once, in order.
 */
const OUTAGE_MS = 10_000;
let dataDir: string;
let runtime: LocalRuntime;
const logs: string[] = [];
let backAt = 0;
let fatal: Error | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "drover-outage-"));
  runtime = await startLocalRuntime({
    host: "127.0.0.1",
    port: 0,
    dataDir,
    namePrefix: "outage",
    schedulerIntervalMs: 60_000,
    dynamoSupervision: { restartDelaysMs: [OUTAGE_MS, 200] },
    log: (message) => {
      logs.push(message);
      if (message.includes("is back on")) backAt = Date.now();
    },
    onFatal: (error) => {
      fatal = error;
    },
  });
});

afterAll(async () => {
  await runtime?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

function killDynamo(): number {
  const pid = runtime.dynamoDbLocal?.pid();
  if (!pid) throw new Error("DynamoDB Local is not running");
  process.kill(pid, "SIGKILL");
  return pid;
}

describe("a flow run while DynamoDB Local is killed for ~10 s", () => {
  it("completes Success with its states intact, through a client retrying as Prefect 1.4.1 does", async () => {
    const stats: RetryStats = { connectionRetries: 0, statusRetries: 0, apiErrorRetries: 0 };
    const tenantId = runtime.bootstrap.workspace.id;
    const api = prefectRetryingClient({
      url: runtime.graphqlUrl,
      key: runtime.bootstrap.secret ?? "",
      tenantId,
      stats,
    });
    const ok = async <T = Record<string, unknown>>(
      query: string,
      variables: unknown = {},
      headers: Record<string, string> = {},
    ): Promise<T> => {
      const res = await api<T>(query, variables, headers);
      expect(res.errors, `${query.slice(0, 60)} → ${JSON.stringify(res.errors)}`).toBeUndefined();
      return res.data as T;
    };

    const projectId = (
      await ok<{ create_project: { id: string } }>(Q.createProject, { input: { name: "p" } })
    ).create_project.id;
    const flowId = (
      await ok<{ create_flow_from_compressed_string: { id: string } }>(Q.registerFlow, {
        input: {
          project_id: projectId,
          serialized_flow: compress(pipelineFlow("outage", { labels: ["x"] })),
          set_schedule_active: false,
        },
      })
    ).create_flow_from_compressed_string.id;
    const agentId = (
      await ok<{ register_agent: { id: string } }>(Q.registerAgent, {
        input: { type: "LocalAgent", name: "a", labels: ["x"], tenant_id: tenantId, agent_config_id: null },
      })
    ).register_agent.id;
    const runId = (
      await ok<{ create_flow_run: { id: string } }>(Q.createRun, {
        input: { flow_id: flowId, parameters: { n: 2 }, context: {}, idempotency_key: "outage-1" },
      })
    ).create_flow_run.id;

    const agent = { "X-PREFECT-AGENT-ID": agentId };
    const queue = await ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(
      Q.queue,
      { input: { before: new Date(Date.now() + 10_000).toISOString(), labels: ["x"], tenant_id: tenantId } },
      agent,
    );
    expect(queue.get_runs_in_queue.flow_run_ids).toEqual([runId]);
    const setFlowState = (version: number | null, s: Record<string, unknown>) =>
      ok(Q.flowRunStates, { input: { states: [{ flow_run_id: runId, version, state: s }] } }, agent);
    const setTaskState = async (id: string, version: number | null, s: Record<string, unknown>) => {
      const data = await ok<{ set_task_run_states: { states: Array<{ status: string }> } }>(Q.taskRunStates, {
        input: { states: [{ task_run_id: id, version, state: s }] },
      });
      expect(data.set_task_run_states.states[0]?.status).toBe("SUCCESS");
    };
    await setFlowState(1, state("Submitted"));

    type Read = {
      flow_run_by_pk: { version: number; task_runs: Array<{ task: { id: string; slug: string } }> };
    };
    const read = (await ok<Read>(Q.runnerRead(runId))).flow_run_by_pk;
    await ok(Q.heartbeat(runId));
    await setFlowState(read.version, state("Running"));

    const slugs = ["n", "extract-1", "transform-1", "load-1", "square-1"];
    const taskIds = new Map(read.task_runs.map((tr) => [tr.task.slug, tr.task.id]));
    const firstPid = runtime.dynamoDbLocal?.pid();
    let killedAt = 0;
    for (const slug of slugs) {
      const info = (
        await ok<{ get_or_create_task_run_info: { id: string; version: number } }>(
          Q.taskRunInfo(runId, taskIds.get(slug) ?? "", -1),
        )
      ).get_or_create_task_run_info;
      await setTaskState(info.id, info.version, state("Running"));
      if (slug === "extract-1") {
        // In the middle of a task: storage goes away for ~10 s.
        killDynamo();
        killedAt = Date.now();
      }
      await ok(Q.heartbeat(runId));
      await setTaskState(info.id, null, state("Success"));
    }
    await setFlowState(null, state("Success"));
    const finishedAt = Date.now();
    console.info(
      `outage figures: DynamoDB Local down ${backAt - killedAt} ms (kill to restarted), run finished ${finishedAt - killedAt} ms after the kill; client retries: ${JSON.stringify(stats)}`,
    );

    // The outage happened and was ridden out by the client's retries, not avoided.
    expect(runtime.dynamoDbLocal?.restarts()).toBe(1);
    expect(runtime.dynamoDbLocal?.pid()).not.toBe(firstPid);
    expect(stats.statusRetries).toBeGreaterThan(0);
    expect(backAt - killedAt).toBeGreaterThanOrEqual(OUTAGE_MS);
    expect(logs.some((line) => /exited unexpectedly \(signal SIGKILL\)/.test(line))).toBe(true);
    expect(logs.some((line) => /is back on/.test(line))).toBe(true);
    expect(fatal).toBeUndefined();

    const final = await ok<{
      flow_run_by_pk: {
        state: string;
        states: Array<{ version: number; state: string }>;
        task_runs: Array<{
          state: string;
          version: number;
          task: { slug: string };
          states: Array<{ state: string }>;
        }>;
      };
    }>(
      `query { flow_run_by_pk(id: "${runId}") { state states(order_by: { version: asc }) { version state }
        task_runs(order_by: [{ task_slug: asc }]) { state version task { slug } states { state } } } }`,
    );
    const run = final.flow_run_by_pk;
    expect(run.state).toBe("Success");
    expect(run.states.map((s) => [s.version, s.state])).toEqual([
      [1, "Scheduled"],
      [2, "Submitted"],
      [3, "Running"],
      [4, "Success"],
    ]);
    expect(run.task_runs).toHaveLength(5);
    for (const tr of run.task_runs) {
      expect(tr.state, tr.task.slug).toBe("Success");
      expect(tr.version, tr.task.slug).toBe(3);
      expect(tr.states.map((s) => s.state)).toEqual(["Pending", "Running", "Success"]);
    }
  });
});
