import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDynamo } from "#core/dynamo/client.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { checkHealth } from "#core/schedule/health.js";
import * as TaskRun from "#core/task-run/index.js";
import { DynamoCounter } from "../../bench/lib/dynamo-counter.js";
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
import { parseGraphql, withArgs } from "../helpers/prefect-graphql.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * Concurrency limits as Prefect Cloud 1.0 answered the Prefect 1.4.1 client: task tag limits
 * decided when a task run enters Running (QUEUED, not an error, with a Queued state stored), exact
 * under a race; slots given back however a run ends; flow run limits by label in the agents'
 * queue and on Submitted/Running; workspaces apart. Over HTTP with the client's documents.
 */
let runtime: LocalRuntime;
let api: Api;
let tenant: string;
let counter: DynamoCounter;
let refused: Record<string, number> = {};

/** The client's documents, composed as `prefect.utilities.graphql` composes them (client.py:1674-1748, 1588-1646). */
const D = {
  getTaskTagLimit: (tag: string) =>
    parseGraphql({
      query: { [withArgs("task_tag_limit", { where: { tag: { _eq: tag } } })]: { limit: true } },
    }),
  updateTaskTagLimit: parseGraphql({
    "mutation($input: update_task_tag_limit_input!)": {
      "update_task_tag_limit(input: $input)": { id: true },
    },
  }),
  deleteTaskTagLimit: parseGraphql({
    "mutation($input: delete_task_tag_limit_input!)": {
      "delete_task_tag_limit(input: $input)": { success: true },
    },
  }),
  setTaskRunStates: parseGraphql({
    "mutation($input: set_task_run_states_input!)": {
      "set_task_run_states(input: $input)": { states: { id: true, status: true, message: true } },
    },
  }),
  setFlowRunStates: parseGraphql({
    "mutation($input: set_flow_run_states_input!)": {
      "set_flow_run_states(input: $input)": { states: { id: true, status: true, message: true } },
    },
  }),
  /** Cloud's UI documents (PrefectHQ/ui src/graphql/...). */
  updateFlowLimit:
    "mutation UpdateFlowConcurrencyLimit($label: String!, $limit: Int!) { update_flow_concurrency_limit(input: { label: $label, limit: $limit }) { id } }",
  deleteFlowLimit:
    "mutation DeleteFlowConcurrencyLimit($limitId: uuid!) { delete_flow_concurrency_limit(input: { limit_id: $limitId }) { success } }",
  flowLimits: "query FlowLabelLimit { flow_concurrency_limit { id limit name } }",
  flowUsage: "query FlowLabelUsage($labels: [String!]) { flow_concurrency(labels: $labels) { label usage } }",
  taskUsage: "query TaskTagUsage($tags: [String!]) { task_concurrency(names: $tags) { name usage } }",
};

type Answer = { id: string; status: string; message: string | null };

beforeAll(async () => {
  runtime = await startTestRuntime("concurrency");
  tenant = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenant);
  counter = new DynamoCounter(useDynamo());
  // DynamoCounter counts answered requests; a refused conditional write is a request too.
  useDynamo().middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const name = String(context.commandName ?? "").replace(/Command$/, "");
        refused[name] = (refused[name] ?? 0) + 1;
        throw error;
      }
    },
    { step: "initialize", name: "concurrencyTestRefused", override: true },
  );
}, 60_000);
afterAll(async () => {
  await runtime?.stop();
});

async function otherWorkspace(name: string): Promise<{ api: Api; tenant: string }> {
  const workspace = await Workspace.create({ name });
  const key = (await asTenant(workspace.id, () => ApiKey.create({ name: "k" }))).secret;
  return { api: prefectClient(runtime, key, workspace.id), tenant: workspace.id };
}

async function setTaskLimit(client: Api, tag: string, limit: number): Promise<string> {
  const data = await ok<{ update_task_tag_limit: { id: string } }>(client, D.updateTaskTagLimit, {
    input: { tag, limit },
  });
  return data.update_task_tag_limit.id;
}

