import type { MiddlewareStack } from "@smithy/types";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDynamo } from "#core/dynamo/client.js";
import * as FlowRun from "#core/flow-run/index.js";
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

/**
 * The late twin of an idempotent `create_flow_run`: it has passed every check and built its items
 * before the first call created the run, and writes its task runs only after they have moved on.
 * It must answer the run's id and leave every task run as it is. The race is made deterministic by
 * holding the twin's first write naming the run (a TransactWriteItems, on the runtime's own
 * DynamoDB client) until the test has moved the task runs on.
 */
let runtime: LocalRuntime;
let api: Api;
let tenantId: string;
let flowId: string;
let bigFlowId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("atomic-idem");
  tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  const project = await createProject(api, "idem");
  flowId = await registerFlow(api, project, pipelineFlow("idem-twin"));
  // More task runs than one transaction holds: written in several, each checking the run is absent.
  bigFlowId = await registerFlow(api, project, pipelineFlow("idem-twin-big", { extraTasks: 145 }));
});

afterAll(async () => {
  await runtime?.stop();
});

/** Holds the next TransactWriteItems naming `id` before it is sent, until `release()`; `held` resolves once it is held. */
function holdNextWrite(id: string) {
  const stack = useDynamo().middlewareStack as unknown as MiddlewareStack<object, object>;
  const name = `hold-write-${id}`;
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let onHeld = () => {};
  const held = new Promise<void>((resolve) => {
    onHeld = resolve;
  });
  let armed = true;
  stack.add(
    (next, context) => async (args) => {
      const command = (context as { commandName?: string }).commandName ?? "";
      if (armed && command.startsWith("TransactWrite") && JSON.stringify(args.input).includes(id)) {
        armed = false;
        onHeld();
        await gate;
      }
      return next(args);
    },
    { step: "initialize", name },
  );
  return {
    held,
    release: () => {
      release();
      stack.remove(name);
    },
  };
}

describe("the late twin of an idempotent create_flow_run", () => {
  it.each([
    ["5 tasks", () => flowId, 5],
    ["150 tasks", () => bigFlowId, 150],
  ])("answers the run's id and leaves task runs that moved on as they are (%s)", async (_, flow, tasks) => {
    const key = "late-twin";
    const runId = FlowRun.idempotentRunId(tenantId, flow(), key);
    const input = { flow_id: flow(), parameters: { n: 1 }, idempotency_key: key };
    const hold = holdNextWrite(runId);
    const twin = api<{ create_flow_run: { id: string } }>(Q.createRun, { input });
    await hold.held;

    expect(await createRun(api, input)).toBe(runId);
    const read = await ok<{
      flow_run_by_pk: { task_runs: Array<{ id: string; task: { slug: string } }> };
    }>(api, Q.runnerRead(runId));
    const taskRuns = read.flow_run_by_pk.task_runs.map((tr) => tr.id);
    expect(taskRuns).toHaveLength(tasks);
    const [done, running] = taskRuns as [string, string];
    for (const [version, type] of [
      [1, "Submitted"],
      [2, "Running"],
    ] as const)
      await ok(api, Q.flowRunStates, {
        input: { states: [{ flow_run_id: runId, version, state: state(type) }] },
      });
    await ok(api, Q.taskRunStates, {
      input: { states: [{ task_run_id: done, version: 1, state: state("Running") }] },
    });
    await ok(api, Q.taskRunStates, {
      input: { states: [{ task_run_id: done, version: 2, state: state("Success") }] },
    });
    await ok(api, Q.taskRunStates, {
      input: { states: [{ task_run_id: running, version: 1, state: state("Running") }] },
    });
    const snapshot = () =>
      ok(
        api,
        `query { flow_run_by_pk(id: "${runId}") { state version
          task_runs(order_by: { task_slug: asc }) { id state version serialized_state
            states(order_by: { version: asc }) { version state } } } }`,
      );
    const before = await snapshot();

    hold.release();
    const answer = await twin;
    expect(answer.errors).toBeUndefined();
    expect(answer.data?.create_flow_run.id).toBe(runId);
    expect(await snapshot()).toEqual(before);
    const after = (await snapshot()) as {
      flow_run_by_pk: { task_runs: Array<{ id: string; state: string; version: number }> };
    };
    expect(after.flow_run_by_pk.task_runs.find((tr) => tr.id === done)).toMatchObject({
      state: "Success",
      version: 3,
    });
  });
});
