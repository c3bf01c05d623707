import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDynamo } from "#core/dynamo/client.js";
import { MAX_ITEMS_READ } from "#core/query/engine.js";
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
import { seedFinishedRuns } from "../helpers/seed-runs.js";

/**
 * The Hasura reading language over orchestration entities: operators, boolean combinations,
 * relationship filters, ordering, pagination, nested relationship arguments, and the refusal of
 * queries that have no access path narrower than the whole workspace.
 */
let runtime: LocalRuntime;
let api: Api;
let tenantId: string;
let alpha: string;
let alphaV1: string;
let beta: string;
const runs: Record<string, string> = {};
const FUTURE = new Date(Date.now() + 3 * 3600_000).toISOString();

/** name → [final state, labels] of alpha's runs. */
const ALPHA_RUNS: Record<string, [string, string[]]> = {
  "run-a1": ["Success", ["x"]],
  "run-a2": ["Failed", ["x", "y"]],
  "run-a3": ["Success", []],
  "run-a4": ["Scheduled", ["y"]],
  "run-a5": ["Running", ["x"]],
  "run-a6": ["Cancelled", []],
};

beforeAll(async () => {
  runtime = await startTestRuntime("orch-reads");
  tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  const reads = await createProject(api, "reads");
  const other = await createProject(api, "other");
  alphaV1 = await registerFlow(api, reads, pipelineFlow("alpha"));
  alpha = await registerFlow(api, reads, pipelineFlow("alpha"));
  beta = await registerFlow(api, other, pipelineFlow("beta"));
  for (const [name, [final, labels]] of Object.entries(ALPHA_RUNS)) {
    const id = await createRun(api, {
      flow_id: alpha,
      parameters: { n: 1 },
      flow_run_name: name,
      labels,
      ...(final === "Scheduled" ? { scheduled_start_time: FUTURE } : {}),
    });
    runs[name] = id;
    if (final !== "Scheduled")
      await ok(api, Q.flowRunStates, {
        input: { states: [{ flow_run_id: id, version: null, state: state(final) }] },
      });
  }
  const failedTask = await ok<{
    flow_run_by_pk: { task_runs: Array<{ id: string; task: { slug: string } }> };
  }>(api, Q.runnerRead(runs["run-a2"] ?? ""));
  const extract = failedTask.flow_run_by_pk.task_runs.find((tr) => tr.task.slug === "extract-1")?.id;
  await ok(api, Q.taskRunStates, {
    input: { states: [{ task_run_id: extract, version: 1, state: state("Failed") }] },
  });
  runs["run-b1"] = await createRun(api, { flow_id: beta, parameters: { n: 2 }, flow_run_name: "run-b1" });
});

afterAll(async () => {
  await runtime?.stop();
});

async function alphaRunNames(where: string, extra = ""): Promise<string[]> {
  const data = await ok<{ flow_run: Array<{ name: string }> }>(
    api,
    `query { flow_run(where: { _and: [{ flow_id: { _eq: "${alpha}" } }, ${where}] }${extra}) { name } }`,
  );
  return data.flow_run.map((r) => r.name);
}

const sorted = (names: string[]) => [...names].sort();

describe("where operators", () => {
  it.each([
    ["_eq", `{ name: { _eq: "run-a1" } }`, ["run-a1"]],
    ["_neq", `{ name: { _neq: "run-a1" } }`, ["run-a2", "run-a3", "run-a4", "run-a5", "run-a6"]],
    ["_in", `{ state: { _in: ["Success", "Failed"] } }`, ["run-a1", "run-a2", "run-a3"]],
    ["_nin", `{ state: { _nin: ["Success", "Failed"] } }`, ["run-a4", "run-a5", "run-a6"]],
    ["_gt", `{ name: { _gt: "run-a4" } }`, ["run-a5", "run-a6"]],
    ["_gte", `{ name: { _gte: "run-a4" } }`, ["run-a4", "run-a5", "run-a6"]],
    ["_lt", `{ name: { _lt: "run-a2" } }`, ["run-a1"]],
    ["_lte", `{ name: { _lte: "run-a2" } }`, ["run-a1", "run-a2"]],
    [
      "_gt on a timestamp",
      `{ scheduled_start_time: { _gt: "${new Date(Date.now() + 3600_000).toISOString()}" } }`,
      ["run-a4"],
    ],
    ["_is_null true", `{ end_time: { _is_null: true } }`, ["run-a4", "run-a5"]],
    ["_is_null false", `{ end_time: { _is_null: false } }`, ["run-a1", "run-a2", "run-a3", "run-a6"]],
    ["_like with %", `{ name: { _like: "%3" } }`, ["run-a3"]],
    [
      "_like with _",
      `{ name: { _like: "run-a_" } }`,
      ["run-a1", "run-a2", "run-a3", "run-a4", "run-a5", "run-a6"],
    ],
    ["_ilike", `{ name: { _ilike: "RUN-A1" } }`, ["run-a1"]],
    ["_eq on an Int", `{ version: { _eq: 1 } }`, ["run-a4"]],
    ["_eq on a Boolean", `{ auto_scheduled: { _eq: true } }`, []],
  ])("%s", async (_, where, expected) => {
    expect(sorted(await alphaRunNames(where))).toEqual(expected);
  });
});

