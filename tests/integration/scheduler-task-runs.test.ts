import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { FlowRunKeys } from "#core/flow-run/keys.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import * as Schedule from "#core/schedule/index.js";
import { DUE_SHARDS } from "#core/schedule/keys.js";
import { tick } from "#core/schedule/tick.js";
import { parseState } from "#core/state/types.js";
import * as TaskRun from "#core/task-run/index.js";
import { pipelineFlow, state } from "../helpers/orchestration.js";
import { useTestTables } from "../helpers/storage.js";

/**
 * Runs the scheduler creates (tick, backfill) are one item each: their task runs are created when
 * the run first heads for running (Submitted, or Running directly), before that transition answers,
 * and never for a run that is removed or finishes without starting.
 */
const NOW = new Date("2030-01-01T00:00:30Z");
const hourly = {
  type: "Schedule",
  clocks: [{ type: "CronClock", cron: "0 * * * *", parameter_defaults: { n: 1 } }],
};
/** pipelineFlow's tasks: the parameter n, extract, transform, load, square. */
const TASKS = 5;

let tenant: string;
const active: string[] = [];

/** DynamoDB requests by command, counted by a middleware on core's own client while `on`. */
const requests = { on: false, counts: {} as Record<string, number> };
function counting() {
  requests.counts = {};
  requests.on = true;
  return () => {
    requests.on = false;
    return requests.counts;
  };
}

beforeAll(async () => {
  await useTestTables("sched-task-runs");
  tenant = (await Workspace.create({ name: "Deferred task runs" })).id;
  useDynamo().middlewareStack.add(
    (next, context) => async (args) => {
      if (requests.on) {
        const name = String(context.commandName);
        requests.counts[name] = (requests.counts[name] ?? 0) + 1;
      }
      return next(args);
    },
    { step: "initialize", name: "schedulerTaskRunsTestCounter" },
  );
});

afterEach(async () => {
  for (const flowId of active.splice(0)) {
    await asTenant(tenant, async () => {
      const flow = await Flow.setScheduleActive(flowId, false);
      await Schedule.sync(flow.flow_group_id);
    });
  }
});

async function register(name: string) {
  return asTenant(tenant, async () => {
    const project = await Project.create({ name: `p-${name}` });
    const flow = {
      ...pipelineFlow(name),
      schedule: hourly,
      parameters: [
        { name: "n", slug: "n", required: false, default: null, type: "prefect.core.parameter.Parameter" },
      ],
    };
    const { id } = await Flow.registerJson({ project_id: project.id, serialized_flow: flow });
    active.push(id);
    return { flowId: id, groupId: (await Flow.requireFlow(id)).flow_group_id };
  });
}

/** The group's runs, by scheduled start. */
async function runsOf(groupId: string) {
  return asTenant(tenant, async () => {
    const rows: FlowRun.FlowRun[] = [];
    for await (const row of FlowRun.ofGroup(groupId)) rows.push(row as unknown as FlowRun.FlowRun);
    return rows.sort((a, b) => (a.scheduled_start_time < b.scheduled_start_time ? -1 : 1));
  });
}

async function taskRunsOf(runId: string) {
  return asTenant(tenant, async () => {
    const rows: TaskRun.TaskRun[] = [];
    for await (const row of TaskRun.ofFlowRun(runId)) rows.push(row as unknown as TaskRun.TaskRun);
    return rows;
  });
}

/** The stored run item, flags included (a consistent read). */
async function storedRun(runId: string) {
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: FlowRunKeys.run(tenant, runId), ConsistentRead: true }),
  );
  return result.Item ?? {};
}

const setState = (runId: string, version: number | null, type: string, extra = {}) =>
  asTenant(tenant, () => FlowRun.setState(runId, version, parseState(state(type, extra))));