async function taskUsage(client: Api, tag: string): Promise<number> {
  const data = await ok<{ task_concurrency: Array<{ name: string; usage: number }> }>(client, D.taskUsage, {
    tags: [tag],
  });
  return data.task_concurrency[0]?.usage ?? -1;
}

let flows = 0;

/**
 * A Running flow run of a new flow whose tasks carry `tags` (by slug, `*` for all), with
 * `extraTasks` more; its task runs by slug.
 */
async function runningFlowRun(
  client: Api,
  options: { tags?: Record<string, string[]>; extraTasks?: number; heartbeat?: boolean } = {},
) {
  const name = `limited-${++flows}`;
  const projectId = await createProject(client, `p-${name}`);
  const flowId = await registerFlow(
    client,
    projectId,
    pipelineFlow(name, { tags: options.tags ?? {}, extraTasks: options.extraTasks ?? 0 }),
  );
  if (options.heartbeat === false)
    await ok(client, `mutation { disable_flow_heartbeat(input: { flow_id: "${flowId}" }) { success } }`);
  const flowRunId = await createRun(client, { flow_id: flowId, parameters: { n: 1 } });
  await flowState(client, flowRunId, 1, "Submitted");
  await flowState(client, flowRunId, 2, "Running");
  const read = await ok<{
    flow_run_by_pk: { task_runs: Array<{ id: string; version: number; task: { slug: string } }> };
  }>(client, Q.runnerRead(flowRunId));
  const taskRuns = new Map(read.flow_run_by_pk.task_runs.map((tr) => [tr.task.slug, tr.id]));
  const task = (slug: string) => {
    const id = taskRuns.get(slug);
    if (!id) throw new Error(`no task run for ${slug}`);
    return id;
  };
  return { flowRunId, flowId, task, taskRuns };
}

async function flowState(client: Api, flowRunId: string, version: number | null, type: string) {
  const data = await ok<{ set_flow_run_states: { states: Answer[] } }>(client, D.setFlowRunStates, {
    input: { states: [{ flow_run_id: flowRunId, version, state: state(type) }] },
  });
  return data.set_flow_run_states.states[0] as Answer;
}

/** The task run's version as the task runner reads it before each attempt (`get_task_run_info`). */
async function taskRunRow(client: Api, id: string) {
  const data = await ok<{
    task_run_by_pk: {
      version: number;
      state: string;
      state_message: string;
      serialized_state: Record<string, unknown>;
    };
  }>(client, `query { task_run_by_pk(id: "${id}") { version state state_message serialized_state } }`);
  return data.task_run_by_pk;
}

/** The task runner's attempt: the version read, then the state (version sent only for Running). */
async function taskState(client: Api, id: string, type: string, extra: Record<string, unknown> = {}) {
  const version = type === "Running" ? (await taskRunRow(client, id)).version : null;
  const data = await ok<{ set_task_run_states: { states: Answer[] } }>(client, D.setTaskRunStates, {
    input: { states: [{ task_run_id: id, version, state: state(type, extra) }] },
  });
  return data.set_task_run_states.states[0] as Answer;
}

