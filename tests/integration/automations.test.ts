import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AutomationKeys } from "#core/automation/entity.js";
import { checkAutomations } from "#core/automation/evaluate.js";
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
  Q,
  registerFlow,
  state,
} from "../helpers/orchestration.js";
import { startReceiver } from "../helpers/receiver.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * Automations on the local runtime (docs/events.md, "Automations"): state changes reach them
 * through the stream and the hooks queue (timers, failure streaks), and the scheduler's check
 * (`checkAutomations`, called here with the tick's clock moved forward instead of waiting) fires
 * each once per run or agent silence.
 */
const CREATE = `mutation($input: create_automation_input!) { create_automation(input: $input) { id } }`;
const ACTIVE = `mutation($id: uuid!, $active: Boolean!) { set_automation_active(input: { automation_id: $id, active: $active }) { success } }`;
const DELETE = `mutation($id: uuid!) { delete_automation(input: { automation_id: $id }) { success } }`;
const FIRES = `query($id: uuid!) { automation_fire(where: { automation_id: { _eq: $id } }) { subject flow_run_id agent_id reason action status error } }`;
const HOOK = `mutation($input: create_cloud_hook_input!) { create_cloud_hook(input: $input) { id } }`;
const MIN = 60_000;

type Fire = {
  subject: string;
  flow_run_id: string | null;
  agent_id: string | null;
  reason: string;
  action: string;
  status: string;
  error: string | null;
};

let runtime: LocalRuntime;
let api: Api;
let apiB: Api;
let tenant: string;
let tenantB: string;
let flowId: string;
let versionGroup: string;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let hookId: string;

beforeAll(async () => {
  runtime = await startTestRuntime("automations", { events: true });
  tenant = runtime.bootstrap.workspace.id;
  api = client(runtime, runtime.bootstrap.secret ?? "");
  const other = await Workspace.create({ name: "Automations other" });
  tenantB = other.id;
  apiB = client(runtime, (await asTenant(other.id, () => ApiKey.create({ name: "automations-b" }))).secret);
  flowId = await registerFlow(api, await createProject(api, "automations"), pipelineFlow("automations"));
  versionGroup = (
    await ok<{ flow_by_pk: { version_group_id: string } }>(
      api,
      `{ flow_by_pk(id: "${flowId}") { version_group_id } }`,
    )
  ).flow_by_pk.version_group_id;
  receiver = await startReceiver();
  hookId = (
    await ok<{ create_cloud_hook: { id: string } }>(api, HOOK, {
      // A state no run of these tests enters: only automations call it.
      input: { type: "WEBHOOK", states: ["Looped"], config: { url: receiver.url } },
    })
  ).create_cloud_hook.id;
});
afterAll(async () => {
  await receiver?.close();
  await runtime?.stop();
});

async function createAutomation(input: Record<string, unknown>, as: Api = api): Promise<string> {
  return (await ok<{ create_automation: { id: string } }>(as, CREATE, { input })).create_automation.id;
}

async function setState(runId: string, type: string) {
  await ok(api, Q.flowRunStates, {
    input: { states: [{ flow_run_id: runId, version: null, state: state(type) }] },
  });
}

const fires = async (id: string) =>
  (await ok<{ automation_fire: Fire[] }>(api, FIRES, { id })).automation_fire;

/** Waits until the item at `key` satisfies `done` (the stream and the hooks queue are asynchronous). */
async function itemUntil(
  key: { pk: string; sk: string },
  done: (item: Record<string, unknown> | undefined) => boolean,
) {
  for (;;) {
    const found = await useDynamo().send(
      new GetCommand({ TableName: mainTable(), Key: key, ConsistentRead: true }),
    );
    if (done(found.Item)) return found.Item;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const later = (ms: number) => new Date(Date.now() + ms);
const runState = async (id: string) =>
  (await ok<{ flow_run_by_pk: { state: string } }>(api, `{ flow_run_by_pk(id: "${id}") { state } }`))
    .flow_run_by_pk.state;

describe("automations", () => {
  it("FLOW_RUN_LATE calls its hook once for a run not started N minutes after its start, not for one that started", async () => {
    const id = await createAutomation({
      name: "late",
      kind: "FLOW_RUN_LATE",
      threshold: 5,
      version_group_id: versionGroup,
      action: { type: "HOOK", cloud_hook_id: hookId },
    });
    const late = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    const onTime = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await itemUntil(AutomationKeys.timer(tenant, id, late), Boolean);
    await itemUntil(AutomationKeys.timer(tenant, id, onTime), Boolean);
    await setState(onTime, "Running");

    // Not yet due at 4 minutes.
    await checkAutomations({ now: later(4 * MIN) });
    expect(await fires(id)).toEqual([]);
    const due = await checkAutomations({ now: later(6 * MIN) });
    expect(due.fired).toBeGreaterThanOrEqual(1);
    const [fire, ...others] = await fires(id);
    expect(others).toEqual([]);
    expect(fire).toMatchObject({ subject: late, flow_run_id: late, action: "HOOK", status: "DONE" });
    expect(fire?.reason).toMatch(/has not started 5 minute\(s\) after its scheduled start/);
    const body = JSON.parse(receiver.received.at(-1)?.body ?? "{}").event;
    expect(body).toMatchObject({
      type: "AutomationFired",
      automation: { id, name: "late", kind: "FLOW_RUN_LATE", threshold: 5 },
      flow_run: { id: late, state: "Scheduled" },
    });
    // Once: the timers are gone, later ticks fire nothing more.
    const received = receiver.received.length;
    await checkAutomations({ now: later(8 * MIN) });
    expect(await fires(id)).toHaveLength(1);
    expect(receiver.received).toHaveLength(received);
    await ok(api, DELETE, { id });
  });

  it("FLOW_RUN_LONG cancels a run running longer than N minutes, once", async () => {
    const id = await createAutomation({
      kind: "FLOW_RUN_LONG",
      threshold: 30,
      action: { type: "CANCEL_RUN" },
    });
    const run = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await setState(run, "Running");
    await itemUntil(AutomationKeys.timer(tenant, id, run), Boolean);
    await checkAutomations({ now: later(20 * MIN) });
    expect(await runState(run)).toBe("Running");
    await checkAutomations({ now: later(31 * MIN) });
    expect(await runState(run)).toBe("Cancelling");
    expect((await fires(id)).map((f) => [f.subject, f.status])).toEqual([[run, "DONE"]]);
    await checkAutomations({ now: later(40 * MIN) });
    expect(await fires(id)).toHaveLength(1);
    await ok(api, DELETE, { id });
  });

  it("FLOW_FAILURES pauses the flow's schedule after N failures in a row; a success starts the count again", async () => {
    const id = await createAutomation({
      kind: "FLOW_FAILURES",
      threshold: 2,
      version_group_id: versionGroup,
      action: { type: "PAUSE_SCHEDULE" },
    });
    const group = (
      await ok<{ flow_by_pk: { flow_group_id: string } }>(
        api,
        `{ flow_by_pk(id: "${flowId}") { flow_group_id } }`,
      )
    ).flow_by_pk.flow_group_id;
    const streak = AutomationKeys.streak(tenant, id, group);
    const finish = async (type: string) => {
      const run = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
      await setState(run, type);
      await itemUntil(streak, (item) => item?.last_run === run);
      return run;
    };
    const scheduleActive = async () =>
      (
        await ok<{ flow_by_pk: { is_schedule_active: boolean } }>(
          api,
          `{ flow_by_pk(id: "${flowId}") { is_schedule_active } }`,
        )
      ).flow_by_pk.is_schedule_active;
    await ok(api, `mutation { set_schedule_active(input: { flow_id: "${flowId}" }) { success } }`);
    expect(await scheduleActive()).toBe(true);
    await finish("Failed");
    await finish("Success");
    await finish("Failed");
    expect(await scheduleActive()).toBe(true);
    expect(await fires(id)).toEqual([]);
    const last = await finish("Failed");
    // The streak is counted, then the firing is done: wait for it.
    let found = await fires(id);
    while (found[0]?.status !== "DONE") {
      await new Promise((resolve) => setTimeout(resolve, 50));
      found = await fires(id);
    }
    const [fire] = found;
    expect(fire).toMatchObject({ subject: last, action: "PAUSE_SCHEDULE", status: "DONE" });
    expect(fire?.reason).toMatch(/2 runs of the flow failed in a row/);
    expect(await scheduleActive()).toBe(false);
    await ok(api, `mutation { set_schedule_active(input: { flow_id: "${flowId}" }) { success } }`);
    await ok(api, DELETE, { id });
  });

  it("AGENT_SILENT fires once per silence of an agent, again after it polled and went silent again", async () => {
    const id = await createAutomation({
      kind: "AGENT_SILENT",
      threshold: 10,
      action: { type: "HOOK", cloud_hook_id: hookId },
    });
    const agent = await ok<{ register_agent: { id: string } }>(api, Q.registerAgent, {
      input: { type: "automations-agent", name: "quiet", labels: [] },
    });
    const agentId = agent.register_agent.id;
    const poll = () =>
      ok(
        api,
        Q.queue,
        { input: { before: new Date().toISOString(), labels: [] } },
        { "X-PREFECT-AGENT-ID": agentId },
      );
    await poll();
    await checkAutomations({ now: later(5 * MIN) });
    expect(await fires(id)).toEqual([]);
    await checkAutomations({ now: later(11 * MIN) });
    await checkAutomations({ now: later(12 * MIN) });
    const first = await fires(id);
    expect(first.map((f) => [f.agent_id, f.status])).toEqual([[agentId, "DONE"]]);
    expect(JSON.parse(receiver.received.at(-1)?.body ?? "{}").event).toMatchObject({
      type: "AutomationFired",
      agent: { id: agentId, name: "quiet" },
    });
    // It polls again (a new last poll), then is silent again: a second firing.
    await new Promise((resolve) => setTimeout(resolve, 5));
    await poll();
    await checkAutomations({ now: later(11 * MIN) });
    expect((await fires(id)).filter((f) => f.agent_id === agentId)).toHaveLength(2);
    // Paused, it fires no more.
    await ok(api, ACTIVE, { id, active: false });
    await poll();
    await checkAutomations({ now: later(30 * MIN) });
    expect((await fires(id)).filter((f) => f.agent_id === agentId)).toHaveLength(2);
    await ok(api, DELETE, { id });
  });

  it("another workspace's automations never see this one's runs", async () => {
    const idB = await createAutomation(
      { kind: "FLOW_RUN_LATE", threshold: 1, action: { type: "CANCEL_RUN" } },
      apiB,
    );
    const idA = await createAutomation({
      kind: "FLOW_RUN_LATE",
      threshold: 1,
      action: { type: "CANCEL_RUN" },
    });
    const run = await createRun(api, { flow_id: flowId, parameters: { n: 1 } });
    await itemUntil(AutomationKeys.timer(tenant, idA, run), Boolean);
    const timerB = await useDynamo().send(
      new GetCommand({
        TableName: mainTable(),
        Key: AutomationKeys.timer(tenantB, idB, run),
        ConsistentRead: true,
      }),
    );
    expect(timerB.Item).toBeUndefined();
    await checkAutomations({ now: later(2 * MIN) });
    expect(await runState(run)).toBe("Cancelled");
    const firesB = await ok<{ automation_fire: Fire[] }>(apiB, FIRES, { id: idB });
    expect(firesB.automation_fire).toEqual([]);
    // Nor read, pause or delete them.
    expect(await fires(idB)).toEqual([]);
    expect((await fails(api, DELETE, { id: idB })).code).toBe("NOT_FOUND");
    expect((await fails(api, ACTIVE, { id: idB, active: false })).code).toBe("NOT_FOUND");
    await ok(api, DELETE, { id: idA });
    await ok(apiB, DELETE, { id: idB });
  });

  it("refuses automations that cannot work, with a clear error", async () => {
    const before = (await ok<{ automation: unknown[] }>(api, "{ automation { id } }")).automation.length;
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [
        { kind: "FLOW_RUN_LATE", threshold: 0, action: { type: "CANCEL_RUN" } },
        /threshold is minutes, from 1/,
      ],
      [
        { kind: "FLOW_FAILURES", threshold: 500, action: { type: "PAUSE_SCHEDULE" } },
        /number of runs from 1 to 100/,
      ],
      [
        { kind: "AGENT_SILENT", threshold: 5, action: { type: "CANCEL_RUN" } },
        /CANCEL_RUN acts on a late or long run/,
      ],
      [{ kind: "AGENT_SILENT", threshold: 5, action: { type: "PAUSE_SCHEDULE" } }, /not for AGENT_SILENT/],
      [{ kind: "FLOW_RUN_LONG", threshold: 5, action: { type: "HOOK" } }, /names the cloud hook/],
      [
        {
          kind: "FLOW_RUN_LONG",
          threshold: 5,
          action: { type: "HOOK", cloud_hook_id: "00000000-0000-4000-8000-000000000000" },
        },
        /no cloud hook/,
      ],
      [
        { kind: "FLOW_RUN_LONG", threshold: 5, version_group_id: "nope", action: { type: "CANCEL_RUN" } },
        /no such flow/,
      ],
    ];
    for (const [input, message] of cases) {
      const error = await fails(api, CREATE, { input });
      expect(error.code, JSON.stringify(input)).toBe("BAD_USER_INPUT");
      expect(error.message).toMatch(message);
    }
    const listed = await ok<{ automation: unknown[] }>(api, "{ automation { id } }");
    expect(listed.automation).toHaveLength(before);
  });
});
