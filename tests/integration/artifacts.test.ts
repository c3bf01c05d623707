import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as Artifact from "#core/artifact/index.js";
import { MAX_ARTIFACT_DATA_BYTES, MAX_ARTIFACTS_PER_TASK_RUN } from "#core/artifact/index.js";
import { ArtifactKeys } from "#core/artifact/keys.js";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  prefectClient,
  registerFlow,
} from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * Task run artifacts over HTTP: the three mutations exactly as the Prefect 1.4.1 client sends
 * them (client.py `create_task_run_artifact`, `update_task_run_artifact`,
 * `delete_task_run_artifact`, through backend/artifacts.py's link and markdown helpers), read
 * back with the Prefect UI's queries (src/graphql/Artifacts/*.gql).
 */
const CREATE = `mutation($input: create_task_run_artifact_input!) {
    create_task_run_artifact(input: $input) {
        id
    }
}`;
const UPDATE = `mutation($input: update_task_run_artifact_input!) {
    update_task_run_artifact(input: $input) {
        success
    }
}`;
const DELETE = `mutation($input: delete_task_run_artifact_input!) {
    delete_task_run_artifact(input: $input) {
        success
    }
}`;
const UI_ARTIFACTS = `query TaskRunArtifacts($taskRunIds: [uuid!]) {
  task_run_artifact(where: { task_run_id: { _in: $taskRunIds } }) {
    id
    created
    data
    kind

    task_run {
      id
      name
      state

      task {
        id
        name
      }
    }
  }
}`;
const UI_COUNT = `query TaskRunArtifacts($taskRunIds: [uuid!]) {
  task_run_artifact_aggregate(where: { task_run_id: { _in: $taskRunIds } }) {
    aggregate {
      count
    }
  }
}`;
const OF_RUN = `query($id: uuid!) {
  task_run_artifact(where: { flow_run_id: { _eq: $id } }, order_by: [{ created: asc }]) {
    id tenant_id task_run_id flow_run_id kind data created updated
  }
}`;

type UiArtifact = {
  id: string;
  created: string;
  data: Record<string, unknown>;
  kind: string;
  task_run: { id: string; name: string | null; state: string; task: { id: string; name: string } };
};
type Row = {
  id: string;
  tenant_id: string;
  task_run_id: string;
  flow_run_id: string;
  kind: string;
  data: unknown;
  created: string;
  updated: string;
};

let runtime: LocalRuntime;
let tenantA: string;
let tenantB: string;
let a: Api;
let b: Api;
let runA: string;
let taskRunsA: Array<{ id: string; task: { id: string; name: string } }>;
let taskRunB: string;

async function newRun(api: Api, name: string) {
  const projectId = await createProject(api, name);
  const flowId = await registerFlow(api, projectId, pipelineFlow(name));
  const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
  const taskRuns = await vi.waitFor(async () => {
    const read = await ok<{
      flow_run_by_pk: { task_runs: Array<{ id: string; task: { id: string; name: string } }> };
    }>(
      api,
      `query($id: uuid!) { flow_run_by_pk(id: $id) { task_runs(order_by: [{ task_slug: asc }]) { id task { id name } } } }`,
      { id: runId },
    );
    expect(read.flow_run_by_pk.task_runs.length).toBeGreaterThanOrEqual(2);
    return read.flow_run_by_pk.task_runs;
  });
  return { runId, taskRuns };
}

async function create(api: Api, taskRunId: string, kind: string, data: unknown): Promise<string> {
  const res = await ok<{ create_task_run_artifact: { id: string } }>(api, CREATE, {
    input: { task_run_id: taskRunId, kind, data, tenant_id: null },
  });
  return res.create_task_run_artifact.id;
}

async function ofRun(api: Api, runId = runA): Promise<Row[]> {
  return (await ok<{ task_run_artifact: Row[] }>(api, OF_RUN, { id: runId })).task_run_artifact;
}

async function countItem(taskRunId: string) {
  const result = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: ArtifactKeys.count(tenantA, taskRunId),
      ConsistentRead: true,
    }),
  );
  return result.Item?.artifacts as number | undefined;
}

beforeAll(async () => {
  runtime = await startTestRuntime("artifacts");
  tenantA = runtime.bootstrap.workspace.id;
  a = prefectClient(runtime, runtime.bootstrap.secret ?? "", tenantA);
  const other = await Workspace.create({ name: "Artifacts other" });
  const keyB = (await asTenant(other.id, () => ApiKey.create({ name: "artifacts-b" }))).secret;
  tenantB = other.id;
  b = prefectClient(runtime, keyB, tenantB);
  ({ runId: runA, taskRuns: taskRunsA } = await newRun(a, "artifacts-a"));
  taskRunB = (await newRun(b, "artifacts-b")).taskRuns[0]?.id ?? "";
}, 60_000);
afterAll(async () => {
  await runtime?.stop();
});