describe("task tag limits: the client's calls", () => {
  it("reads, upserts and deletes a limit with the 1.4.1 client's documents", async () => {
    const read = async (tag: string) =>
      (await ok<{ task_tag_limit: Array<{ limit: number }> }>(api, D.getTaskTagLimit(tag))).task_tag_limit;
    expect(await read("database")).toEqual([]); // the client's get_task_tag_limit → None

    const id = await setTaskLimit(api, "database", 2);
    expect(await setTaskLimit(api, "database", 5)).toBe(id); // an upsert by tag: same id
    expect(await read("database")).toEqual([{ limit: 5 }]);

    const rows = await ok<{
      task_tag_limit: Array<Record<string, unknown>>;
      task_concurrency_limit: Array<Record<string, unknown>>;
      task_tag_limit_by_pk: Record<string, unknown>;
    }>(
      api,
      `query { task_tag_limit { id tag limit } task_concurrency_limit(where: { name: { _eq: "database" } }) { id name limit }
        task_tag_limit_by_pk(id: "${id}") { tag } }`,
    );
    expect(rows.task_tag_limit).toEqual([{ id, tag: "database", limit: 5 }]);
    expect(rows.task_concurrency_limit).toEqual([{ id, name: "database", limit: 5 }]);
    expect(rows.task_tag_limit_by_pk).toEqual({ tag: "database" });

    const deleted = await ok<{ delete_task_tag_limit: { success: boolean } }>(api, D.deleteTaskTagLimit, {
      input: { limit_id: id },
    });
    expect(deleted.delete_task_tag_limit.success).toBe(true);
    expect(await read("database")).toEqual([]);
    // Created again: a new limit, a new id.
    const again = await setTaskLimit(api, "database", 1);
    expect(again).not.toBe(id);
    await ok(api, D.deleteTaskTagLimit, { input: { limit_id: again } });

    // Cloud UI's names for the same limits.
    const ui = await ok<{ update_task_concurrency_limit: { id: string } }>(
      api,
      "mutation UpdateTaskConcurrencyLimit($name: String!, $limit: Int!) { update_task_concurrency_limit(input: { name: $name, limit: $limit }) { id } }",
      { name: "ui-tag", limit: 3 },
    );
    expect(await read("ui-tag")).toEqual([{ limit: 3 }]);
    await ok(
      api,
      "mutation DeleteTaskConcurrencyLimit($limitId: uuid!) { delete_task_concurrency_limit(input: { limit_id: $limitId }) { success } }",
      { limitId: ui.update_task_concurrency_limit.id },
    );
  });

  it("refuses bad input with clear codes and writes nothing", async () => {
    const bad = async (input: unknown) => fails(api, D.updateTaskTagLimit, { input });
    expect(await bad({ tag: "x", limit: -1 })).toMatchObject({
      code: "BAD_USER_INPUT",
      message: expect.stringMatching(/>= 0/),
    });
    expect((await bad({ tag: "", limit: 1 })).code).toBe("BAD_USER_INPUT");
    expect((await bad({ tag: "   ", limit: 1 })).code).toBe("BAD_USER_INPUT");
    expect((await bad({ tag: "x".repeat(256), limit: 1 })).code).toBe("BAD_USER_INPUT");
    expect((await bad({ tag: "x", limit: 1_000_001 })).code).toBe("BAD_USER_INPUT");
    for (const input of [
      { tag: "x", limit: "one" },
      { tag: 5, limit: 1 },
      { tag: "x", limit: 1.5 },
      { tag: "x" },
    ]) {
      const { code } = await bad(input);
      expect(code).toBeDefined();
      expect(code).not.toBe("INTERNAL_SERVER_ERROR");
    }
    const unknown = await fails(api, D.deleteTaskTagLimit, {
      input: { limit_id: "00000000-0000-4000-8000-000000000000" },
    });
    expect(unknown.code).toBe("NOT_FOUND");
    expect((await fails(api, D.deleteTaskTagLimit, { input: { limit_id: "nope" } })).code).toBeDefined();
    expect(
      (await ok<{ task_tag_limit: unknown[] }>(api, "{ task_tag_limit { id } }")).task_tag_limit,
    ).toEqual([]);
  });
});

