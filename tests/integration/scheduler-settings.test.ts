import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as FlowRun from "#core/flow-run/index.js";
import { FlowRunKeys } from "#core/flow-run/keys.js";
import { ApiKey, asTenant, Workspace } from "#core/index.js";
import { checkHealth } from "#core/schedule/health.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import {
  type Api,
  createProject,
  createRun,
  fails,
  ok,
  pipelineFlow,
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Flow settings over HTTP: Prefect's per-flow heartbeat and lazarus toggles, Drover's group
 * policies (`set_flow_group_settings`), what the read API shows, and that the scheduler's health
 * check (run in-process on the same tables, with its own clock) enforces what was set.
 */
const MIN = 60_000;
const later = (ms: number) => new Date(Date.now() + ms);

const M = {
  toggle: (name: string) => `mutation($input: ${name}_input!) { ${name}(input: $input) { success error } }`,
  policies:
    "mutation($input: set_flow_group_settings_input!) { set_flow_group_settings(input: $input) { success error settings } }",
  flowSettings: (flowId: string) =>
    `query { flow_by_pk(id: "${flowId}") { settings flow_group { settings } } }`,
  /** The Prefect flow runner's check before each heartbeat. */
  runnerSettings: (runId: string) => `query { flow_run_by_pk(id: "${runId}") { flow { settings } } }`,
  backfill:
    "mutation($input: backfill_flow_group_input!) { backfill_flow_group(input: $input) { flow_run_ids created } }",
};

let runtime: LocalRuntime;
let api: Api;
let tenant: string;
let projectId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("flow-settings");
  api = client(runtime, runtime.bootstrap.secret);
  tenant = runtime.bootstrap.workspace.id;
  projectId = await createProject(api, "settings");
});
afterAll(async () => {
  await runtime?.stop();
});

type Settings = Record<string, unknown>;

async function register(name: string, extra: Record<string, unknown> = {}) {
  const flowId = await registerFlow(api, projectId, { ...pipelineFlow(name), ...extra });
  const data = await ok<{ flow_by_pk: { flow_group_id: string } }>(
    api,
    `query { flow_by_pk(id: "${flowId}") { flow_group_id } }`,
  );
  return { flowId, groupId: data.flow_by_pk.flow_group_id };
}

async function settingsOf(flowId: string) {
  const data = await ok<{ flow_by_pk: { settings: Settings; flow_group: { settings: Settings } } }>(
    api,
    M.flowSettings(flowId),
  );
  return { flow: data.flow_by_pk.settings, group: data.flow_by_pk.flow_group.settings };
}

const toggle = (name: string, flowId: string, caller = api) =>
  ok<Record<string, { success: boolean; error: string | null }>>(caller, M.toggle(name), {
    input: { flow_id: flowId },
  });

async function setStates(runId: string, ...types: string[]) {
  for (const type of types) {
    await ok(api, Q.flowRunStates, { input: { states: [{ flow_run_id: runId, state: state(type) }] } });
  }
}

const runState = (id: string) => asTenant(tenant, () => FlowRun.requireRun(id));

