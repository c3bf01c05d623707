import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useDynamo } from "#core/dynamo/client.js";
import { MAX_ITEMS_READ } from "#core/query/engine.js";
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
import { seedFinishedRuns } from "../helpers/seed-runs.js";

/**
 * The Prefect CLI's run lookups by name (`describe flow-runs --name`, `get logs --name`) and its
 * started listing (`get flow-runs --started`), in a workspace holding more runs than a query may
 * read without an index (MAX_ITEMS_READ): each is answered through its index, where before it
 * was refused. The query texts are the 1.4.1 CLI's (src/prefect/cli/describe.py, get.py).
 */
let runtime: LocalRuntime;
let api: Api;
const ids: Record<string, string> = {};

const RUN_FIELDS = "flow { name } id created state name start_time";
const describeByName = (name: string) =>
  `query { flow_run(where: { _and: { name: { _eq: "${name}" }, flow: { name: { _eq: null } } } }) { name flow { name } created parameters auto_scheduled scheduled_start_time start_time end_time heartbeat serialized_state } }`;
const logsByName = (name: string) =>
  `query { flow_run(where: { name: { _eq: "${name}" }, id: { _eq: null } }, order_by: { start_time: desc }) { logs(order_by: { timestamp: asc }) { timestamp message level } start_time } }`;
const STARTED = `query { flow_run(where: { _and: { flow: { _and: { name: { _eq: null }, project: { name: { _eq: null } } } }, start_time: { _is_null: false } } }, limit: 10, order_by: { start_time: desc }) { ${RUN_FIELDS} } }`;

type Run = { name: string; start_time: string | null; flow: { name: string } };

async function setState(id: string, type: string): Promise<void> {
  await ok(api, Q.flowRunStates, {
    input: { states: [{ flow_run_id: id, version: null, state: state(type) }] },
  });
}

beforeAll(async () => {
  runtime = await startTestRuntime("run-lookups");
  const tenantId = runtime.bootstrap.workspace.id;
  api = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantId);
  const project = await createProject(api, "lookups");
  const flowId = await registerFlow(api, project, pipelineFlow("lookup-flow"));
  const flow = await ok<{ flow_by_pk: { flow_group_id: string } }>(
    api,
    `query { flow_by_pk(id: "${flowId}") { flow_group_id } }`,
  );
  // Finished runs, started an hour ago and before: more than a query may read unindexed.
  await seedFinishedRuns(
    useDynamo(),
    runtime.config.tables.main,
    { tenantId, flowId, flowGroupId: flow.flow_by_pk.flow_group_id, projectId: project },
    MAX_ITEMS_READ + 1,
    { createdBefore: new Date(Date.now() - 3600_000) },
  );
  // Created first, started last: the started order is not the creation order.
  ids.early = await createRun(api, { flow_id: flowId, flow_run_name: "created-early", parameters: { n: 1 } });
  ids.late = await createRun(api, { flow_id: flowId, flow_run_name: "created-late", parameters: { n: 1 } });
  ids.waiting = await createRun(api, {
    flow_id: flowId,
    flow_run_name: "never-started",
    parameters: { n: 1 },
  });
  await setState(ids.late, "Running");
  await setState(ids.early, "Running");
  await setState(ids.early, "Success");
  // Running again (a restart) keeps the first start.
  await setState(ids.late, "Scheduled");
  await setState(ids.late, "Running");
}, 120_000);

afterAll(async () => {
  await runtime?.stop();
});

describe("flow runs by name", () => {
  it("`prefect describe flow-runs --name` finds the run among thousands", async () => {
    const found = await ok<{ flow_run: Run[] }>(api, describeByName("created-early"));
    expect(found.flow_run).toHaveLength(1);
    expect(found.flow_run[0]).toMatchObject({ name: "created-early", flow: { name: "lookup-flow" } });
    const seeded = await ok<{ flow_run: Run[] }>(api, describeByName("seeded-1234"));
    expect(seeded.flow_run.map((r) => r.name)).toEqual(["seeded-1234"]);
    expect((await ok<{ flow_run: Run[] }>(api, describeByName("no-such-run"))).flow_run).toEqual([]);
  });

  it("`prefect get logs --name` finds the run and reads its logs", async () => {
    const found = await ok<{ flow_run: Array<{ logs: unknown[]; start_time: string }> }>(
      api,
      logsByName("created-late"),
    );
    expect(found.flow_run).toHaveLength(1);
    expect(found.flow_run[0]?.start_time).toEqual(expect.any(String));
  });

  it("follows a rename: found by the new name, not by the old", async () => {
    await ok(
      api,
      `mutation { set_flow_run_name(input: { flow_run_id: "${ids.waiting}", name: "renamed-run" }) { success } }`,
    );
    expect((await ok<{ flow_run: Run[] }>(api, describeByName("never-started"))).flow_run).toEqual([]);
    const renamed = await ok<{ flow_run: Run[] }>(api, describeByName("renamed-run"));
    expect(renamed.flow_run.map((r) => r.name)).toEqual(["renamed-run"]);
  });

  it("lists every run sharing a name, newest first, with a limit reading only those", async () => {
    const twin = await createRun(api, {
      flow_id: (
        await ok<{ flow_run_by_pk: { flow_id: string } }>(
          api,
          `query { flow_run_by_pk(id: "${ids.early}") { flow_id } }`,
        )
      ).flow_run_by_pk.flow_id,
      flow_run_name: "created-early",
      parameters: { n: 1 },
    });
    const both = await ok<{ flow_run: Array<{ id: string }> }>(
      api,
      `query { flow_run(where: { name: { _eq: "created-early" } }, order_by: { created: desc }) { id } }`,
    );
    expect(both.flow_run.map((r) => r.id)).toEqual([twin, ids.early]);
    const newest = await ok<{ flow_run: Array<{ id: string }> }>(
      api,
      `query { flow_run(where: { name: { _eq: "created-early" } }, order_by: { created: desc }, limit: 1) { id } }`,
    );
    expect(newest.flow_run.map((r) => r.id)).toEqual([twin]);
  });
});

describe("started flow runs", () => {
  it("`prefect get flow-runs --started` lists the most recently started runs first", async () => {
    const started = await ok<{ flow_run: Run[] }>(api, STARTED);
    expect(started.flow_run).toHaveLength(10);
    // `created-early` started after `created-late` first did; the restart kept the first start.
    expect(started.flow_run.slice(0, 3).map((r) => r.name)).toEqual([
      "created-early",
      "created-late",
      `seeded-${MAX_ITEMS_READ}`,
    ]);
    const starts = started.flow_run.map((r) => String(r.start_time));
    expect(starts).toEqual([...starts].sort().reverse());
    expect(started.flow_run.map((r) => r.name)).not.toContain("renamed-run");
  });

  it("pages through the started order with an offset", async () => {
    const page = await ok<{ flow_run: Run[] }>(
      api,
      `query { flow_run(where: { start_time: { _is_null: false } }, order_by: { start_time: desc }, limit: 2, offset: 2) { name } }`,
    );
    expect(page.flow_run.map((r) => r.name)).toEqual([
      `seeded-${MAX_ITEMS_READ}`,
      `seeded-${MAX_ITEMS_READ - 1}`,
    ]);
  });
});
