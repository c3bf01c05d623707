import { beforeAll, describe, expect, it } from "vitest";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { asTenant, NotFoundError, Project, ValidationError, Workspace } from "#core/index.js";
import { backfill, MAX_BACKFILL_RUNS } from "#core/schedule/backfill.js";
import { pipelineFlow } from "../helpers/orchestration.js";
import { useTestTables } from "../helpers/storage.js";

const NOW = new Date("2030-01-01T00:00:30Z");
const hourly = {
  type: "Schedule",
  clocks: [{ type: "CronClock", cron: "0 * * * *", parameter_defaults: { n: 7 }, labels: ["hourly"] }],
  filters: [],
  or_filters: [],
  not_filters: [],
  adjustments: [],
  __version__: "1.4.1",
};

let tenant: string;
let other: string;
let groupId: string;
let flowId: string;

beforeAll(async () => {
  await useTestTables("backfill");
  tenant = (await Workspace.create({ name: "Backfill" })).id;
  other = (await Workspace.create({ name: "Backfill other" })).id;
  await asTenant(tenant, async () => {
    const project = await Project.create({ name: "p" });
    const flow = {
      ...pipelineFlow("hourly-backfill"),
      schedule: hourly,
      parameters: [
        { name: "n", slug: "n", required: false, default: null, type: "prefect.core.parameter.Parameter" },
      ],
    };
    flowId = (await Flow.registerJson({ project_id: project.id, serialized_flow: flow })).id;
    groupId = (await Flow.requireFlow(flowId)).flow_group_id;
  });
});

const window = (start: string, end: string) => ({ flow_group_id: groupId, start, end });

describe("backfill_flow_group", () => {
  it("creates the runs the schedule would have created in a past window, with its parameters and labels", async () => {
    await asTenant(tenant, async () => {
      const result = await backfill(window("2029-12-31T20:00:00Z", "2029-12-31T23:30:00Z"), NOW);
      expect(result).toMatchObject({ created: 4, existing: 0 });
      const runs = await FlowRun.fromIds(result.flow_run_ids);
      expect(runs.map((r) => r.scheduled_start_time).sort()).toEqual([
        "2029-12-31T20:00:00.000Z",
        "2029-12-31T21:00:00.000Z",
        "2029-12-31T22:00:00.000Z",
        "2029-12-31T23:00:00.000Z",
      ]);
      for (const run of runs) {
        expect(run).toMatchObject({
          state: "Scheduled",
          auto_scheduled: true,
          parameters: { n: 7 },
          labels: ["hourly"],
        });
      }
    });
  });

  it("creates each run once when repeated or overlapping, and never in the future", async () => {
    await asTenant(tenant, async () => {
      const again = await backfill(window("2029-12-31T22:00:00Z", "2030-01-01T05:00:00Z"), NOW);
      // 22:00 and 23:00 exist; 00:00 is new; 01:00 onwards is after `now`, the scheduler's.
      expect(again).toMatchObject({ created: 1, existing: 2 });
      const last = await FlowRun.requireRun(again.flow_run_ids[2] ?? "");
      expect(last.scheduled_start_time).toBe("2030-01-01T00:00:00.000Z");
    });
  });

  it("refuses bad windows, windows too large, groups without a schedule and other workspaces' groups", async () => {
    await asTenant(tenant, async () => {
      await expect(backfill(window("2029-12-31T10:00:00Z", "2029-12-31T09:00:00Z"), NOW)).rejects.toThrow(
        ValidationError,
      );
      await expect(backfill(window("yesterday", "2029-12-31T09:00:00Z"), NOW)).rejects.toThrow(/ISO 8601/);
      await expect(backfill(window("2029-10-01T00:00:00Z", "2029-12-31T00:00:00Z"), NOW)).rejects.toThrow(
        new RegExp(`more than ${MAX_BACKFILL_RUNS}`),
      );
      await expect(
        backfill({ flow_group_id: flowId, start: "2029-12-31T00:00:00Z", end: "2029-12-31T01:00:00Z" }, NOW),
      ).rejects.toThrow(NotFoundError);
    });
    const before = await asTenant(
      tenant,
      async () => (await backfill(window("2029-12-31T20:00:00Z", "2029-12-31T20:00:00Z"), NOW)).existing,
    );
    expect(before).toBe(1);
    await expect(
      asTenant(other, () => backfill(window("2029-12-31T18:00:00Z", "2029-12-31T19:00:00Z"), NOW)),
    ).rejects.toThrow(NotFoundError);
    // Nothing was created in the owner's workspace by the refused call.
    const untouched = await asTenant(tenant, () =>
      backfill(window("2029-12-31T18:00:00Z", "2029-12-31T19:00:00Z"), NOW),
    );
    expect(untouched).toMatchObject({ created: 2, existing: 0 });
  });
});

describe("backfill_flow_group over GraphQL", () => {
  it("answers created and existing run ids, and refuses another workspace's group with NOT_FOUND", async () => {
    const { client, startTestRuntime } = await import("../helpers/runtime.js");
    const runtime = await startTestRuntime("backfill-api");
    try {
      const api = client(runtime, runtime.bootstrap.secret);
      const project = await api<{ create_project: { id: string } }>(
        'mutation { create_project(input: { name: "bf" }) { id } }',
      );
      const flow = await api<{ create_flow: { id: string } }>(
        "mutation($input: create_flow_input!) { create_flow(input: $input) { id } }",
        {
          input: {
            project_id: project.data?.create_project.id,
            serialized_flow: {
              ...pipelineFlow("api-backfill"),
              schedule: hourly,
              parameters: [{ name: "n", required: false }],
            },
          },
        },
      );
      expect(flow.errors).toBeUndefined();
      const group = await api<{ flow_by_pk: { flow_group_id: string } }>(
        `query { flow_by_pk(id: "${flow.data?.create_flow.id}") { flow_group_id } }`,
      );
      const groupOf = group.data?.flow_by_pk.flow_group_id;
      const BACKFILL =
        "mutation($input: backfill_flow_group_input!) { backfill_flow_group(input: $input) { flow_run_ids created existing } }";
      const input = { flow_group_id: groupOf, start: "2020-01-01T00:00:00Z", end: "2020-01-01T02:00:00Z" };
      const res = await api<{
        backfill_flow_group: { flow_run_ids: string[]; created: number; existing: number };
      }>(BACKFILL, { input });
      expect(res.errors).toBeUndefined();
      expect(res.data?.backfill_flow_group).toMatchObject({ created: 3, existing: 0 });

      const stranger = await Workspace.create({ name: "Backfill stranger" });
      const { ApiKey } = await import("#core/index.js");
      const key = (await asTenant(stranger.id, () => ApiKey.create({ name: "s" }))).secret;
      const refused = await client(runtime, key)(BACKFILL, { input });
      expect(refused.errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
      const again = await api<{ backfill_flow_group: { created: number; existing: number } }>(BACKFILL, {
        input,
      });
      expect(again.data?.backfill_flow_group).toEqual(expect.objectContaining({ created: 0, existing: 3 }));
    } finally {
      await runtime.stop();
    }
  });
});
