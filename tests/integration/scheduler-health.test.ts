import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import * as Agent from "#core/agent/index.js";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as FlowGroup from "#core/flow/group.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { FlowRunKeys } from "#core/flow-run/keys.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import * as Log from "#core/log/index.js";
import { find } from "#core/query/engine.js";
import "#core/query/models.js";
import { checkHealth, type HealthOptions } from "#core/schedule/health.js";
import { parseState } from "#core/state/types.js";
import * as TaskRun from "#core/task-run/index.js";
import { pipelineFlow, state } from "../helpers/orchestration.js";
import { useTestTables } from "../helpers/storage.js";

/**
 * The scheduler's health checks with a controllable clock: heartbeats and transitions are written
 * at the wall clock, and each check runs at `later(ms)`, so nothing sleeps.
 */
const MIN = 60_000;
const later = (ms: number) => new Date(Date.now() + ms);

let tenantA: string;
let tenantB: string;

beforeAll(async () => {
  await useTestTables("sched-health");
  tenantA = (await Workspace.create({ name: "Health A" })).id;
  tenantB = (await Workspace.create({ name: "Health B" })).id;
});

async function flowWith(tenant: string, name: string, settings?: Record<string, unknown>, labels?: string[]) {
  return asTenant(tenant, async () => {
    const project = await Project.create({ name: `p-${name}-${Math.random().toString(36).slice(2)}` });
    const { id } = await Flow.registerJson({
      project_id: project.id,
      serialized_flow: pipelineFlow(name, labels ? { labels } : {}),
    });
    const flow = await Flow.requireFlow(id);
    if (settings) await FlowGroup.set(flow.flow_group_id, "settings", settings);
    return { flowId: id, groupId: flow.flow_group_id };
  });
}

const set = (runId: string, type: string, extra: Record<string, unknown> = {}) =>
  FlowRun.setState(runId, null, parseState(state(type, extra)));

async function taskRuns(runId: string) {
  const bySlug: Record<string, TaskRun.TaskRun> = {};
  for await (const row of TaskRun.ofFlowRun(runId))
    bySlug[String(row.task_slug)] = row as unknown as TaskRun.TaskRun;
  return bySlug;
}

/** A Running run whose process runs extract (no retries) and transform (2 retries). */
async function runningRun(tenant: string, flowId: string) {
  return asTenant(tenant, async () => {
    const { id } = await FlowRun.create({ flow_id: flowId, parameters: { n: 1 } });
    await set(id, "Submitted");
    await set(id, "Running");
    const tasks = await taskRuns(id);
    for (const slug of ["extract-1", "transform-1"]) {
      await TaskRun.setState(String(tasks[slug]?.id), null, parseState(state("Running")));
    }
    return id;
  });
}

async function logsOf(tenant: string, runId: string) {
  return asTenant(tenant, async () => {
    const lines: Array<Record<string, unknown>> = [];
    for await (const line of Log.ofFlowRun(runId)) lines.push(line);
    return lines.filter((line) => line.name === "drover.scheduler");
  });
}

const run = (tenant: string, id: string) => asTenant(tenant, () => FlowRun.requireRun(id));

/** Runs checks until nothing is a candidate, so a test can count what its own runs cause. */
async function drain(options: HealthOptions) {
  for (let i = 0; i < 20; i++) {
    const result = await checkHealth(options);
    if (Object.values(result.candidates).every((n) => n === 0)) return;
  }
  throw new Error("the watch index did not drain");
}