describe("enable/disable_flow_heartbeat and enable/disable_flow_lazarus_process", () => {
  it("store the setting on the flow's group, shared by its versions and read by the flow runner", async () => {
    const { flowId } = await register("toggled");
    expect(await settingsOf(flowId)).toEqual({
      flow: expect.objectContaining({ heartbeat_enabled: true, lazarus_enabled: true }),
      group: expect.objectContaining({
        heartbeat_enabled: true,
        lazarus_enabled: true,
        overlap_policy: "allow",
      }),
    });

    expect((await toggle("disable_flow_heartbeat", flowId)).disable_flow_heartbeat).toEqual({
      success: true,
      error: null,
    });
    await toggle("disable_flow_lazarus_process", flowId);
    const off = await settingsOf(flowId);
    expect(off.group).toMatchObject({
      heartbeat_enabled: false,
      disable_heartbeat: true,
      lazarus_enabled: false,
    });
    expect(off.flow).toMatchObject({ heartbeat_enabled: false, lazarus_enabled: false });

    // The flow runner asks before each heartbeat, through its run.
    const runId = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    const runner = await ok<{ flow_run_by_pk: { flow: { settings: Settings } } }>(
      api,
      M.runnerSettings(runId),
    );
    expect(runner.flow_run_by_pk.flow.settings.heartbeat_enabled).toBe(false);

    // A new version of the flow is in the same group: the settings hold for it too.
    const v2 = await registerFlow(api, projectId, pipelineFlow("toggled"));
    expect(v2).not.toBe(flowId);
    expect((await settingsOf(v2)).flow).toMatchObject({ heartbeat_enabled: false, lazarus_enabled: false });

    await toggle("enable_flow_heartbeat", v2);
    await toggle("enable_flow_lazarus_process", v2);
    for (const id of [flowId, v2]) {
      expect((await settingsOf(id)).flow).toMatchObject({
        heartbeat_enabled: true,
        disable_heartbeat: false,
        lazarus_enabled: true,
      });
    }
  });

  it("refuse another workspace's flow with NOT_FOUND and change nothing", async () => {
    const { flowId } = await register("guarded");
    const stranger = await Workspace.create({ name: "Settings stranger" });
    const key = (await asTenant(stranger.id, () => ApiKey.create({ name: "s" }))).secret;
    const theirs = client(runtime, key);
    for (const name of ["disable_flow_heartbeat", "disable_flow_lazarus_process"]) {
      const refused = await fails(theirs, M.toggle(name), { input: { flow_id: flowId } });
      expect(refused.code).toBe("NOT_FOUND");
    }
    expect((await settingsOf(flowId)).group).toMatchObject({
      heartbeat_enabled: true,
      lazarus_enabled: true,
    });
    const unknown = await fails(api, M.toggle("disable_flow_heartbeat"), {
      input: { flow_id: "00000000-0000-4000-8000-000000000000" },
    });
    expect(unknown.code).toBe("NOT_FOUND");
  });

  it("are what the scheduler's health check enforces", async () => {
    const { flowId } = await register("enforced");
    await toggle("disable_flow_heartbeat", flowId);
    await toggle("disable_flow_lazarus_process", flowId);

    // Heartbeats off: a silent Running run is no zombie, however long.
    const silent = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await setStates(silent, "Submitted", "Running");
    await checkHealth({ now: later(30 * MIN) });
    expect((await runState(silent)).state).toBe("Running");

    // Heartbeats back on: from its next heartbeat it is watched, and with lazarus off a zombie fails.
    await toggle("enable_flow_heartbeat", flowId);
    await ok(api, Q.heartbeat(silent));
    await checkHealth({ now: later(MIN) });
    expect((await runState(silent)).state).toBe("Running");
    await checkHealth({ now: later(3 * MIN) });
    const failed = await runState(silent);
    expect(failed.state).toBe("Failed");
    expect(failed.state_message).toMatch(/zombie check: no heartbeat/);

    // Lazarus off: a Submitted run whose process never started stays Submitted.
    const stuck = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await setStates(stuck, "Submitted");
    await checkHealth({ now: later(11 * MIN) });
    expect((await runState(stuck)).state).toBe("Submitted");

    // Lazarus on: the next such run is rescheduled.
    await toggle("enable_flow_lazarus_process", flowId);
    const lost = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await setStates(lost, "Submitted");
    await checkHealth({ now: later(11 * MIN) });
    const rescheduled = await runState(lost);
    expect(rescheduled.state).toBe("Scheduled");
    expect(rescheduled.state_message).toMatch(/Rescheduled by lazarus \(1 of 3\)/);
  });
});