describe("boolean combinations", () => {
  it.each([
    ["_or", `{ _or: [{ state: { _eq: "Failed" } }, { name: { _eq: "run-a1" } }] }`, ["run-a1", "run-a2"]],
    ["_not", `{ _not: { state: { _eq: "Success" } } }`, ["run-a2", "run-a4", "run-a5", "run-a6"]],
    [
      "_and as a list with an empty element",
      `{ _and: [{}, { state: { _eq: "Success" } }] }`,
      ["run-a1", "run-a3"],
    ],
    [
      "_and as a single object",
      `{ _and: { state: { _eq: "Success" }, name: { _neq: "run-a1" } } }`,
      ["run-a3"],
    ],
    [
      "_not of an _or inside _and",
      `{ _and: [{ _not: { _or: [{ state: { _eq: "Success" } }, { state: { _eq: "Failed" } }] } }, { name: { _neq: "run-a6" } }] }`,
      ["run-a4", "run-a5"],
    ],
    [
      "an empty _or matches everything",
      `{ _or: [] }`,
      ["run-a1", "run-a2", "run-a3", "run-a4", "run-a5", "run-a6"],
    ],
  ])("%s", async (_, where, expected) => {
    expect(sorted(await alphaRunNames(where))).toEqual(expected);
  });
});

describe("relationship filters", () => {
  it("filters through object relationships (flow → project)", async () => {
    const data = await ok<{
      flow_run: Array<{ name: string }>;
      flow: Array<{ name: string; version: number }>;
    }>(
      api,
      `query {
        flow_run(where: { flow: { project: { name: { _eq: "other" } } } }) { name }
        flow(where: { name: { _eq: "alpha" }, archived: { _eq: false }, project: { name: { _eq: "reads" } } }, order_by: { created: desc }) { name version }
      }`,
    );
    expect(data.flow_run).toEqual([{ name: "run-b1" }]);
    expect(data.flow).toEqual([{ name: "alpha", version: 2 }]);
  });

  it("filters through array relationships (any child matches)", async () => {
    expect(await alphaRunNames(`{ task_runs: { state: { _eq: "Failed" } } }`)).toEqual(["run-a2"]);
    const flows = await ok<{ flow: Array<{ id: string }> }>(
      api,
      `query { flow(where: { flow_runs: { state: { _eq: "Cancelled" } } }) { id } }`,
    );
    expect(flows.flow).toEqual([{ id: alpha }]);
    const none = await alphaRunNames(`{ task_runs: { task: { slug: { _eq: "no-such-task" } } } }`);
    expect(none).toEqual([]);
  });

  it("pins an index through an object relationship's id", async () => {
    const data = await ok<{ flow_run: Array<{ name: string }> }>(
      api,
      `query { flow_run(where: { flow: { id: { _eq: "${beta}" } } }) { name } }`,
    );
    expect(data.flow_run).toEqual([{ name: "run-b1" }]);
  });
});