describe("zombies", () => {
  it("fails the Running task runs (Retrying while retries remain) and the run, with a log line", async () => {
    const { flowId } = await flowWith(tenantA, "zombie", { lazarus_enabled: false });
    const id = await runningRun(tenantA, flowId);

    // Within the threshold nothing happens; a heartbeat restarts it.
    await checkHealth({ now: later(MIN) });
    expect((await run(tenantA, id)).state).toBe("Running");
    await asTenant(tenantA, () => FlowRun.heartbeat(id));
    await checkHealth({ now: later(1.5 * MIN) });
    expect((await run(tenantA, id)).state).toBe("Running");

    const result = await checkHealth({ now: later(3 * MIN) });
    expect(result.zombies).toBeGreaterThanOrEqual(1);
    const failed = await run(tenantA, id);
    expect(failed.state).toBe("Failed");
    expect(failed.state_message).toMatch(/no heartbeat/);
    const tasks = await asTenant(tenantA, () => taskRuns(id));
    expect(tasks["extract-1"]?.state).toBe("Failed");
    expect(tasks["transform-1"]?.state).toBe("Retrying");
    expect(tasks["transform-1"]?.serialized_state).toMatchObject({ type: "Retrying", run_count: 1 });
    expect(tasks["load-1"]?.state).toBe("Pending");
    const lines = await logsOf(tenantA, id);
    expect(lines.map((l) => l.message).join("\n")).toMatch(/zombie check: no heartbeat/);
    expect(lines.some((l) => l.level === "ERROR" && l.task_run_id === null)).toBe(true);

    // Off the watch index once finished: a later check does not see it again.
    const again = await checkHealth({ now: later(10 * MIN) });
    expect((await run(tenantA, id)).version).toBe(failed.version);
    expect(again.zombies).toBe(0);
  });

  it("counts a task run's earlier attempts: out of retries it fails", async () => {
    const { flowId } = await flowWith(tenantA, "zombie-retried", { lazarus_enabled: false });
    const id = await runningRun(tenantA, flowId);
    await asTenant(tenantA, async () => {
      const transform = (await taskRuns(id))["transform-1"] as TaskRun.TaskRun;
      // Two attempts lost already (run_count 2 of max_retries 2): this is the third.
      await TaskRun.setState(transform.id, null, parseState(state("Retrying", { run_count: 2 })));
      await TaskRun.setState(transform.id, null, parseState(state("Running")));
    });
    await checkHealth({ now: later(3 * MIN) });
    const tasks = await asTenant(tenantA, () => taskRuns(id));
    expect(tasks["transform-1"]?.state).toBe("Failed");
  });

  it("moves an old entry up to a later heartbeat instead of acting, and acts once that heartbeat is old", async () => {
    const { flowId } = await flowWith(tenantA, "beating", { lazarus_enabled: false });
    const id = await runningRun(tenantA, flowId);
    // A heartbeat writes only the run's heartbeat: one UpdateItem, its watch entry left where it was.
    const beat = later(2 * MIN).toISOString();
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(tenantA, id),
        UpdateExpression: "SET heartbeat = :hb",
        ExpressionAttributeValues: { ":hb": beat },
      }),
    );
    const refreshed = await checkHealth({ now: later(3 * MIN) });
    expect(refreshed.refreshed).toBeGreaterThanOrEqual(1);
    expect(refreshed.zombies).toBe(0);
    expect((await run(tenantA, id)).state).toBe("Running");
    const item = await useDynamo().send(
      new GetCommand({ TableName: mainTable(), Key: FlowRunKeys.run(tenantA, id), ConsistentRead: true }),
    );
    expect(String(item.Item?.watch_sk)).toMatch(new RegExp(`^${beat}#`));
    // Within the timeout of that heartbeat nothing more happens; past it, the run is a zombie.
    await checkHealth({ now: later(3.5 * MIN) });
    expect((await run(tenantA, id)).state).toBe("Running");
    await checkHealth({ now: later(4.5 * MIN) });
    expect((await run(tenantA, id)).state).toBe("Failed");
  });

  it("respects heartbeat_enabled: false", async () => {
    const { flowId } = await flowWith(tenantA, "no-heartbeat", { heartbeat_enabled: false });
    const id = await runningRun(tenantA, flowId);
    const result = await checkHealth({ now: later(30 * MIN) });
    expect(result.repaired).toBeGreaterThanOrEqual(1);
    expect((await run(tenantA, id)).state).toBe("Running");
    const tasks = await asTenant(tenantA, () => taskRuns(id));
    expect(tasks["extract-1"]?.state).toBe("Running");
    expect(await logsOf(tenantA, id)).toEqual([]);
  });

  it("leaves a Running run that waits for a task run's retry alone", async () => {
    const { flowId } = await flowWith(tenantA, "retry-wait", { lazarus_enabled: false });
    const id = await runningRun(tenantA, flowId);
    await asTenant(tenantA, async () => {
      const tasks = await taskRuns(id);
      await TaskRun.setState(String(tasks["extract-1"]?.id), null, parseState(state("Success")));
      await TaskRun.setState(
        String(tasks["transform-1"]?.id),
        null,
        parseState(state("Retrying", { run_count: 1, start_time: later(20 * MIN).toISOString() })),
      );
    });
    await checkHealth({ now: later(5 * MIN) });
    expect((await run(tenantA, id)).state).toBe("Running");
  });

  it("turns a Cancelling run without heartbeat into Cancelled", async () => {
    const { flowId } = await flowWith(tenantA, "cancelling");
    const id = await runningRun(tenantA, flowId);
    await asTenant(tenantA, () => FlowRun.cancel(id));
    expect((await run(tenantA, id)).state).toBe("Cancelling");
    await checkHealth({ now: later(MIN) });
    expect((await run(tenantA, id)).state).toBe("Cancelling");
    const result = await checkHealth({ now: later(3 * MIN) });
    expect(result.cancelled).toBeGreaterThanOrEqual(1);
    expect((await run(tenantA, id)).state).toBe("Cancelled");
    const tasks = await asTenant(tenantA, () => taskRuns(id));
    expect(tasks["extract-1"]?.state).toBe("Cancelled");
    expect((await logsOf(tenantA, id))[0]?.message).toMatch(/Cancelled by the scheduler: no heartbeat/);
  });
});

