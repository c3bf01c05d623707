import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import { FlowRunKeys } from "#core/flow-run/keys.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { callsMade } from "../helpers/dynamo-calls.js";
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
import { mappedFlow } from "../helpers/prefect-flow.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * The storage requests of the calls a flow runner makes most, at the floor the protocol needs
 * (issue 16; figures in `npm run bench -- client`), counted on the runtime's own DynamoDB client.
 */
let runtime: LocalRuntime;
let api: Api;
let flowId: string;
let workTaskId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("request-floors");
  const tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  const project = await createProject(api, "floors");
  flowId = await registerFlow(api, project, mappedFlow("floors-mapped"));
  const read = await ok<{ flow_by_pk: { tasks: Array<{ id: string; slug: string }> } }>(
    api,
    `query { flow_by_pk(id: "${flowId}") { tasks { id slug } } }`,
  );
  workTaskId = read.flow_by_pk.tasks.find((t) => t.slug === "work-1")?.id ?? "";
});

afterAll(async () => {
  await runtime?.stop();
});

async function runningRun(): Promise<string> {
  const id = await createRun(api, { flow_id: flowId, parameters: {} });
  await ok(api, Q.flowRunStates, {
    input: { states: [{ flow_run_id: id, version: null, state: state("Running") }] },
  });
  return id;
}

type Info = { get_or_create_task_run_info: { id: string; version: number } };

describe("a mapped child's life", () => {
  it("is created with one read and one conditional put, and asked again costs the same and answers the same child", async () => {
    const flowRunId = await runningRun();
    // The first child of a task reads the task once per container (Flow.task).
    await ok(api, Q.taskRunInfo(flowRunId, workTaskId, 100));
    let info: Info["get_or_create_task_run_info"] | undefined;
    const created = await callsMade(async () => {
      info = (await ok<Info>(api, Q.taskRunInfo(flowRunId, workTaskId, 0))).get_or_create_task_run_info;
    });
    expect(created).toEqual({ GetItemCommand: 1, PutItemCommand: 1 });
    let again: Info["get_or_create_task_run_info"] | undefined;
    const asked = await callsMade(async () => {
      again = (await ok<Info>(api, Q.taskRunInfo(flowRunId, workTaskId, 0))).get_or_create_task_run_info;
    });
    expect(asked).toEqual({ GetItemCommand: 1, PutItemCommand: 1 });
    expect(again).toEqual(info);
    expect(info?.version).toBe(1);
  });

  it("enters Running with the flow run's state read and one conditional update, and Success with one update", async () => {
    const flowRunId = await runningRun();
    const info = (await ok<Info>(api, Q.taskRunInfo(flowRunId, workTaskId, 1))).get_or_create_task_run_info;
    const running = await callsMade(() =>
      ok(api, Q.taskRunStates, {
        input: { states: [{ task_run_id: info.id, version: info.version, state: state("Running") }] },
      }),
    );
    expect(running).toEqual({ GetItemCommand: 1, UpdateItemCommand: 1 });
    const success = await callsMade(() =>
      ok(api, Q.taskRunStates, {
        input: { states: [{ task_run_id: info.id, version: null, state: state("Success") }] },
      }),
    );
    expect(success).toEqual({ UpdateItemCommand: 1 });
  });

  it("refuses a child of a task that is not the flow run's, writing nothing", async () => {
    const flowRunId = await runningRun();
    const project = await createProject(api, "floors-other");
    const other = await registerFlow(api, project, pipelineFlow("floors-other"));
    const read = await ok<{ flow_by_pk: { tasks: Array<{ id: string }> } }>(
      api,
      `query { flow_by_pk(id: "${other}") { tasks { id } } }`,
    );
    const foreignTask = read.flow_by_pk.tasks[0]?.id ?? "";
    const calls = await callsMade(async () => {
      const answer = await api(Q.taskRunInfo(flowRunId, foreignTask, 0));
      expect(answer.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    });
    expect(calls.PutItemCommand).toBeUndefined();
  });
});

describe("create_flow_run with an idempotency key", () => {
  it("reads neither the flow nor the run first once the flow is known, and its twin writes nothing", async () => {
    await createRun(api, { flow_id: flowId, parameters: {}, idempotency_key: "warm" });
    let id = "";
    const first = await callsMade(async () => {
      id = await createRun(api, { flow_id: flowId, parameters: {}, idempotency_key: "floor-1" });
    });
    // The flow group (settings that change), the transaction, the quota counter; locally the
    // transaction's commit wait (core/src/dynamo/client.ts) is a ListTables on the client below.
    expect(first, JSON.stringify(first)).toMatchObject({ GetItemCommand: 1, TransactWriteItemsCommand: 1 });
    expect(first.GetItemCommand ?? 0).toBe(1);
    expect(first.QueryCommand).toBeUndefined();
    expect(first.TransactWriteItemsCommand).toBe(1);
    expect(first.UpdateItemCommand).toBe(1);
    const twin = await callsMade(async () => {
      expect(await createRun(api, { flow_id: flowId, parameters: {}, idempotency_key: "floor-1" })).toBe(id);
    });
    expect(twin.TransactWriteItemsCommand).toBe(1);
    expect(twin.UpdateItemCommand).toBeUndefined();
  });
});

describe("update_flow_run_heartbeat", () => {
  it("is one UpdateItem that moves no index key (the run's watch entry stays where it was)", async () => {
    const flowRunId = await runningRun();
    const read = async () =>
      (
        await useDynamo().send(
          new GetCommand({
            TableName: mainTable(),
            Key: FlowRunKeys.run(runtime.bootstrap.workspace.id, flowRunId),
            ConsistentRead: true,
          }),
        )
      ).Item ?? {};
    const before = await read();
    const calls = await callsMade(() => ok(api, Q.heartbeat(flowRunId)));
    expect(calls).toEqual({ UpdateItemCommand: 1 });
    const after = await read();
    expect(typeof after.heartbeat).toBe("string");
    expect(after.heartbeat).not.toEqual(before.heartbeat);
    const indexKeys = (item: Record<string, unknown>) =>
      Object.fromEntries(
        Object.entries(item).filter(([name]) => /^(gsi\d|watch|ready|due)_?(pk|sk)$/.test(name)),
      );
    expect(Object.keys(indexKeys(before))).toContain("watch_sk");
    expect(indexKeys(after)).toEqual(indexKeys(before));
  });
});
