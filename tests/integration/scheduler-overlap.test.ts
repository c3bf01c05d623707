import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Agent from "#core/agent/index.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { ApiKey, asTenant, Project, Workspace } from "#core/index.js";
import * as Log from "#core/log/index.js";
import { backfill } from "#core/schedule/backfill.js";
import { OVERLAP_CLAIM_MS } from "#core/schedule/overlap.js";
import { parseState } from "#core/state/types.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { type Api, ok, pipelineFlow, Q, state } from "../helpers/orchestration.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * The flow group overlap policy, enforced where runs are handed to agents (`get_runs_in_queue`):
 * two agents polling over HTTP, and in-process polls with their own clock for the claim's expiry.
 * Each test has its own workspace, so its queue holds only its own runs.
 */
const MIN = 60_000;
const POLICIES =
  "mutation($input: set_flow_group_settings_input!) { set_flow_group_settings(input: $input) { success } }";

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime("overlap");
});
afterAll(async () => {
  await runtime?.stop();
});

type Space = { tenant: string; api: Api; projectId: string };

async function workspace(name: string): Promise<Space> {
  const tenant = (await Workspace.create({ name })).id;
  const key = (await asTenant(tenant, () => ApiKey.create({ name: "k" }))).secret;
  const projectId = await asTenant(tenant, async () => (await Project.create({ name: "p" })).id);
  return { tenant, api: client(runtime, key), projectId };
}

async function flow(space: Space, name: string, extra: Record<string, unknown> = {}) {
  return asTenant(space.tenant, async () => {
    const { id } = await Flow.registerJson({
      project_id: space.projectId,
      serialized_flow: { ...pipelineFlow(name), ...extra },
    });
    return { flowId: id, groupId: (await Flow.requireFlow(id)).flow_group_id };
  });
}

const skipOverlaps = (space: Space, groupId: string) =>
  ok(space.api, POLICIES, { input: { flow_group_id: groupId, overlap_policy: "skip" } });

/** A run as the scheduler creates them (auto-scheduled), due `ago` ms ago. */
const scheduled = (space: Space, flowId: string, ago: number, extra: Partial<FlowRun.CreateInput> = {}) =>
  asTenant(
    space.tenant,
    async () =>
      (
        await FlowRun.create({
          flow_id: flowId,
          parameters: { n: 1 },
          scheduled_start_time: new Date(Date.now() - ago).toISOString(),
          auto_scheduled: true,
          ...extra,
        })
      ).id,
  );

async function agent(space: Space, name: string, labels: string[] = []) {
  const data = await ok<{ register_agent: { id: string } }>(space.api, Q.registerAgent, {
    input: { name, labels, type: "LocalAgent" },
  });
  const id = data.register_agent.id;
  return {
    id,
    poll: async () =>
      (
        await ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(
          space.api,
          Q.queue,
          { input: { labels } },
          { "X-PREFECT-AGENT-ID": id },
        )
      ).get_runs_in_queue.flow_run_ids,
  };
}

const setState = (space: Space, id: string, type: string, version: number | null = null) =>
  space.api(Q.flowRunStates, { input: { states: [{ flow_run_id: id, version, state: state(type) }] } });

const run = (space: Space, id: string) => asTenant(space.tenant, () => FlowRun.requireRun(id));

async function schedulerLines(space: Space, id: string) {
  return asTenant(space.tenant, async () => {
    const lines: string[] = [];
    for await (const line of Log.ofFlowRun(id))
      if (line.name === "drover.scheduler") lines.push(String(line.message));
    return lines;
  });
}