describe("task tag limits: entering Running", () => {
  it("lets exactly one of 50 racing task runs take a limit of 1; the 49 others are answered QUEUED with Queued stored", async () => {
    await setTaskLimit(api, "race", 1);
    const run = await runningFlowRun(api, { tags: { "*": ["race"] }, extraTasks: 50 });
    const ids = Array.from({ length: 50 }, (_, i) => run.task(`extra-${i + 1}`));
    const versions = await Promise.all(ids.map(async (id) => (await taskRunRow(api, id)).version));
    const answers = await Promise.all(
      ids.map(async (id, i) => {
        const data = await ok<{ set_task_run_states: { states: Answer[] } }>(api, D.setTaskRunStates, {
          input: { states: [{ task_run_id: id, version: versions[i], state: state("Running") }] },
        });
        return data.set_task_run_states.states[0] as Answer;
      }),
    );
    const success = answers.filter((a) => a.status === "SUCCESS");
    const queued = answers.filter((a) => a.status === "QUEUED");
    expect(success).toHaveLength(1);
    expect(queued).toHaveLength(49);
    expect(answers.map((a) => a.id).sort()).toEqual([...ids].sort());
    for (const answer of queued)
      expect(answer.message).toMatch(/concurrency limit.*"race" \(1 of 1 in use\)/);
    expect(success[0]?.message).toBeNull();

    const rows = await Promise.all(ids.map((id) => taskRunRow(api, id)));
    expect(rows.filter((r) => r.state === "Running")).toHaveLength(1);
    const stored = rows.filter((r) => r.state === "Queued");
    expect(stored).toHaveLength(49);
    for (const row of stored) {
      // Queued wraps the state the run was in; the message is the one answered.
      expect(row.serialized_state).toMatchObject({ type: "Queued", state: { type: "Pending" } });
      expect(row.state_message).toMatch(/Queued by task tag concurrency limit/);
    }
    expect(await taskUsage(api, "race")).toBe(1);

    // A queued run trying again while the slot is taken is answered QUEUED and left as it is.
    const waiting = queued[0]?.id as string;
    const before = await taskRunRow(api, waiting);
    expect((await taskState(api, waiting, "Running")).status).toBe("QUEUED");
    expect((await taskRunRow(api, waiting)).version).toBe(before.version);

    // The holder ends: exactly one more gets in, the next is queued again.
    expect((await taskState(api, success[0]?.id as string, "Success")).status).toBe("SUCCESS");
    expect(await taskUsage(api, "race")).toBe(0);
    expect(await taskState(api, waiting, "Running")).toMatchObject({ status: "SUCCESS", message: null });
    expect((await taskState(api, queued[1]?.id as string, "Running")).status).toBe("QUEUED");
    expect(await taskUsage(api, "race")).toBe(1);
    const history = await ok<{ task_run_by_pk: { states: Array<{ state: string }> } }>(
      api,
      `query { task_run_by_pk(id: "${waiting}") { states(order_by: { version: asc }) { state } } }`,
    );
    expect(history.task_run_by_pk.states.map((s) => s.state)).toEqual(["Pending", "Queued", "Running"]);
  });

  const endings: Array<[string, (holder: { id: string; flowRunId: string }) => Promise<void>]> = [
    ["Success", async ({ id }) => void (await taskState(api, id, "Success"))],
    ["Failed", async ({ id }) => void (await taskState(api, id, "Failed"))],
    ["Cancelled", async ({ id }) => void (await taskState(api, id, "Cancelled"))],
    [
      "Retrying (waiting again)",
      async ({ id }) =>
        void (await taskState(api, id, "Retrying", {
          start_time: new Date(Date.now() + 60_000).toISOString(),
        })),
    ],
    [
      "its flow run Cancelled",
      async ({ flowRunId }) => void (await flowState(api, flowRunId, null, "Cancelled")),
    ],
    [
      "the scheduler's zombie check",
      async ({ flowRunId }) => {
        const result = await checkHealth({ now: new Date(Date.now() + 3 * 60_000) });
        expect(result.taskRunsFailed + result.taskRunsRetrying).toBeGreaterThanOrEqual(1);
        const read = await ok<{ flow_run_by_pk: { state: string } }>(
          api,
          `query { flow_run_by_pk(id: "${flowRunId}") { state } }`,
        );
        expect(read.flow_run_by_pk.state).not.toBe("Running");
      },
    ],
    [
      "deleting its flow run",
      async ({ flowRunId }) =>
        void (await ok(
          api,
          `mutation { delete_flow_run(input: { flow_run_id: "${flowRunId}" }) { success } }`,
        )),
    ],
  ];

  for (const [how, end] of endings) {
    it(`gives the slot back when the holder ends by ${how}`, async () => {
      const tag = `end-${how.replace(/\W+/g, "-")}`;
      await setTaskLimit(api, tag, 1);
      const holderRun = await runningFlowRun(api, { tags: { "extract-1": [tag] } });
      // The waiter's flow has no heartbeat check, so the zombie check leaves it Running.
      const waiterRun = await runningFlowRun(api, { tags: { "extract-1": [tag] }, heartbeat: false });
      const holder = holderRun.task("extract-1");
      const waiter = waiterRun.task("extract-1");
      expect((await taskState(api, holder, "Running")).status).toBe("SUCCESS");
      expect((await taskState(api, waiter, "Running")).status).toBe("QUEUED");
      expect(await taskUsage(api, tag)).toBe(1);

      await end({ id: holder, flowRunId: holderRun.flowRunId });

      expect(await taskUsage(api, tag)).toBe(0);
      expect((await taskState(api, waiter, "Running")).status).toBe("SUCCESS");
      expect(await taskUsage(api, tag)).toBe(1);
      await taskState(api, waiter, "Success");
      expect(await taskUsage(api, tag)).toBe(0);
    });
  }

  it("takes one slot per run: a repeated Running or a retry's new attempt never counts twice", async () => {
    await setTaskLimit(api, "retry", 2);
    const run = await runningFlowRun(api, { tags: { "transform-1": ["retry"], "extract-1": ["retry"] } });
    const transform = run.task("transform-1");
    expect((await taskState(api, transform, "Running")).status).toBe("SUCCESS");
    expect((await taskState(api, transform, "Running")).status).toBe("SUCCESS");
    expect(await taskUsage(api, "retry")).toBe(1);
    await taskState(api, transform, "Retrying", { start_time: new Date().toISOString(), run_count: 1 });
    expect(await taskUsage(api, "retry")).toBe(0);
    expect((await taskState(api, transform, "Running")).status).toBe("SUCCESS");
    expect(await taskUsage(api, "retry")).toBe(1);
    // The other slot is still free for another task run.
    expect((await taskState(api, run.task("extract-1"), "Running")).status).toBe("SUCCESS");
    expect(await taskUsage(api, "retry")).toBe(2);
    await taskState(api, transform, "Success");
    await taskState(api, run.task("extract-1"), "Success");
    expect(await taskUsage(api, "retry")).toBe(0);
  });

  it("needs room in every limited tag of the task; tags without a limit are unlimited", async () => {
    await setTaskLimit(api, "multi-a", 5);
    await setTaskLimit(api, "multi-b", 1);
    const tags = ["multi-a", "multi-b", "multi-unlimited"];
    const run = await runningFlowRun(api, {
      tags: { "extract-1": tags, "load-1": tags, "square-1": ["multi-a"] },
    });
    expect((await taskState(api, run.task("extract-1"), "Running")).status).toBe("SUCCESS");
    const refused = await taskState(api, run.task("load-1"), "Running");
    expect(refused.status).toBe("QUEUED");
    expect(refused.message).toMatch(/"multi-b"/);
    expect(refused.message).not.toMatch(/"multi-a"/);
    expect(await taskUsage(api, "multi-a")).toBe(1); // the refused run took nothing
    expect(await taskUsage(api, "multi-b")).toBe(1);
    expect((await taskState(api, run.task("square-1"), "Running")).status).toBe("SUCCESS");
    expect(await taskUsage(api, "multi-a")).toBe(2);
    const both = await ok<{ task_concurrency: Array<{ name: string; usage: number }> }>(api, D.taskUsage, {
      tags: ["multi-a", "multi-unlimited"],
    });
    expect(both.task_concurrency).toEqual([
      { name: "multi-a", usage: 2 },
      { name: "multi-unlimited", usage: 0 },
    ]);
  });

  it("follows a limit lowered below its use, set to 0, deleted and created again", async () => {
    const id = await setTaskLimit(api, "changing", 2);
    const run = await runningFlowRun(api, { tags: { "*": ["changing"] }, extraTasks: 3 });
    const [a, b, c] = ["extra-1", "extra-2", "extra-3"].map(run.task) as [string, string, string];
    expect((await taskState(api, a, "Running")).status).toBe("SUCCESS");
    expect((await taskState(api, b, "Running")).status).toBe("SUCCESS");
    expect(await setTaskLimit(api, "changing", 1)).toBe(id);
    expect((await taskState(api, c, "Running")).status).toBe("QUEUED");
    await taskState(api, a, "Success");
    expect(await taskUsage(api, "changing")).toBe(1); // still 1 of 1 in use
    expect((await taskState(api, c, "Running")).status).toBe("QUEUED");
    await taskState(api, b, "Success");
    expect((await taskState(api, c, "Running")).status).toBe("SUCCESS");

    // Limit 0: nothing enters Running.
    await setTaskLimit(api, "zero", 0);
    const zero = await runningFlowRun(api, { tags: { "extract-1": ["zero"] } });
    const refused = await taskState(api, zero.task("extract-1"), "Running");
    expect(refused.status).toBe("QUEUED");
    expect(refused.message).toMatch(/0 of 0 in use/);

    // Deleted while c holds a slot: unlimited from then on; c ends without error.
    await ok(api, D.deleteTaskTagLimit, { input: { limit_id: id } });
    expect((await taskState(api, run.task("extract-1"), "Running")).status).toBe("SUCCESS");
    expect((await taskState(api, run.task("load-1"), "Running")).status).toBe("SUCCESS");
    // Created again: it counts the runs entering Running from then on, not c's old slot.
    await setTaskLimit(api, "changing", 1);
    expect((await taskState(api, c, "Success")).status).toBe("SUCCESS");
    expect(await taskUsage(api, "changing")).toBe(0);
    expect((await taskState(api, run.task("square-1"), "Running")).status).toBe("SUCCESS");
    expect(await taskUsage(api, "changing")).toBe(1);
  });

  it("costs a task without tags the requests it cost before: a read and one UpdateItem for Running, one UpdateItem after", async () => {
    const run = await runningFlowRun(api, {
      tags: { "extract-1": ["costly"], "load-1": ["costly-unlimited"] },
    });
    await setTaskLimit(api, "costly", 5);
    const inProcess = (id: string, type: string, version: number | null) =>
      asTenant(tenant, () => TaskRun.setStates([{ task_run_id: id, version, state: state(type) }]));
    const cost = async (id: string, type: string) => {
      const version = type === "Running" ? (await taskRunRow(api, id)).version : null;
      await asTenant(tenant, () => TaskRun.fromIds([id])); // as the runner's read before: owner known
      counter.take();
      refused = {};
      const [answer] = await inProcess(id, type, version);
      expect(answer?.status).toBe("SUCCESS");
      // The runtime's supervisor pings DynamoDB Local (ListTables) on its own clock: not the transition's.
      const { ListTables: _ping, ...byCommand } = counter.take().byCommand;
      for (const [name, n] of Object.entries(refused)) byCommand[name] = (byCommand[name] ?? 0) + n;
      return byCommand;
    };
    // Untagged: exactly the floor of BENCHMARKS.md (flow run's state, the conditional write).
    expect(await cost(run.task("transform-1"), "Running")).toEqual({ GetItem: 1, UpdateItem: 1 });
    expect(await cost(run.task("transform-1"), "Success")).toEqual({ UpdateItem: 1 });
    // Tagged, no limit on its tags: one BatchGetItem more (read with the flow run's state), no write more.
    expect(await cost(run.task("load-1"), "Running")).toEqual({ GetItem: 1, BatchGetItem: 1, UpdateItem: 1 });
    expect(await cost(run.task("load-1"), "Success")).toEqual({ UpdateItem: 1 });
    // Limited: the run and its counters in one transaction; giving back, the refused plain write then one.
    expect(await cost(run.task("extract-1"), "Running")).toEqual({
      GetItem: 1,
      BatchGetItem: 2,
      TransactWriteItems: 1,
    });
    expect(await cost(run.task("extract-1"), "Success")).toEqual({ UpdateItem: 1, TransactWriteItems: 1 });
    expect(await taskUsage(api, "costly")).toBe(0);
  });
});