describe("lazarus", () => {
  it("reschedules a Submitted run that never starts up to 3 times, then fails it, with a log line each time", async () => {
    const { flowId } = await flowWith(tenantA, "lazarus");
    const id = await asTenant(
      tenantA,
      async () => (await FlowRun.create({ flow_id: flowId, parameters: { n: 1 } })).id,
    );
    for (let attempt = 1; attempt <= 3; attempt++) {
      await asTenant(tenantA, () => set(id, "Submitted"));
      await checkHealth({ now: later(5 * MIN) }); // under the 10 minute threshold
      expect((await run(tenantA, id)).state).toBe("Submitted");
      const now = later(11 * MIN);
      const result = await checkHealth({ now });
      expect(result.rescheduled).toBeGreaterThanOrEqual(1);
      const rescheduled = (await run(tenantA, id)) as FlowRun.FlowRun & { lazarus_count?: number };
      expect(rescheduled.state).toBe("Scheduled");
      expect(rescheduled.lazarus_count).toBe(attempt);
      expect(rescheduled.state_message).toMatch(new RegExp(`lazarus \\(${attempt} of 3\\)`));
      // Back on the agents' queue.
      const queued = await asTenant(tenantA, () => Agent.runsInQueue({ before: now.toISOString() }));
      expect(queued).toContain(id);
    }
    await asTenant(tenantA, () => set(id, "Submitted"));
    await checkHealth({ now: later(11 * MIN) });
    const failed = await run(tenantA, id);
    expect(failed.state).toBe("Failed");
    expect(failed.state_message).toMatch(/lazarus rescheduled it 3 times/);
    const lines = (await logsOf(tenantA, id)).filter((l) => /lazarus/i.test(String(l.message)));
    expect(lines).toHaveLength(4);
  });

  it("reschedules a zombie when lazarus is enabled, its lost task runs retried or failed", async () => {
    const { flowId } = await flowWith(tenantA, "lazarus-zombie");
    const id = await runningRun(tenantA, flowId);
    await checkHealth({ now: later(3 * MIN) });
    const rescheduled = await run(tenantA, id);
    expect(rescheduled.state).toBe("Scheduled");
    expect(rescheduled.state_message).toMatch(/no heartbeat/);
    const tasks = await asTenant(tenantA, () => taskRuns(id));
    expect(tasks["extract-1"]?.state).toBe("Failed");
    expect(tasks["transform-1"]?.state).toBe("Retrying");
  });

  it("leaves Submitted runs alone when lazarus_enabled is false", async () => {
    const { flowId } = await flowWith(tenantA, "no-lazarus", { lazarus_enabled: false });
    const id = await asTenant(tenantA, async () => {
      const created = await FlowRun.create({ flow_id: flowId, parameters: { n: 1 } });
      await set(created.id, "Submitted");
      return created.id;
    });
    await checkHealth({ now: later(60 * MIN) });
    expect((await run(tenantA, id)).state).toBe("Submitted");
  });
});