describe("overlap_policy allow (the default)", () => {
  it("hands every due run of a group to every polling agent", async () => {
    const space = await workspace("Overlap allow");
    const { flowId } = await flow(space, "allowed");
    const runs = [await scheduled(space, flowId, 3 * MIN), await scheduled(space, flowId, 2 * MIN)];
    await setState(space, String(runs[0]), "Submitted");
    const third = await scheduled(space, flowId, MIN);
    const [x, y] = await Promise.all([agent(space, "x"), agent(space, "y")]);
    const [fromX, fromY] = await Promise.all([x.poll(), y.poll()]);
    expect(fromX.sort()).toEqual([runs[1], third].sort());
    expect(fromY.sort()).toEqual([runs[1], third].sort());
  });
});

describe("overlap_policy skip", () => {
  it("hands out one run of the group at a time, and skips the ones that come due while it runs, once", async () => {
    const space = await workspace("Overlap skip");
    const { flowId, groupId } = await flow(space, "exclusive");
    const other = await flow(space, "other");
    await skipOverlaps(space, groupId);
    const a = await scheduled(space, flowId, 3 * MIN);
    const b = await scheduled(space, flowId, 2 * MIN);
    const c = await scheduled(space, flowId, MIN);
    const unrelated = await scheduled(space, other.flowId, 150_000);
    const [x, y] = await Promise.all([agent(space, "x"), agent(space, "y")]);

    // Two agents at once: only the group's oldest run is handed out; the other group is unaffected.
    const [first, second] = await Promise.all([x.poll(), y.poll()]);
    const handed = new Set([...first, ...second]);
    expect(handed.has(a)).toBe(true);
    expect(handed.has(b) || handed.has(c)).toBe(false);
    expect(first).toContain(unrelated);
    expect(second).toContain(unrelated);

    // Both submit it with the version they read: one wins.
    const submits = await Promise.all([
      setState(space, a, "Submitted", 1),
      setState(space, a, "Submitted", 1),
    ]);
    expect(submits.filter((s) => s.errors === undefined)).toHaveLength(1);
    expect(submits.find((s) => s.errors)?.errors?.[0]?.extensions?.code).toBe("VERSION_LOCKING_ERROR");

    // While a runs, the runs that came due are skipped, by whichever poll gets there, exactly once.
    const [later1, later2] = await Promise.all([x.poll(), y.poll()]);
    expect([...later1, ...later2]).not.toContain(b);
    expect([...later1, ...later2]).not.toContain(c);
    for (const id of [b, c]) {
      const skipped = await run(space, id);
      expect(skipped.state).toBe("Skipped");
      expect(skipped.version).toBe(2);
      expect(skipped.state_message).toBe(
        `Flow run skipped: flow run ${(await run(space, a)).name} (${a}) of the same flow group is still Submitted, and the flow group's overlap_policy is "skip".`,
      );
      expect(await schedulerLines(space, id)).toEqual([skipped.state_message]);
    }
    expect((await run(space, a)).state).toBe("Submitted");

    // A run asked for by hand waits (held back, not skipped) for the group to be free.
    await setState(space, a, "Running");
    const manual = await asTenant(
      space.tenant,
      async () =>
        (
          await FlowRun.create({
            flow_id: flowId,
            parameters: { n: 2 },
            scheduled_start_time: new Date(Date.now() - 30_000).toISOString(),
          })
        ).id,
    );
    expect(await x.poll()).not.toContain(manual);
    expect((await run(space, manual)).state).toBe("Scheduled");

    // Once a has finished, the next due run of the group is handed out.
    await setState(space, a, "Success");
    expect(await x.poll()).toContain(manual);
  });

  it("gives a claimed run's turn to another once its agent did not submit it in time, and that agent can no longer start it", async () => {
    const space = await workspace("Overlap claim");
    const { flowId, groupId } = await flow(space, "claimed");
    await skipOverlaps(space, groupId);
    const gpuRun = await scheduled(space, flowId, 2 * MIN, { labels: ["gpu"] });
    const plainRun = await scheduled(space, flowId, MIN);
    const [gpu, plain] = await asTenant(space.tenant, () =>
      Promise.all([Agent.register({ name: "gpu", labels: ["gpu"] }), Agent.register({ name: "plain" })]),
    );
    const poll = (who: Agent.Agent, at: number) =>
      asTenant(space.tenant, () =>
        Agent.runsInQueue({ labels: who.labels }, who.id, new Date(Date.now() + at)),
      );

    expect(await poll(gpu, 0)).toEqual([gpuRun]);
    // Its claim is fresh: the other agent's run waits, untouched.
    expect(await poll(plain, OVERLAP_CLAIM_MS / 2)).toEqual([]);
    expect((await run(space, plainRun)).state).toBe("Scheduled");

    // The gpu agent never submitted it: after the claim, the plain agent's run goes instead...
    expect(await poll(plain, 2 * OVERLAP_CLAIM_MS)).toEqual([plainRun]);
    const requeued = await run(space, gpuRun);
    expect(requeued.state).toBe("Scheduled");
    expect(requeued.version).toBe(2);
    expect(requeued.state_message).toMatch(/re-queued: .* did not submit it before its claim expired/);
    // ...and the gpu agent, waking up with the version it read, cannot start it alongside.
    await expect(
      asTenant(space.tenant, () =>
        FlowRun.setStates([{ flow_run_id: gpuRun, version: 1, state: state("Submitted") }]),
      ),
    ).rejects.toThrow(/version 1 does not match/);
    await asTenant(space.tenant, () => FlowRun.setState(plainRun, 1, parseState(state("Submitted"))));

    // The gpu agent's next poll finds the group busy: its (auto-scheduled, due) run is skipped.
    expect(await poll(gpu, 2 * OVERLAP_CLAIM_MS)).toEqual([]);
    expect((await run(space, gpuRun)).state).toBe("Skipped");
    expect((await run(space, gpuRun)).state_message).toContain(
      `(${plainRun}) of the same flow group is still Submitted`,
    );
  });

  it("switched on while a run is in progress, waits for that run", async () => {
    const space = await workspace("Overlap switch");
    const busy = await flow(space, "busy");
    const idle = await flow(space, "idle");
    const running = await scheduled(space, busy.flowId, 10 * MIN);
    await setState(space, running, "Submitted");
    await setState(space, running, "Running");
    await skipOverlaps(space, busy.groupId);
    await skipOverlaps(space, idle.groupId);
    const next = await scheduled(space, busy.flowId, MIN);
    const free = await scheduled(space, idle.flowId, MIN);
    const x = await agent(space, "x");
    expect(await x.poll()).toEqual([free]);
    expect((await run(space, next)).state_message).toContain(
      `(${running}) of the same flow group is still Running`,
    );
  });

  it("runs backfilled runs one at a time, in order, instead of skipping them", async () => {
    const space = await workspace("Overlap backfill");
    const hourly = {
      type: "Schedule",
      clocks: [{ type: "CronClock", cron: "0 * * * *", parameter_defaults: { n: 7 } }],
      filters: [],
      or_filters: [],
      not_filters: [],
      adjustments: [],
      __version__: "1.4.1",
    };
    const { groupId } = await flow(space, "backfilled", { schedule: hourly });
    await skipOverlaps(space, groupId);
    const hour = 3_600_000;
    const top = Math.floor(Date.now() / hour) * hour;
    const { flow_run_ids: ids } = await asTenant(space.tenant, () =>
      backfill({
        flow_group_id: groupId,
        start: new Date(top - 3 * hour).toISOString(),
        end: new Date(top - hour).toISOString(),
      }),
    );
    expect(ids).toHaveLength(3);
    const x = await agent(space, "x");
    expect(await x.poll()).toEqual([ids[0]]);
    await setState(space, String(ids[0]), "Submitted");
    await setState(space, String(ids[0]), "Running");
    expect(await x.poll()).toEqual([]);
    for (const id of ids.slice(1)) expect((await run(space, id)).state).toBe("Scheduled");
    await setState(space, String(ids[0]), "Success");
    expect(await x.poll()).toEqual([ids[1]]);
  });
});
