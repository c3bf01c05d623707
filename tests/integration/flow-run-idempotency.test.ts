import { beforeAll, describe, expect, it } from "vitest";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import * as TaskRun from "#core/task-run/index.js";
import { pipelineFlow } from "../helpers/prefect-flow.js";
import { useTestTables } from "../helpers/storage.js";

let tenantId: string;
let flowId: string;

beforeAll(async () => {
  await useTestTables("run-idem");
  tenantId = (await Workspace.create({ name: "Idempotency" })).id;
  flowId = await asTenant(tenantId, async () => {
    const project = await Project.create({ name: "p" });
    return (await Flow.registerJson({ project_id: project.id, serialized_flow: pipelineFlow("idem-flow") }))
      .id;
  });
});

describe("create_flow_run with an idempotency key", () => {
  it("names the run by (flow, key): a repeat returns it, another key or flow gets another run", async () => {
    await asTenant(tenantId, async () => {
      const first = await FlowRun.create({ flow_id: flowId, parameters: { n: 1 }, idempotency_key: "k1" });
      expect(first.created).toBe(true);
      expect(first.id).toBe(FlowRun.idempotentRunId(tenantId, flowId, "k1"));
      expect(await FlowRun.create({ flow_id: flowId, parameters: { n: 1 }, idempotency_key: "k1" })).toEqual({
        id: first.id,
        created: false,
      });
      const other = await FlowRun.create({ flow_id: flowId, parameters: { n: 1 }, idempotency_key: "k2" });
      expect(other.id).not.toBe(first.id);
    });
  });

  it("creates the run when a first attempt died after writing its task runs but before the run", async () => {
    await asTenant(tenantId, async () => {
      const id = FlowRun.idempotentRunId(tenantId, flowId, "crashed");
      // What a crashed attempt leaves behind: the pre-created task runs, no run.
      await TaskRun.precreate(id, await Flow.tasksOf(flowId), new Date().toISOString());
      expect(await FlowRun.fromId(id)).toBeUndefined();

      const retried = await FlowRun.create({
        flow_id: flowId,
        parameters: { n: 1 },
        idempotency_key: "crashed",
      });
      expect(retried).toEqual({ id, created: true });
      const run = await FlowRun.requireRun(id);
      expect(run.state).toBe("Scheduled");
      const taskRuns = [];
      for await (const taskRun of TaskRun.ofFlowRun(id)) taskRuns.push(taskRun);
      expect(taskRuns).toHaveLength((await Flow.tasksOf(flowId)).length);
    });
  });
});