describe("late runs", () => {
  const late = (tenant: string, id: string) =>
    asTenant(tenant, async () => {
      const [row] = await find("flow_run", { where: { id: { _eq: id } } });
      return { is_late: row?.is_late, late_reason: row?.late_reason };
    });

  it("marks a Scheduled run late after the grace, with the reason when no live agent matches", async () => {
    const { flowId } = await flowWith(tenantB, "late", undefined, ["cpu"]);
    const start = new Date(Date.now() - 5_000).toISOString();
    const create = () =>
      asTenant(
        tenantB,
        async () =>
          (await FlowRun.create({ flow_id: flowId, parameters: { n: 1 }, scheduled_start_time: start })).id,
      );
    const noAgent = await create();
    await checkHealth({ now: new Date(Date.parse(start) + 10_000) });
    expect((await late(tenantB, noAgent)).is_late).toBeFalsy();
    await checkHealth({ now: new Date(Date.parse(start) + 20_000) });
    expect(await late(tenantB, noAgent)).toEqual({
      is_late: true,
      late_reason: "No agent is registered in this workspace.",
    });
    expect((await logsOf(tenantB, noAgent))[0]?.message).toMatch(/Flow run is late/);
    expect((await run(tenantB, noAgent)).state).toBe("Scheduled");

    // A live agent without the run's label.
    const gpu = await asTenant(tenantB, () => Agent.register({ name: "gpu", labels: ["gpu"] }));
    await asTenant(tenantB, () => Agent.runsInQueue({ labels: ["gpu"] }, gpu.id));
    const wrongLabels = await create();
    await checkHealth({ now: new Date(Date.now() + 20_000) });
    expect(await late(tenantB, wrongLabels)).toEqual({
      is_late: true,
      late_reason: "No live agent has all of the run's labels (cpu).",
    });

    // A live matching agent: late, but no reason to give.
    const cpu = await asTenant(tenantB, () => Agent.register({ name: "cpu", labels: ["cpu"] }));
    await asTenant(tenantB, () => Agent.runsInQueue({ labels: ["cpu"] }, cpu.id));
    const matched = await create();
    await checkHealth({ now: new Date(Date.now() + 20_000) });
    expect(await late(tenantB, matched)).toEqual({ is_late: true, late_reason: null });

    // The agents' poll can filter on it.
    const rows = await asTenant(tenantB, () =>
      find("flow_run", { where: { flow_id: { _eq: flowId }, is_late: { _eq: true } } }),
    );
    expect(rows.map((r) => r.id).sort()).toEqual([noAgent, wrongLabels, matched].sort());

    // Dead agents are no agents: an hour later none of them polled.
    const stale = await create();
    await checkHealth({ now: new Date(Date.now() + 60 * MIN) });
    expect((await late(tenantB, stale)).late_reason).toMatch(
      /No agent has polled for runs in the last 300 s/,
    );
  });

  it("skips (or cancels) runs later than the flow group's max_lateness_seconds", async () => {
    const skipping = await flowWith(tenantB, "skip-late", { max_lateness_seconds: 60 });
    const cancelling = await flowWith(tenantB, "cancel-late", {
      max_lateness_seconds: 30,
      late_run_state: "Cancelled",
    });
    const start = Date.now() - 1_000;
    const [skipped, cancelled] = await asTenant(tenantB, async () =>
      Promise.all(
        [skipping, cancelling].map(
          async ({ flowId }) =>
            (
              await FlowRun.create({
                flow_id: flowId,
                parameters: { n: 1 },
                scheduled_start_time: new Date(start).toISOString(),
              })
            ).id,
        ),
      ),
    );
    await checkHealth({ now: new Date(start + 20_000) });
    expect((await run(tenantB, String(skipped))).state).toBe("Scheduled");
    expect((await late(tenantB, String(skipped))).is_late).toBe(true);

    await checkHealth({ now: new Date(start + 40_000) });
    expect((await run(tenantB, String(skipped))).state).toBe("Scheduled");
    const cancelledRun = await run(tenantB, String(cancelled));
    expect(cancelledRun.state).toBe("Cancelled");
    expect(cancelledRun.state_message).toMatch(/max_lateness_seconds \(30\)/);

    const result = await checkHealth({ now: new Date(start + 61_000) });
    expect(result.skipped).toBeGreaterThanOrEqual(1);
    const skippedRun = await run(tenantB, String(skipped));
    expect(skippedRun.state).toBe("Skipped");
    expect(skippedRun.state_message).toMatch(
      /Flow run skipped: .* more than the flow group's max_lateness_seconds \(60\)/,
    );
    expect((await logsOf(tenantB, String(skipped))).map((l) => l.message).join("\n")).toMatch(
      /Flow run skipped/,
    );
    // Off the agents' queue.
    const queued = await asTenant(tenantB, () =>
      Agent.runsInQueue({ before: new Date(start + MIN * 2).toISOString() }),
    );
    expect(queued).not.toContain(skipped);
  });
});

