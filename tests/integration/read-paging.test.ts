import { beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as Flow from "#core/flow/index.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import { find } from "#core/query/engine.js";
import "#core/query/models.js";
import { callsMade, itemsRead } from "../helpers/dynamo-calls.js";
import { pipelineFlow } from "../helpers/prefect-flow.js";
import { seedFinishedRuns } from "../helpers/seed-runs.js";
import { useTestTables } from "../helpers/storage.js";

let tenantId: string;
let flowId: string;
/** Two versions of a flow whose runs are all older than the 600 of `paged`. */
const rare: string[] = [];

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
    for (const version of [1, 2]) {
      const id = (await Flow.registerJson({ project_id: project.id, serialized_flow: pipelineFlow("rare") }))
        .id;
      rare.push(id);
      const rareFlow = await Flow.requireFlow(id);
      await seedFinishedRuns(
        useDynamo(),
        mainTable(),
        { tenantId, flowId: id, flowGroupId: rareFlow.flow_group_id, projectId: project.id },
        3,
        // Interleaved in time: version 1's runs at -30, -28, -26 days, version 2's at -29, -27, -25.
        { createdBefore: new Date(Date.now() - (33 - version) * 86_400_000) },
      );
    }
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

describe("relationship filters", () => {
  it("read each related row once per query, not once per row (the CLI's flow filter on run listings)", async () => {
    await asTenant(tenantId, async () => {
      let rows: Array<Record<string, unknown>> = [];
      const calls = await callsMade(async () => {
        rows = await find("flow_run", {
          // No selective path through the flow (its version is not indexed): the listing, filtered.
          where: { flow: { _and: [{ version: { _eq: 1 } }, { project: { name: { _eq: "p" } } }] } },
          order_by: [{ created: "desc" }],
          limit: 10,
        });
      });
      expect(rows).toHaveLength(10);
      // One page of the listing, then the flow once and its project once.
      expect(calls).toEqual({ QueryCommand: 1, BatchGetItemCommand: 2 });
      const none = await find("flow_run", {
        where: { flow: { name: { _eq: "another flow" } } },
        order_by: [{ created: "desc" }],
        limit: 10,
      });
      expect(none).toEqual([]);
    });
  });
});

describe("a filter on a flow's name (`prefect get flow-runs --flow`)", () => {
  it("reads the runs of the flows of that name, every version merged newest first, not the workspace's", async () => {
    await asTenant(tenantId, async () => {
      let rows: Array<Record<string, unknown>> = [];
      const where = { flow: { _and: { name: { _eq: "rare" }, project: { name: { _eq: null } } } } };
      const read = await itemsRead(async () => {
        rows = await find("flow_run", { where, order_by: [{ created: "desc" }], limit: 4 });
      });
      expect(rows).toHaveLength(4);
      const created = rows.map((r) => String(r.created));
      expect(created).toEqual([...created].sort().reverse());
      // Both versions' runs, interleaved by creation time.
      expect(new Set(rows.map((r) => r.flow_id))).toEqual(new Set(rare));
      // The flows by name (one Query), then the two versions' newest runs: not the 600 others.
      expect(read).toBeLessThanOrEqual(12);
      const all = await find("flow_run", { where, order_by: [{ created: "desc" }] });
      expect(all).toHaveLength(6);
      expect(rows.map((r) => r.id)).toEqual(all.slice(0, 4).map((r) => r.id));
    });
  });
});
