import { afterEach, beforeAll, describe, expect, it } from "vitest";
import * as FlowGroup from "#core/flow/group.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { asTenant, Project, Workspace } from "#core/index.js";
import * as Schedule from "#core/schedule/index.js";
import { idempotencyKey, tick } from "#core/schedule/tick.js";
import { pipelineFlow } from "../helpers/orchestration.js";
import { useTestTables } from "../helpers/storage.js";

const NOW = new Date("2030-01-01T00:00:30Z");
const hourly = (extra: Record<string, unknown> = {}) => ({
  type: "Schedule",
  clocks: [
    { type: "CronClock", cron: "0 * * * *", parameter_defaults: { n: 1 }, labels: ["hourly"], ...extra },
  ],
  filters: [],
  or_filters: [],
  not_filters: [],
  adjustments: [],
  __version__: "1.4.1",
});

let tenantA: string;
let tenantB: string;
const active: Array<{ tenant: string; flowId: string }> = [];

beforeAll(async () => {
  await useTestTables("scheduler");
  tenantA = (await Workspace.create({ name: "Sched A" })).id;
  tenantB = (await Workspace.create({ name: "Sched B" })).id;
});

afterEach(async () => {
  // Every test starts with no due schedule, whatever the previous one left.
  for (const { tenant, flowId } of active.splice(0)) {
    await asTenant(tenant, async () => {
      const flow = await Flow.setScheduleActive(flowId, false);
      await Schedule.sync(flow.flow_group_id);
    });
  }
});

async function register(tenant: string, name: string, schedule: unknown) {
  return asTenant(tenant, async () => {
    const project = await Project.create({ name: `p-${name}-${Math.random().toString(36).slice(2)}` });
    const flow = {
      ...pipelineFlow(name),
      schedule,
      parameters: [
        { name: "n", slug: "n", required: false, default: null, type: "prefect.core.parameter.Parameter" },
      ],
    };
    const { id } = await Flow.registerJson({ project_id: project.id, serialized_flow: flow });
    active.push({ tenant, flowId: id });
    const registered = await Flow.requireFlow(id);
    return { flowId: id, groupId: registered.flow_group_id };
  });
}

async function runsOf(tenant: string, groupId: string) {
  return asTenant(tenant, async () => {
    const rows: FlowRun.FlowRun[] = [];
    for await (const row of FlowRun.ofGroup(groupId)) rows.push(row as unknown as FlowRun.FlowRun);
    return rows.sort((a, b) => (a.scheduled_start_time < b.scheduled_start_time ? -1 : 1));
  });
}

describe("the tick", () => {
  it("creates the next 10 runs as Scheduled, auto-scheduled, with the clock's parameters and labels", async () => {
    const { groupId } = await register(tenantA, "ten", hourly());
    const result = await tick({ now: NOW });
    expect(result).toMatchObject({ due: 1, processed: 1, runsCreated: 10, indexUpdates: 1, failed: 0 });
    const runs = await runsOf(tenantA, groupId);
    expect(runs.map((r) => r.scheduled_start_time)).toEqual(
      Array.from({ length: 10 }, (_, i) => new Date(Date.UTC(2030, 0, 1, i + 1)).toISOString()),
    );
    for (const run of runs) {
      expect(run).toMatchObject({
        state: "Scheduled",
        auto_scheduled: true,
        parameters: { n: 1 },
        labels: ["hourly"],
      });
    }
    // Nothing due until the first of them starts; then exactly one more run.
    expect(await tick({ now: NOW })).toMatchObject({ due: 0, runsCreated: 0 });
    expect(await tick({ now: new Date("2030-01-01T01:00:10Z") })).toMatchObject({ due: 1, runsCreated: 1 });
    expect((await runsOf(tenantA, groupId)).length).toBe(11);
  });

  it("never creates runs in the past", async () => {
    const { groupId } = await register(tenantA, "past", {
      clocks: [
        {
          type: "DatesClock",
          dates: [
            { dt: "2029-12-31T00:00:00", tz: "UTC" },
            { dt: "2030-01-02T00:00:00", tz: "UTC" },
          ],
        },
      ],
    });
    await tick({ now: NOW });
    expect((await runsOf(tenantA, groupId)).map((r) => r.scheduled_start_time)).toEqual([
      "2030-01-02T00:00:00.000Z",
    ]);
  });

  it("gives several clocks firing at the same instant a run each", async () => {
    const { groupId } = await register(tenantA, "clocks", {
      clocks: [
        { type: "CronClock", cron: "0 0 * * *", parameter_defaults: { n: 1 } },
        { type: "CronClock", cron: "0 0 * * *", parameter_defaults: { n: 2 }, labels: ["two"] },
      ],
    });
    await tick({ now: NOW, upcoming: 4 });
    const runs = await runsOf(tenantA, groupId);
    expect(runs.map((r) => [r.scheduled_start_time.slice(0, 10), r.parameters.n]).sort()).toEqual([
      ["2030-01-02", 1],
      ["2030-01-02", 2],
      ["2030-01-03", 1],
      ["2030-01-03", 2],
    ]);
  });

  it("creates each run once when two ticks overlap", async () => {
    const { groupId } = await register(tenantA, "overlap", hourly());
    const [a, b] = await Promise.all([tick({ now: NOW }), tick({ now: NOW })]);
    expect((a?.runsCreated ?? 0) + (b?.runsCreated ?? 0)).toBe(10);
    expect((await runsOf(tenantA, groupId)).length).toBe(10);
  });

  it("continues a tick interrupted half-way without loss or duplicates", async () => {
    const { groupId } = await register(tenantA, "interrupted", hourly());
    // What a tick that died after its fourth run left behind: four runs, the index not advanced.
    await asTenant(tenantA, async () => {
      const item = await Schedule.fromGroup(groupId);
      if (!item) throw new Error("no schedule item");
      const events = Schedule.nextEvents(Schedule.parseSchedule(item.schedule), NOW, 4);
      for (const event of events) {
        await FlowRun.create({
          flow_id: item.flow_id,
          parameters: event.parameterDefaults,
          labels: event.labels ?? [],
          scheduled_start_time: event.startTime,
          idempotency_key: idempotencyKey(item.generation, event),
          auto_scheduled: true,
        });
      }
    });
    expect(await tick({ now: NOW })).toMatchObject({ processed: 1, runsCreated: 6 });
    expect((await runsOf(tenantA, groupId)).length).toBe(10);
  });

  it("handles at most maxSchedules per invocation and leaves the rest due for the next", async () => {
    const groups = [
      await register(tenantA, "b1", hourly()),
      await register(tenantA, "b2", hourly()),
      await register(tenantA, "b3", hourly()),
    ];
    expect(await tick({ now: NOW, maxSchedules: 2 })).toMatchObject({
      due: 2,
      processed: 2,
      runsCreated: 20,
    });
    expect(await tick({ now: NOW, maxSchedules: 2 })).toMatchObject({
      due: 1,
      processed: 1,
      runsCreated: 10,
    });
    for (const g of groups) expect((await runsOf(tenantA, g.groupId)).length).toBe(10);
  });
});