describe("set_flow_group_settings", () => {
  const setPolicies = (input: Record<string, unknown>, caller = api) => caller(M.policies, { input });

  it("sets, partly updates and resets the group's late-run and overlap policies", async () => {
    const { flowId, groupId } = await register("policies");
    const res = await ok<{ set_flow_group_settings: { success: boolean; settings: Settings } }>(
      api,
      M.policies,
      {
        input: {
          flow_group_id: groupId,
          max_lateness_seconds: 120,
          late_run_state: "Cancelled",
          overlap_policy: "skip",
        },
      },
    );
    expect(res.set_flow_group_settings).toEqual({
      success: true,
      error: null,
      settings: expect.objectContaining({
        max_lateness_seconds: 120,
        late_run_state: "Cancelled",
        overlap_policy: "skip",
        heartbeat_enabled: true,
      }),
    });
    // Left out: unchanged; null: back to the default.
    await ok(api, M.policies, { input: { flow_group_id: groupId, late_run_state: null } });
    expect((await settingsOf(flowId)).group).toMatchObject({
      max_lateness_seconds: 120,
      late_run_state: "Skipped",
      overlap_policy: "skip",
    });
    await ok(api, M.policies, {
      input: { flow_group_id: groupId, max_lateness_seconds: null, overlap_policy: "allow" },
    });
    expect((await settingsOf(flowId)).group).toMatchObject({
      max_lateness_seconds: null,
      late_run_state: "Skipped",
      overlap_policy: "allow",
    });
  });

  it("refuses bad values with BAD_USER_INPUT, and other workspaces' groups with NOT_FOUND, changing nothing", async () => {
    const { flowId, groupId } = await register("validated");
    await ok(api, M.policies, { input: { flow_group_id: groupId, max_lateness_seconds: 300 } });
    const refusals: Array<[Record<string, unknown>, RegExp]> = [
      [{ max_lateness_seconds: -5 }, /at least 1/],
      [{ max_lateness_seconds: 0 }, /at least 1 \(null turns skipping late runs off\)/],
      [{ max_lateness_seconds: 31 * 24 * 3600 }, /at most 2592000/],
      [{ late_run_state: "Failed" }, /late_run_state must be "Skipped" or "Cancelled"/],
      [{ overlap_policy: "queue" }, /overlap_policy must be "allow" or "skip"/],
      [{}, /needs at least one of max_lateness_seconds, late_run_state, overlap_policy/],
      // Valid fields alongside a bad one: nothing is applied.
      [{ overlap_policy: "skip", late_run_state: "Later" }, /late_run_state/],
    ];
    for (const [fields, message] of refusals) {
      const refused = await fails(api, M.policies, { input: { flow_group_id: groupId, ...fields } });
      expect(refused.code, JSON.stringify(fields)).toBe("BAD_USER_INPUT");
      expect(refused.message).toMatch(message);
    }
    // Not an Int at all: refused by GraphQL before any resolver.
    expect((await setPolicies({ flow_group_id: groupId, max_lateness_seconds: 1.5 })).errors).toBeDefined();

    const stranger = await Workspace.create({ name: "Policies stranger" });
    const key = (await asTenant(stranger.id, () => ApiKey.create({ name: "s" }))).secret;
    const foreign = await fails(client(runtime, key), M.policies, {
      input: { flow_group_id: groupId, overlap_policy: "skip", max_lateness_seconds: 5 },
    });
    expect(foreign.code).toBe("NOT_FOUND");
    const unknown = await fails(api, M.policies, {
      input: { flow_group_id: "00000000-0000-4000-8000-000000000000", overlap_policy: "skip" },
    });
    expect(unknown.code).toBe("NOT_FOUND");

    expect((await settingsOf(flowId)).group).toMatchObject({
      max_lateness_seconds: 300,
      late_run_state: "Skipped",
      overlap_policy: "allow",
    });
  });
});

describe("the skip-late policy and backfill", () => {
  const hourly = {
    type: "Schedule",
    clocks: [{ type: "CronClock", cron: "0 * * * *", parameter_defaults: { n: 7 } }],
    filters: [],
    or_filters: [],
    not_filters: [],
    adjustments: [],
    __version__: "1.4.1",
  };

  it("exempts backfilled runs (marked late, never skipped) while other late runs are skipped", async () => {
    const { flowId, groupId } = await register("backfilled", { schedule: hourly });
    await ok(api, M.policies, { input: { flow_group_id: groupId, max_lateness_seconds: 60 } });
    const now = Date.now();
    const hour = 3_600_000;
    const start = new Date(Math.floor(now / hour) * hour - 3 * hour).toISOString();
    const end = new Date(Math.floor(now / hour) * hour - hour).toISOString();
    const backfilled = await ok<{ backfill_flow_group: { flow_run_ids: string[]; created: number } }>(
      api,
      M.backfill,
      { input: { flow_group_id: groupId, start, end } },
    );
    expect(backfilled.backfill_flow_group.created).toBe(3);
    // A run created by hand for the same past hour: the policy applies to it.
    const manual = await createRun(api, {
      flow_id: flowId,
      parameters: { n: 1 },
      scheduled_start_time: start,
    });

    // Within the late grace of its creation no run is skipped, however late its start.
    await checkHealth({ now: later(5_000) });
    expect((await runState(manual)).state).toBe("Scheduled");

    await checkHealth({ now: later(2 * MIN) });
    const skipped = await runState(manual);
    expect(skipped.state).toBe("Skipped");
    expect(skipped.state_message).toMatch(/max_lateness_seconds \(60\)/);

    const ids = backfilled.backfill_flow_group.flow_run_ids;
    const rows = await ok<{
      flow_run: Array<{ id: string; state: string; is_late: boolean; backfilled: boolean }>;
    }>(
      api,
      `query { flow_run(where: { flow_group_id: { _eq: "${groupId}" }, backfilled: { _eq: true } }) { id state is_late backfilled } }`,
    );
    expect(rows.flow_run.map((r) => r.id).sort()).toEqual([...ids].sort());
    for (const row of rows.flow_run) expect(row).toMatchObject({ state: "Scheduled", is_late: true });
    // Marked late, nothing is left for the scheduler to do with them: they are off its watch index.
    for (const id of ids) {
      const item = await useDynamo().send(
        new GetCommand({ TableName: mainTable(), Key: FlowRunKeys.run(tenant, id), ConsistentRead: true }),
      );
      expect(item.Item?.watch_pk).toBeUndefined();
    }

    // Hours later, still waiting for an agent rather than skipped.
    await checkHealth({ now: later(5 * 60 * MIN) });
    for (const id of ids) expect((await runState(id)).state).toBe("Scheduled");
  });
});