describe("workspaces and bounds", () => {
  it("judges each workspace's runs by its own settings and agents, and writes their logs there", async () => {
    // A in B's image: B's live agent with the same label does not count for A.
    const a = await flowWith(tenantA, "iso", { heartbeat_enabled: false }, ["shared"]);
    const b = await flowWith(tenantB, "iso", { lazarus_enabled: false }, ["shared"]);
    const agent = await asTenant(tenantB, () => Agent.register({ name: "shared", labels: ["shared"] }));
    await asTenant(tenantB, () => Agent.runsInQueue({ labels: ["shared"] }, agent.id));
    const zombieA = await runningRun(tenantA, a.flowId);
    const zombieB = await runningRun(tenantB, b.flowId);
    const start = new Date(Date.now() - 1_000).toISOString();
    const lateA = await asTenant(
      tenantA,
      async () =>
        (await FlowRun.create({ flow_id: a.flowId, parameters: { n: 1 }, scheduled_start_time: start })).id,
    );
    await checkHealth({ now: later(3 * MIN) });

    expect((await run(tenantA, zombieA)).state).toBe("Running"); // A's heartbeats are off
    expect((await run(tenantB, zombieB)).state).toBe("Failed");
    expect((await logsOf(tenantB, zombieB)).length).toBeGreaterThan(0);
    expect(await logsOf(tenantA, zombieB)).toEqual([]);
    const [row] = await asTenant(tenantA, () => find("flow_run", { where: { id: { _eq: lateA } } }));
    expect(row?.late_reason).toBe("No agent is registered in this workspace.");
  });

  it("acts once when two checks overlap (every action is conditional on the entry it found)", async () => {
    const { flowId } = await flowWith(tenantA, "overlap");
    const id = await runningRun(tenantA, flowId);
    const [first, second] = await Promise.all([
      checkHealth({ now: later(3 * MIN) }),
      checkHealth({ now: later(3 * MIN + 1_000) }),
    ]);
    const after = (await run(tenantA, id)) as FlowRun.FlowRun & { lazarus_count?: number };
    expect(after.state).toBe("Scheduled");
    expect(after.lazarus_count).toBe(1);
    expect(first.rescheduled + second.rescheduled).toBeGreaterThanOrEqual(1);
    expect(first.taskRunsFailed + second.taskRunsFailed).toBe(1);
    expect(first.taskRunsRetrying + second.taskRunsRetrying).toBe(1);
    const lines = await logsOf(tenantA, id);
    expect(lines.filter((l) => l.task_run_id === null)).toHaveLength(1);
    expect(lines.filter((l) => l.task_run_id !== null)).toHaveLength(2);
  });

  it("handles at most maxPerCondition runs of a condition per tick; the next tick continues", async () => {
    await drain({ now: later(2 * 60 * MIN) });
    const { flowId } = await flowWith(tenantA, "bound");
    const start = new Date(Date.now() - 1_000).toISOString();
    const ids = await asTenant(tenantA, async () => {
      const created: string[] = [];
      for (let i = 0; i < 5; i++)
        created.push(
          (await FlowRun.create({ flow_id: flowId, parameters: { n: i }, scheduled_start_time: start })).id,
        );
      return created;
    });
    const now = later(MIN);
    const counts = [];
    for (let i = 0; i < 4; i++) counts.push((await checkHealth({ now, maxPerCondition: 2 })).markedLate);
    expect(counts).toEqual([2, 2, 1, 0]);
    for (const id of ids)
      expect((await asTenant(tenantA, () => FlowRun.requireRun(id))) as unknown).toMatchObject({
        is_late: true,
      });
  });
});