describe("schedule changes", () => {
  it("removes unstarted auto-scheduled runs when turned off, and schedules again when turned on", async () => {
    const { flowId, groupId } = await register(tenantA, "onoff", hourly());
    await tick({ now: NOW });
    await asTenant(tenantA, async () => {
      await Flow.setScheduleActive(flowId, false);
      expect(await Schedule.sync(groupId)).toBe("inactive");
    });
    expect(await runsOf(tenantA, groupId)).toEqual([]);
    expect(await tick({ now: NOW })).toMatchObject({ due: 0 });
    await asTenant(tenantA, async () => {
      await Flow.setScheduleActive(flowId, true);
      expect(await Schedule.sync(groupId)).toBe("active");
      expect(await Schedule.sync(groupId)).toBe("unchanged");
    });
    expect(await tick({ now: NOW })).toMatchObject({ runsCreated: 10 });
    expect((await runsOf(tenantA, groupId)).length).toBe(10);
  });

  it("replaces the runs when the flow group's schedule overrides the flow's, and leaves manual runs alone", async () => {
    const { flowId, groupId } = await register(tenantA, "changed", hourly());
    await tick({ now: NOW });
    await asTenant(tenantA, () => FlowRun.create({ flow_id: flowId, parameters: { n: 9 } }));
    await asTenant(tenantA, async () => {
      await FlowGroup.set(groupId, "schedule", {
        timezone: "UTC",
        cron_clocks: [{ cron: "30 6 * * *", parameter_defaults: { n: 5 } }],
      });
      expect(await Schedule.sync(groupId)).toBe("active");
    });
    await tick({ now: NOW, upcoming: 3 });
    const runs = await runsOf(tenantA, groupId);
    expect(runs.filter((r) => r.auto_scheduled).map((r) => [r.scheduled_start_time, r.parameters.n])).toEqual(
      [
        ["2030-01-01T06:30:00.000Z", 5],
        ["2030-01-02T06:30:00.000Z", 5],
        ["2030-01-03T06:30:00.000Z", 5],
      ],
    );
    expect(runs.filter((r) => !r.auto_scheduled)).toHaveLength(1);
  });

  it("stops scheduling an archived flow and follows the newest version", async () => {
    const first = await register(tenantA, "versions", hourly());
    await tick({ now: NOW });
    const second = await asTenant(tenantA, async () => {
      const flow = await Flow.requireFlow(first.flowId);
      const { id } = await Flow.registerJson({
        project_id: flow.project_id,
        serialized_flow: {
          ...pipelineFlow("versions"),
          schedule: hourly({ parameter_defaults: { n: 2 } }),
          parameters: [
            {
              name: "n",
              slug: "n",
              required: false,
              default: null,
              type: "prefect.core.parameter.Parameter",
            },
          ],
        },
      });
      active.push({ tenant: tenantA, flowId: id });
      return id;
    });
    await tick({ now: NOW });
    const runs = await runsOf(tenantA, first.groupId);
    expect(runs).toHaveLength(10);
    expect(new Set(runs.map((r) => r.flow_id))).toEqual(new Set([second]));
  });

  it("refuses a schedule it cannot honour", async () => {
    await expect(
      register(tenantA, "refused", { clocks: [{ type: "IntervalClock", interval: 10_000_000 }] }),
    ).rejects.toThrow(/one minute/);
  });
});

describe("workspaces", () => {
  it("creates each workspace's runs in that workspace only", async () => {
    const a = await register(tenantA, "iso", hourly());
    const b = await register(tenantB, "iso", hourly({ parameter_defaults: { n: 2 } }));
    const result = await tick({ now: NOW });
    expect(result).toMatchObject({ processed: 2, runsCreated: 20 });
    const runsA = await runsOf(tenantA, a.groupId);
    const runsB = await runsOf(tenantB, b.groupId);
    expect(runsA.every((r) => r.tenant_id === tenantA && r.parameters.n === 1)).toBe(true);
    expect(runsB.every((r) => r.tenant_id === tenantB && r.parameters.n === 2)).toBe(true);
    expect(await runsOf(tenantB, a.groupId)).toEqual([]);
  });
});