describe("task run artifacts", () => {
  it("creates link and markdown artifacts with the client's documents and reads them with the UI's queries", async () => {
    const [first, second] = taskRunsA;
    if (!first || !second) throw new Error("the flow has two tasks");
    const link = await create(a, first.id, "link", { link: "/flow-run/1234" });
    const markdown = await create(a, second.id, "markdown", { markdown: "# Report\n\n**12** rows" });
    const other = await create(a, first.id, "link", { link: "https://example.com/report" });

    const ids = [first.id, second.id];
    const read = await ok<{ task_run_artifact: UiArtifact[] }>(a, UI_ARTIFACTS, { taskRunIds: ids });
    const byId = new Map(read.task_run_artifact.map((row) => [row.id, row]));
    expect(byId.get(link)).toMatchObject({
      kind: "link",
      data: { link: "/flow-run/1234" },
      task_run: { id: first.id, state: "Pending", task: { id: first.task.id, name: first.task.name } },
    });
    expect(byId.get(markdown)).toMatchObject({
      kind: "markdown",
      data: { markdown: "# Report\n\n**12** rows" },
      task_run: { id: second.id, task: { name: second.task.name } },
    });
    // One task run's artifacts come in created order.
    const ofFirst = read.task_run_artifact.filter((row) => row.task_run.id === first.id).map((row) => row.id);
    expect(ofFirst).toEqual([link, other]);
    expect(Date.parse(byId.get(link)?.created ?? "")).toBeGreaterThan(Date.now() - 60_000);

    const count = await ok<{ task_run_artifact_aggregate: { aggregate: { count: number } } }>(a, UI_COUNT, {
      taskRunIds: ids,
    });
    expect(count.task_run_artifact_aggregate.aggregate.count).toBe(3);

    // The same rows by flow run, by id, and through the run's and the task run's relationships.
    const rows = await ofRun(a);
    expect(rows.map((row) => row.id).sort()).toEqual([link, markdown, other].sort());
    expect(rows.every((row) => row.tenant_id === tenantA && row.flow_run_id === runA)).toBe(true);
    const nested = await ok<{
      task_run_artifact_by_pk: { kind: string; task_run: { id: string } };
      flow_run_by_pk: { artifacts: Array<{ id: string }> };
      task_run_by_pk: { artifacts_aggregate: { aggregate: { count: number } } };
    }>(
      a,
      `query($id: uuid!, $run: uuid!, $taskRun: uuid!) {
        task_run_artifact_by_pk(id: $id) { kind task_run { id } }
        flow_run_by_pk(id: $run) { artifacts { id } }
        task_run_by_pk(id: $taskRun) { artifacts_aggregate { aggregate { count } } }
      }`,
      { id: markdown, run: runA, taskRun: first.id },
    );
    expect(nested.task_run_artifact_by_pk).toEqual({ kind: "markdown", task_run: { id: second.id } });
    expect(nested.flow_run_by_pk.artifacts).toHaveLength(3);
    expect(nested.task_run_by_pk.artifacts_aggregate.aggregate.count).toBe(2);
  });

  it("accepts the caller's own tenant_id and refuses any other without saying whether it exists", async () => {
    const taskRun = taskRunsA[0]?.id ?? "";
    const own = await ok<{ create_task_run_artifact: { id: string } }>(a, CREATE, {
      input: { task_run_id: taskRun, kind: "link", data: { link: "/x" }, tenant_id: tenantA },
    });
    expect(own.create_task_run_artifact.id).toMatch(/^[0-9a-f-]{36}$/);
    const before = await ofRun(a);
    for (const tenant of [tenantB, "00000000-0000-4000-8000-000000000000"]) {
      const refused = await fails(a, CREATE, {
        input: { task_run_id: taskRun, kind: "link", data: { link: "/y" }, tenant_id: tenant },
      });
      expect(refused.code).toBe("UNAUTHENTICATED");
    }
    expect(await ofRun(a)).toEqual(before);
  });

  it("updates an artifact's data with the client's document, and answers success false for an unknown id", async () => {
    const id = await create(a, taskRunsA[0]?.id ?? "", "markdown", { markdown: "draft" });
    const [row] = (await ofRun(a)).filter((r) => r.id === id);
    const updated = await ok(a, UPDATE, { input: { task_run_artifact_id: id, data: { markdown: "final" } } });
    expect(updated).toEqual({ update_task_run_artifact: { success: true } });
    const [after] = (await ofRun(a)).filter((r) => r.id === id);
    expect(after).toMatchObject({ kind: "markdown", data: { markdown: "final" }, created: row?.created });
    expect(Date.parse(after?.updated ?? "")).toBeGreaterThanOrEqual(Date.parse(row?.updated ?? ""));

    const before = await ofRun(a);
    const unknown = await ok(a, UPDATE, {
      input: { task_run_artifact_id: "00000000-0000-4000-8000-000000000000", data: { link: "/z" } },
    });
    expect(unknown).toEqual({ update_task_run_artifact: { success: false } });
    expect(await ofRun(a)).toEqual(before);
  });

  it("deletes an artifact with the client's document; deleting it again answers success false", async () => {
    const taskRun = taskRunsA[1]?.id ?? "";
    const id = await create(a, taskRun, "link", { link: "/gone" });
    const countBefore = await countItem(taskRun);
    expect(await ok(a, DELETE, { input: { task_run_artifact_id: id } })).toEqual({
      delete_task_run_artifact: { success: true },
    });
    expect((await ofRun(a)).some((row) => row.id === id)).toBe(false);
    expect(await countItem(taskRun)).toBe((countBefore ?? 0) - 1);
    expect(await ok(a, DELETE, { input: { task_run_artifact_id: id } })).toEqual({
      delete_task_run_artifact: { success: false },
    });
    expect(await countItem(taskRun)).toBe((countBefore ?? 0) - 1);
  });

  it("refuses an unknown or another workspace's task run with the message the client retries on, storing nothing", async () => {
    const before = await ofRun(a);
    for (const taskRunId of ["00000000-0000-4000-8000-000000000000", taskRunB]) {
      const refused = await fails(a, CREATE, {
        input: { task_run_id: taskRunId, kind: "link", data: { link: "/x" }, tenant_id: null },
      });
      expect(refused).toMatchObject({ code: "NOT_FOUND", message: `Task run ${taskRunId} not found` });
      expect(refused.message.toLowerCase()).toContain("not found");
    }
    expect(await ofRun(a)).toEqual(before);
  });

  it("keeps workspaces apart: another workspace can neither read, update nor delete an artifact", async () => {
    const taskRun = taskRunsA[0]?.id ?? "";
    const id = await create(a, taskRun, "markdown", { markdown: "private" });
    const before = await ofRun(a);
    const seen = await ok<{
      task_run_artifact: unknown[];
      task_run_artifact_by_pk: unknown;
      byRun: unknown[];
    }>(
      b,
      `query($id: uuid!, $taskRun: uuid!, $run: uuid!) {
        task_run_artifact(where: { task_run_id: { _in: [$taskRun] } }) { id }
        task_run_artifact_by_pk(id: $id) { id }
        byRun: task_run_artifact(where: { flow_run_id: { _eq: $run } }) { id }
      }`,
      { id, taskRun, run: runA },
    );
    expect(seen).toEqual({ task_run_artifact: [], task_run_artifact_by_pk: null, byRun: [] });
    expect(await ok(b, UPDATE, { input: { task_run_artifact_id: id, data: { markdown: "mine" } } })).toEqual({
      update_task_run_artifact: { success: false },
    });
    expect(await ok(b, DELETE, { input: { task_run_artifact_id: id } })).toEqual({
      delete_task_run_artifact: { success: false },
    });
    expect(await ofRun(a)).toEqual(before);
  });

  it("refuses oversize data, unstorable data, an empty kind and non-UUID ids, each leaving stored data unchanged", async () => {
    const taskRun = taskRunsA[0]?.id ?? "";
    const id = await create(a, taskRun, "markdown", { markdown: "kept" });
    const before = await ofRun(a);
    const countBefore = await countItem(taskRun);
    const big = { markdown: "x".repeat(MAX_ARTIFACT_DATA_BYTES) };
    const deep = JSON.parse(`${'{"a":'.repeat(40)}1${"}".repeat(40)}`);
    const cases: Array<[string, Record<string, unknown>, string, RegExp?]> = [
      [
        CREATE,
        { task_run_id: taskRun, kind: "markdown", data: big },
        "PAYLOAD_TOO_LARGE",
        new RegExp(`^Artifact data payload exceeds ${MAX_ARTIFACT_DATA_BYTES} bytes limit\\.`),
      ],
      [UPDATE, { task_run_artifact_id: id, data: big }, "PAYLOAD_TOO_LARGE", /exceeds \d+ bytes limit/],
      [CREATE, { task_run_id: taskRun, kind: "link", data: { link: 1e300 } }, "BAD_USER_INPUT", /data\.link/],
      [CREATE, { task_run_id: taskRun, kind: "link", data: { "": "/x" } }, "BAD_USER_INPUT", /empty/],
      [UPDATE, { task_run_artifact_id: id, data: deep }, "BAD_USER_INPUT", /deeper/],
      [UPDATE, { task_run_artifact_id: id, data: { n: 2 ** 53 + 1 } }, "BAD_USER_INPUT", /data\.n/],
      [CREATE, { task_run_id: taskRun, kind: "", data: { link: "/x" } }, "BAD_USER_INPUT", /kind/],
      [CREATE, { task_run_id: taskRun, kind: "k".repeat(256), data: {} }, "BAD_USER_INPUT", /kind/],
      [CREATE, { task_run_id: "not-a-uuid", kind: "link", data: { link: "/x" } }, "BAD_USER_INPUT"],
      [CREATE, { task_run_id: taskRun, kind: "link", data: null }, "GRAPHQL_VALIDATION_FAILED"],
      [UPDATE, { task_run_artifact_id: "not-a-uuid", data: { link: "/x" } }, "BAD_USER_INPUT"],
      [DELETE, { task_run_artifact_id: "not-a-uuid" }, "BAD_USER_INPUT"],
      [DELETE, { task_run_artifact_id: null }, "GRAPHQL_VALIDATION_FAILED"],
    ];
    for (const [document, input, code, message] of cases) {
      const refused = await fails(a, document, { input });
      expect(refused.code, `${document.slice(0, 40)} ${JSON.stringify(input).slice(0, 80)}`).toBe(code);
      if (message) expect(refused.message).toMatch(message);
    }
    expect(await ofRun(a)).toEqual(before);
    expect(await countItem(taskRun)).toBe(countBefore);
  });

  it(`holds at most ${MAX_ARTIFACTS_PER_TASK_RUN} artifacts per task run, refused with LIMIT_EXCEEDED`, async () => {
    const { taskRuns } = await newRun(a, "artifacts-limit");
    const taskRun = taskRuns[0]?.id ?? "";
    const kept = await create(a, taskRun, "link", { link: "/kept" });
    // As if the task run held all but one of what it may (creating a thousand takes long).
    await useDynamo().send(
      new PutCommand({
        TableName: mainTable(),
        Item: {
          ...ArtifactKeys.count(tenantA, taskRun),
          entity: "artifact-count",
          artifacts: MAX_ARTIFACTS_PER_TASK_RUN - 1,
        },
      }),
    );
    const last = await create(a, taskRun, "link", { link: "/last" });
    const refused = await fails(a, CREATE, {
      input: { task_run_id: taskRun, kind: "link", data: { link: "/one-too-many" }, tenant_id: null },
    });
    expect(refused.code).toBe("LIMIT_EXCEEDED");
    expect(refused.message).toContain(`${MAX_ARTIFACTS_PER_TASK_RUN} artifacts`);
    const ids = async () =>
      (
        await ok<{ task_run_artifact: UiArtifact[] }>(a, UI_ARTIFACTS, { taskRunIds: [taskRun] })
      ).task_run_artifact.map((row) => row.id);
    expect(await ids()).toEqual([kept, last]);
    await ok(a, DELETE, { input: { task_run_artifact_id: kept } });
    await create(a, taskRun, "link", { link: "/room-again" });
    expect(await countItem(taskRun)).toBe(MAX_ARTIFACTS_PER_TASK_RUN);
  });

  it("deletes a flow run's artifacts and their counts with the flow run (delete_flow_run)", async () => {
    const { runId, taskRuns } = await newRun(a, "artifacts-deleted");
    const taskRunIds = taskRuns.map((t) => t.id);
    const ids = [
      await create(a, taskRunIds[0] ?? "", "link", { link: "/a" }),
      await create(a, taskRunIds[1] ?? "", "markdown", { markdown: "b" }),
    ];
    expect(await ofRun(a, runId)).toHaveLength(2);
    await ok(a, "mutation($id: uuid!) { delete_flow_run(input: { flow_run_id: $id }) { success } }", {
      id: runId,
    });

    const read = await ok<{ task_run_artifact: unknown[]; one: unknown; two: unknown; byRun: unknown[] }>(
      a,
      `query($taskRuns: [uuid!], $one: uuid!, $two: uuid!, $run: uuid!) {
        task_run_artifact(where: { task_run_id: { _in: $taskRuns } }) { id }
        one: task_run_artifact_by_pk(id: $one) { id }
        two: task_run_artifact_by_pk(id: $two) { id }
        byRun: task_run_artifact(where: { flow_run_id: { _eq: $run } }) { id }
      }`,
      { taskRuns: taskRunIds, one: ids[0], two: ids[1], run: runId },
    );
    expect(read).toEqual({ task_run_artifact: [], one: null, two: null, byRun: [] });
    for (const id of ids) {
      const item = await useDynamo().send(
        new GetCommand({ TableName: mainTable(), Key: ArtifactKeys.item(tenantA, id), ConsistentRead: true }),
      );
      expect(item.Item).toBeUndefined();
    }
    for (const taskRun of taskRunIds) expect(await countItem(taskRun)).toBeUndefined();
    expect(await asTenant(tenantA, () => Artifact.removeAllOfFlowRun(runId))).toBe(0);
  });
});
