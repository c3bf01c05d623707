import { beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as Flow from "#core/flow/index.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import { find } from "#core/query/engine.js";
import "#core/query/models.js";
import { pipelineFlow } from "../helpers/prefect-flow.js";
import { seedFinishedRuns } from "../helpers/seed-runs.js";
import { useTestTables } from "../helpers/storage.js";

/** Items DynamoDB read (ScannedCount) for what `fn` does, counted on the app's own client. */
async function itemsRead(fn: () => Promise<unknown>): Promise<number> {
  let scanned = 0;
  const name = `count-${Math.random()}`;
  useDynamo().middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      const output = result.output as { ScannedCount?: number } | undefined;
      scanned += output?.ScannedCount ?? 0;
      return result;
    },
    { step: "initialize", name },
  );
  try {
    await fn();
  } finally {
    useDynamo().middlewareStack.remove(name);
  }
  return scanned;
}

let tenantId: string;
let flowId: string;

beforeAll(async () => {
  await useTestTables("paging");
  tenantId = (await Workspace.create({ name: "Paging" })).id;
  await asTenant(tenantId, async () => {
    const project = await Project.create({ name: "p" });
    flowId = (await Flow.registerJson({ project_id: project.id, serialized_flow: pipelineFlow("paged") })).id;
    const flow = await Flow.requireFlow(flowId);
    await seedFinishedRuns(
      useDynamo(),
      mainTable(),
      { tenantId, flowId, flowGroupId: flow.flow_group_id, projectId: project.id },
      600,
    );
  });
}, 60_000);

describe("reads with a small limit in the access path's own order", () => {
  it("read about the rows they return from the workspace's run listing, not whole pages", async () => {
    await asTenant(tenantId, async () => {
      let rows: unknown[] = [];
      const read = await itemsRead(async () => {
        rows = await find("flow_run", { order_by: [{ created: "desc" }], limit: 20 });
      });
      expect(rows).toHaveLength(20);
      expect(read).toBeLessThanOrEqual(30);
    });
  });

  it("read about the rows they return from a flow's runs, newest first", async () => {
    await asTenant(tenantId, async () => {
      let rows: Array<Record<string, unknown>> = [];
      const read = await itemsRead(async () => {
        rows = await find("flow_run", {
          where: { flow_id: { _eq: flowId } },
          order_by: [{ created: "desc" }],
          limit: 10,
          offset: 5,
        });
      });
      expect(rows).toHaveLength(10);
      const created = rows.map((r) => String(r.created));
      expect(created).toEqual([...created].sort().reverse());
      expect(read).toBeLessThanOrEqual(25);
      const all = await find("flow_run", {
        where: { flow_id: { _eq: flowId } },
        order_by: [{ created: "desc" }],
        limit: 15,
      });
      expect(rows.map((r) => r.id)).toEqual(all.slice(5).map((r) => r.id));
    });
  });
});