describe("flow run limits by label", () => {
  const agentPoll = async (client: Api, labels: string[]) =>
    (
      await ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(client, Q.queue, {
        input: { before: new Date(Date.now() + 10_000).toISOString(), labels, tenant_id: null },
      })
    ).get_runs_in_queue.flow_run_ids;

  it("hands an agent only runs with a free slot, answers QUEUED on Submitted or Running without one, and frees it when the run ends", async () => {
    const { api: client } = await otherWorkspace("Flow limits");
    const created = await ok<{ update_flow_concurrency_limit: { id: string } }>(client, D.updateFlowLimit, {
      label: "gpu",
      limit: 1,
    });
    const limitId = created.update_flow_concurrency_limit.id;
    const limits = await ok<{ flow_concurrency_limit: unknown[] }>(client, D.flowLimits);
    expect(limits.flow_concurrency_limit).toEqual([{ id: limitId, limit: 1, name: "gpu" }]);
    const byName = await ok<{ flow_concurrency_limit: unknown[] }>(
      client,
      'query { flow_concurrency_limit(where: { name: { _eq: "gpu" } }) { limit id } }',
    );
    expect(byName.flow_concurrency_limit).toEqual([{ limit: 1, id: limitId }]);

    const projectId = await createProject(client, "flows");
    const flowId = await registerFlow(client, projectId, pipelineFlow("gpu-flow", { labels: ["gpu"] }));
    const cpuFlow = await registerFlow(client, projectId, pipelineFlow("cpu-flow", { labels: ["cpu"] }));
    const past = (s: number) => new Date(Date.now() - s * 1000).toISOString();
    const first = await createRun(client, {
      flow_id: flowId,
      parameters: { n: 1 },
      scheduled_start_time: past(30),
    });
    const second = await createRun(client, {
      flow_id: flowId,
      parameters: { n: 1 },
      scheduled_start_time: past(20),
    });
    const cpu = await createRun(client, {
      flow_id: cpuFlow,
      parameters: { n: 1 },
      scheduled_start_time: past(10),
    });

    // One gpu slot: the oldest gpu run only; runs of other labels are not held back.
    expect(await agentPoll(client, ["gpu", "cpu"])).toEqual([first, cpu]);
    expect((await flowState(client, first, 1, "Submitted")).status).toBe("SUCCESS");
    expect(await agentPoll(client, ["gpu"])).toEqual([]);
    const usage = await ok<{ flow_concurrency: unknown[] }>(client, D.flowUsage, { labels: ["gpu"] });
    expect(usage.flow_concurrency).toEqual([{ label: "gpu", usage: 1 }]);

    // An agent submitting it anyway (a race between agents) is answered QUEUED; Queued is stored.
    const refused = await flowState(client, second, 1, "Submitted");
    expect(refused.status).toBe("QUEUED");
    expect(refused.message).toMatch(/flow run concurrency limit.*"gpu"/);
    const queued = await ok<{
      flow_run_by_pk: { state: string; version: number; serialized_state: unknown };
    }>(client, `query { flow_run_by_pk(id: "${second}") { state version serialized_state } }`);
    expect(queued.flow_run_by_pk).toMatchObject({
      state: "Queued",
      version: 2,
      serialized_state: { type: "Queued", state: { type: "Scheduled" } },
    });
    // Its runner tries Running: still no room, left as it is.
    expect((await flowState(client, second, 2, "Running")).status).toBe("QUEUED");
    // Submitted → Running keeps the slot it holds.
    expect((await flowState(client, first, 2, "Running")).status).toBe("SUCCESS");
    expect(await agentPoll(client, ["gpu"])).toEqual([]);

    // The first ends: the waiting runner gets in.
    await flowState(client, first, null, "Success");
    expect((await flowState(client, second, 2, "Running")).status).toBe("SUCCESS");
    const third = await createRun(client, {
      flow_id: flowId,
      parameters: { n: 1 },
      scheduled_start_time: past(5),
    });
    expect(await agentPoll(client, ["gpu"])).toEqual([]);
    // Straight to Running (no agent) without room: QUEUED too.
    expect((await flowState(client, third, 1, "Running")).status).toBe("QUEUED");
    // Deleting the holder gives its slot back; the queued run gets in.
    await ok(client, `mutation { delete_flow_run(input: { flow_run_id: "${second}" }) { success } }`);
    expect((await flowState(client, third, 2, "Running")).status).toBe("SUCCESS");
    await flowState(client, third, null, "Cancelled");

    // Deleted: the label is unlimited.
    const fourth = await createRun(client, {
      flow_id: flowId,
      parameters: { n: 1 },
      scheduled_start_time: past(1),
    });
    const fifth = await createRun(client, {
      flow_id: flowId,
      parameters: { n: 1 },
      scheduled_start_time: past(0),
    });
    expect(await agentPoll(client, ["gpu"])).toEqual([fourth]);
    const gone = await ok<{ delete_flow_concurrency_limit: { success: boolean } }>(
      client,
      D.deleteFlowLimit,
      {
        limitId,
      },
    );
    expect(gone.delete_flow_concurrency_limit.success).toBe(true);
    expect(await agentPoll(client, ["gpu"])).toEqual([fourth, fifth]);
    expect((await flowState(client, fourth, 1, "Submitted")).status).toBe("SUCCESS");
    expect((await flowState(client, fifth, 1, "Submitted")).status).toBe("SUCCESS");
  });

  it("refuses bad flow limits and a foreign tenant_id", async () => {
    expect((await fails(api, D.updateFlowLimit, { label: "x", limit: -3 })).code).toBe("BAD_USER_INPUT");
    expect((await fails(api, D.updateFlowLimit, { label: "", limit: 1 })).code).toBe("BAD_USER_INPUT");
    expect(
      (await fails(api, D.deleteFlowLimit, { limitId: "00000000-0000-4000-8000-000000000000" })).code,
    ).toBe("NOT_FOUND");
    const other = await otherWorkspace("Flow limits elsewhere");
    const foreign = await fails(
      api,
      `mutation { update_flow_concurrency_limit(input: { label: "x", limit: 1, tenant_id: "${other.tenant}" }) { id } }`,
    );
    expect(foreign.code).toBe("UNAUTHENTICATED");
  });
});