describe("order_by, limit and offset", () => {
  it("orders by several columns in turn", async () => {
    expect(await alphaRunNames("{}", ", order_by: [{ state: asc }, { name: desc }]")).toEqual([
      "run-a6",
      "run-a2",
      "run-a5",
      "run-a4",
      "run-a3",
      "run-a1",
    ]);
  });

  it("puts nulls last ascending and first descending, as Hasura does", async () => {
    const asc = await alphaRunNames("{}", ", order_by: [{ end_time: asc }, { name: asc }]");
    expect(asc.slice(-2)).toEqual(["run-a4", "run-a5"]);
    const desc = await alphaRunNames("{}", ", order_by: [{ end_time: desc }, { name: asc }]");
    expect(desc.slice(0, 2)).toEqual(["run-a4", "run-a5"]);
  });

  it("pages with limit and offset after ordering", async () => {
    expect(await alphaRunNames("{}", ", order_by: { name: desc }, limit: 2, offset: 1")).toEqual([
      "run-a5",
      "run-a4",
    ]);
    expect(await alphaRunNames("{}", ", order_by: { name: asc }, offset: 5")).toEqual(["run-a6"]);
    expect(await alphaRunNames("{}", ", limit: 0")).toEqual([]);
    expect((await fails(api, `query { flow_run(limit: -1) { id } }`)).code).toBe("BAD_USER_INPUT");
  });

  it("lists versions of a flow group newest first", async () => {
    const data = await ok<{ flow: Array<{ id: string; version: number; archived: boolean }> }>(
      api,
      `query { flow(where: { name: { _eq: "alpha" } }, order_by: { version: desc }) { id version archived } }`,
    );
    expect(data.flow).toEqual([
      { id: alpha, version: 2, archived: false },
      { id: alphaV1, version: 1, archived: true },
    ]);
  });
});

describe("nested relationship arguments", () => {
  it("applies where, order_by, limit and offset to array relationships", async () => {
    const data = await ok<{
      flow_by_pk: { flow_runs: Array<{ name: string }>; flow_group: { flows: Array<{ version: number }> } };
      flow_run_by_pk: { task_runs: Array<{ task: { slug: string }; state: string }> };
    }>(
      api,
      `query {
        flow_by_pk(id: "${alpha}") {
          flow_runs(where: { state: { _eq: "Success" } }, order_by: { name: asc }, limit: 1, offset: 1) { name }
          flow_group { flows(order_by: { version: asc }) { version } }
        }
        flow_run_by_pk(id: "${runs["run-a2"]}") {
          task_runs(where: { task: { slug: { _in: ["extract-1", "load-1"] } } }, order_by: { task_slug: desc }) { task { slug } state }
        }
      }`,
    );
    expect(data.flow_by_pk.flow_runs).toEqual([{ name: "run-a3" }]);
    expect(data.flow_by_pk.flow_group.flows).toEqual([{ version: 1 }, { version: 2 }]);
    expect(data.flow_run_by_pk.task_runs).toEqual([
      { task: { slug: "load-1" }, state: "Pending" },
      { task: { slug: "extract-1" }, state: "Failed" },
    ]);
  });
});

describe("access paths", () => {
  it("refuses a task run query without a flow run or id filter", async () => {
    const error = await fails(api, `query { task_run(where: { state: { _eq: "Failed" } }) { id } }`);
    expect(error.code).toBe("BAD_USER_INPUT");
    expect(error.message).toMatch(/needs a filter with _eq or _in on one of: id, flow_run_id/);
  });

  it(`refuses a query that would read more than ${MAX_ITEMS_READ} runs, and answers it through an index filter`, async () => {
    const flow = await ok<{ flow_by_pk: { flow_group_id: string; project_id: string } }>(
      api,
      `query { flow_by_pk(id: "${beta}") { flow_group_id project_id } }`,
    );
    await seedFinishedRuns(
      useDynamo(),
      runtime.config.tables.main,
      {
        tenantId,
        flowId: beta,
        flowGroupId: flow.flow_by_pk.flow_group_id,
        projectId: flow.flow_by_pk.project_id,
      },
      MAX_ITEMS_READ + 1,
      { createdBefore: new Date(Date.now() - 3600_000), shape: "tenant-listing" },
    );
    const refused = await fails(api, `query { flow_run(where: { state: { _eq: "Failed" } }) { name } }`);
    expect(refused.code).toBe("BAD_USER_INPUT");
    expect(refused.message).toMatch(new RegExp(`would read more than ${MAX_ITEMS_READ} items`));

    const indexed = await ok<{ flow_run: Array<{ name: string }> }>(
      api,
      `query { flow_run(where: { flow_id: { _eq: "${alpha}" }, state: { _eq: "Failed" } }) { name } }`,
    );
    expect(indexed.flow_run).toEqual([{ name: "run-a2" }]);
    // In the listing's own order with a limit, reading stops as soon as the page is full.
    const newest = await ok<{ flow_run: Array<{ name: string }> }>(
      api,
      `query { flow_run(where: { state: { _eq: "Success" } }, order_by: { created: desc }, limit: 3) { name } }`,
    );
    expect(newest.flow_run.map((r) => r.name)).toEqual(["run-a3", "run-a1", "seeded-5000"]);
  });
});