describe("a scheduled run's task runs", () => {
  it("do not exist until the run is submitted, then exist once per task", async () => {
    const { flowId, groupId } = await register("deferred");
    await tick({ now: NOW });
    const runs = await runsOf(groupId);
    expect(runs).toHaveLength(10);
    for (const run of runs) {
      expect(await taskRunsOf(run.id)).toEqual([]);
      expect((await storedRun(run.id)).task_runs_deferred).toBe(true);
    }

    const [first] = runs as [FlowRun.FlowRun];
    // Staying in the Scheduled family (a re-queue, lazarus) creates nothing.
    await setState(first.id, 1, "Scheduled", { start_time: first.scheduled_start_time });
    expect(await taskRunsOf(first.id)).toEqual([]);

    const submitted = await setState(first.id, 2, "Submitted");
    expect(submitted.task_runs_deferred).toBeUndefined();
    const created = await taskRunsOf(first.id);
    const tasks = await asTenant(tenant, () => Flow.tasksOf(flowId));
    expect(created).toHaveLength(TASKS);
    expect(created.map((t) => t.task_id).sort()).toEqual(tasks.map((t) => t.id).sort());
    for (const taskRun of created) {
      expect(taskRun).toMatchObject({ state: "Pending", version: 1, map_index: -1, flow_run_id: first.id });
      expect(taskRun.id).toBe(TaskRun.taskRunId(first.id, taskRun.task_id, -1));
    }
    expect((await storedRun(first.id)).task_runs_deferred).toBeUndefined();

    // Running afterwards neither duplicates nor rewrites them.
    await setState(first.id, 3, "Running");
    expect(await taskRunsOf(first.id)).toEqual(created);
    // The other runs are untouched.
    for (const run of runs.slice(1)) expect(await taskRunsOf(run.id)).toEqual([]);
  });

  it("are created by a direct Running too, and never for a run that finishes without starting", async () => {
    const { groupId } = await register("direct");
    await tick({ now: NOW });
    const [a, b, c] = (await runsOf(groupId)) as [FlowRun.FlowRun, FlowRun.FlowRun, FlowRun.FlowRun];
    await setState(a.id, 1, "Running");
    expect(await taskRunsOf(a.id)).toHaveLength(TASKS);

    await asTenant(tenant, () => FlowRun.cancel(b.id));
    expect((await asTenant(tenant, () => FlowRun.requireRun(b.id))).state).toBe("Cancelled");
    expect(await taskRunsOf(b.id)).toEqual([]);
    await setState(c.id, 1, "Skipped");
    expect(await taskRunsOf(c.id)).toEqual([]);
    // Restarted (back to Scheduled, then submitted), the cancelled run gets them then.
    await setState(b.id, null, "Scheduled", { start_time: b.scheduled_start_time });
    await setState(b.id, null, "Submitted");
    expect(await taskRunsOf(b.id)).toHaveLength(TASKS);
  });

  it("exist once per task when two transitions towards running race", async () => {
    const { groupId } = await register("race");
    await tick({ now: NOW });
    const runs = (await runsOf(groupId)).slice(0, 4);
    await Promise.all(
      runs.flatMap((run) => [
        setState(run.id, null, "Submitted"),
        setState(run.id, null, "Running"),
        setState(run.id, null, "Submitted"),
      ]),
    );
    for (const run of runs) {
      const taskRuns = await taskRunsOf(run.id);
      expect(taskRuns).toHaveLength(TASKS);
      expect(new Set(taskRuns.map((t) => t.task_id)).size).toBe(TASKS);
      expect((await storedRun(run.id)).task_runs_deferred).toBeUndefined();
    }
  });

  it("are never overwritten when a transition finds the flag still set (a crash before it was cleared)", async () => {
    const { groupId } = await register("crash");
    await tick({ now: NOW });
    const [run] = (await runsOf(groupId)) as [FlowRun.FlowRun];
    await setState(run.id, 1, "Submitted");
    await setState(run.id, 2, "Running");
    const [moved] = (await taskRunsOf(run.id)) as [TaskRun.TaskRun];
    await asTenant(tenant, async () => {
      await TaskRun.setState(moved.id, 1, parseState(state("Running")));
      await TaskRun.setState(moved.id, null, parseState(state("Success")));
    });
    // What a process that created the task runs and died before clearing the flag leaves behind.
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(tenant, run.id),
        UpdateExpression: "SET task_runs_deferred = :true",
        ExpressionAttributeValues: { ":true": true },
      }),
    );
    await setState(run.id, null, "Running", { message: "again" });
    const after = await taskRunsOf(run.id);
    expect(after).toHaveLength(TASKS);
    expect(after.find((t) => t.id === moved.id)).toMatchObject({ state: "Success", version: 3 });
    expect((await storedRun(run.id)).task_runs_deferred).toBeUndefined();
  });

  it("cost no deletes when the schedule is turned off: one delete per unstarted run", async () => {
    const { flowId, groupId } = await register("off");
    await tick({ now: NOW });
    expect(await runsOf(groupId)).toHaveLength(10);
    const done = counting();
    await asTenant(tenant, async () => {
      await Flow.setScheduleActive(flowId, false);
      expect(await Schedule.sync(groupId)).toBe("inactive");
    });
    const counts = done();
    active.splice(active.indexOf(flowId), 1);
    expect(await runsOf(groupId)).toEqual([]);
    // The schedule's index item and the 10 runs; no task run to delete, no batch.
    expect(counts.DeleteItemCommand).toBe(11);
    expect(counts.BatchWriteItemCommand).toBeUndefined();
  });
});

describe("the tick's requests", () => {
  it("write one item per run created and one index update per schedule, and read the flow and group once per schedule", async () => {
    const groups = [await register("writes-1"), await register("writes-2")];
    const done = counting();
    const result = await tick({ now: NOW });
    // The stored-run quota (core/src/limits/quota.ts) adds one counter UpdateItem per run created
    // and reads the workspace's count at most once per second (0 or 1 BatchGetItem here).
    const { BatchGetItemCommand: quotaReads = 0, ...counts } = done();
    expect(result).toMatchObject({ due: 2, processed: 2, runsCreated: 20, indexUpdates: 2, failed: 0 });
    expect(quotaReads).toBeLessThanOrEqual(1);
    expect(counts).toEqual({
      QueryCommand: DUE_SHARDS,
      GetItemCommand: 2 * groups.length,
      PutItemCommand: 20,
      UpdateItemCommand: 2 + 20,
    });
  });

  it("reads only the due shards when nothing is due", async () => {
    await register("idle");
    await tick({ now: NOW });
    const done = counting();
    expect(await tick({ now: NOW })).toMatchObject({ due: 0, runsCreated: 0 });
    expect(done()).toEqual({ QueryCommand: DUE_SHARDS });
  });
});