describe("workspaces", () => {
  it("keep their limits and slots apart", async () => {
    const a = await otherWorkspace("Limits A");
    const b = await otherWorkspace("Limits B");
    const aLimit = await setTaskLimit(a.api, "shared", 0);
    const aFlow = await ok<{ update_flow_concurrency_limit: { id: string } }>(a.api, D.updateFlowLimit, {
      label: "shared",
      limit: 0,
    });
    // B sees none of A's limits and cannot delete them.
    const seen = await ok<{
      task_tag_limit: unknown[];
      flow_concurrency_limit: unknown[];
      task_tag_limit_by_pk: unknown;
    }>(
      b.api,
      `query { task_tag_limit { id } flow_concurrency_limit { id } task_tag_limit_by_pk(id: "${aLimit}") { id } }`,
    );
    expect(seen).toEqual({ task_tag_limit: [], flow_concurrency_limit: [], task_tag_limit_by_pk: null });
    expect((await fails(b.api, D.deleteTaskTagLimit, { input: { limit_id: aLimit } })).code).toBe(
      "NOT_FOUND",
    );
    expect(
      (await fails(b.api, D.deleteFlowLimit, { limitId: aFlow.update_flow_concurrency_limit.id })).code,
    ).toBe("NOT_FOUND");
    // A's limit 0 holds A's tasks back, never B's; B's own limit is its own.
    const aRun = await runningFlowRun(a.api, { tags: { "extract-1": ["shared"] } });
    expect((await taskState(a.api, aRun.task("extract-1"), "Running")).status).toBe("QUEUED");
    const bRun = await runningFlowRun(b.api, { tags: { "extract-1": ["shared"] } });
    expect((await taskState(b.api, bRun.task("extract-1"), "Running")).status).toBe("SUCCESS");
    const bLimit = await setTaskLimit(b.api, "shared", 1);
    expect(bLimit).not.toBe(aLimit);
    expect(await taskUsage(b.api, "shared")).toBe(0);
    expect(await taskUsage(a.api, "shared")).toBe(0);
    const limits = await ok<{ task_tag_limit: Array<{ limit: number }> }>(a.api, D.getTaskTagLimit("shared"));
    expect(limits.task_tag_limit).toEqual([{ limit: 0 }]);
  });
});
