import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as Flow from "#core/flow/index.js";
import { BACKFILL_MARKER, backfillStep } from "#core/flow-run/backfill.js";
import * as FlowRun from "#core/flow-run/index.js";
import { FlowRunKeys } from "#core/flow-run/keys.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import { find } from "#core/query/engine.js";
import "#core/query/models.js";
import { itemsRead } from "../helpers/dynamo-calls.js";
import { pipelineFlow } from "../helpers/prefect-flow.js";
import { type SeedTarget, seededRunId, seedFinishedRuns } from "../helpers/seed-runs.js";
import { useTestTables } from "../helpers/storage.js";

/**
 * Runs stored by versions before the name index and the started order get their keys from the
 * scheduler's backfill (core/src/flow-run/backfill.ts), a page per step at the least, resuming
 * from its marker, workspace by workspace, without touching what changed meanwhile.
 */
const targets: Record<"a" | "b", SeedTarget> = {} as Record<"a" | "b", SeedTarget>;

async function workspaceWithRuns(name: string, count: number): Promise<SeedTarget> {
  const tenantId = (await Workspace.create({ name })).id;
  return asTenant(tenantId, async () => {
    const project = await Project.create({ name: "p" });
    const flowId = (await Flow.registerJson({ project_id: project.id, serialized_flow: pipelineFlow("old") }))
      .id;
    const flow = await Flow.requireFlow(flowId);
    const target = { tenantId, flowId, flowGroupId: flow.flow_group_id, projectId: project.id };
    await seedFinishedRuns(useDynamo(), mainTable(), target, count, { shape: "before-lookup-keys" });
    return target;
  });
}

const byName = (target: SeedTarget, name: string) =>
  asTenant(target.tenantId, () => find("flow_run", { where: { name: { _eq: name } } }));
const startedNames = (target: SeedTarget, limit: number) =>
  asTenant(target.tenantId, async () =>
    (
      await find("flow_run", {
        where: { start_time: { _is_null: false } },
        order_by: [{ start_time: "desc" }],
        limit,
      })
    ).map((r) => r.name),
  );

beforeAll(async () => {
  await useTestTables("backfill");
  targets.a = await workspaceWithRuns("Old A", 450);
  targets.b = await workspaceWithRuns("Old B", 10);
}, 60_000);

describe("the lookup-key backfill", () => {
  it("gives old runs their keys a page at a time, resuming from its marker, and then stops", async () => {
    const a = targets.a;
    // Before: the old runs are in neither index.
    expect(await byName(a, "seeded-7")).toEqual([]);
    expect(await startedNames(a, 5)).toEqual([]);
    // Meanwhile, one old run was renamed (the rename writes its name key) and one never started.
    await asTenant(a.tenantId, () => FlowRun.setName(seededRunId(a.flowId, 300), "renamed-old"));
    const neverStarted = FlowRunKeys.run(a.tenantId, seededRunId(a.flowId, 5));
    await useDynamo().send(
      new UpdateCommand({ TableName: mainTable(), Key: neverStarted, UpdateExpression: "REMOVE start_time" }),
    );

    // A budget of 0 makes each step one page (200 runs): each step starts where the last stopped,
    // as a new process would after a crash, from the marker alone.
    const steps = [];
    for (let i = 0; i < 10; i++) {
      const step = await backfillStep({ budgetMs: 0 });
      steps.push(step);
      if (step.done) break;
    }
    // A's 450 runs in three pages and B's 10 in one (workspaces go in id order); the renamed run
    // got only its started entry, the never-started one only its name entry: each run is
    // updated exactly once.
    const pages = a.tenantId < targets.b.tenantId ? [200, 200, 50, 10] : [10, 200, 200, 50];
    expect(steps.map((s) => s.updated)).toEqual(pages);
    expect(steps.map((s) => s.done)).toEqual([false, false, false, true]);
    const marker = await useDynamo().send(new GetCommand({ TableName: mainTable(), Key: BACKFILL_MARKER }));
    expect(marker.Item).toMatchObject({ done: true, updated: 460 });
    expect(await backfillStep({ budgetMs: 0 })).toEqual({ updated: 0, done: true });

    expect((await byName(a, "seeded-7")).map((r) => r.id)).toEqual([seededRunId(a.flowId, 7)]);
    expect(await byName(a, "seeded-300")).toEqual([]);
    expect((await byName(a, "renamed-old")).map((r) => r.id)).toEqual([seededRunId(a.flowId, 300)]);
    expect((await byName(a, "seeded-5")).map((r) => r.id)).toEqual([seededRunId(a.flowId, 5)]);
    // The started order is the runs' start times; the never-started run is not in it. Both
    // lookups read about the rows they return, not the workspace's 450 runs.
    let newest: unknown[] = [];
    expect(await itemsRead(async () => (newest = await startedNames(a, 3)))).toBeLessThanOrEqual(10);
    expect(newest).toEqual(["seeded-449", "seeded-448", "seeded-447"]);
    expect(await itemsRead(() => byName(a, "seeded-8"))).toBeLessThanOrEqual(2);
    const all = await startedNames(a, 1000);
    expect(all).toHaveLength(449);
    expect(all).not.toContain("seeded-5");
    expect(all).toContain("renamed-old");
  });

  it("keeps workspaces apart: the same name in two workspaces finds each its own run", async () => {
    const { a, b } = targets;
    expect((await byName(a, "seeded-3")).map((r) => r.tenant_id)).toEqual([a.tenantId]);
    expect((await byName(b, "seeded-3")).map((r) => r.tenant_id)).toEqual([b.tenantId]);
    expect(await startedNames(b, 100)).toHaveLength(10);
  });
});
