import pLimit from "p-limit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as FlowGroup from "#core/flow/group.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { ApiKey, asTenant, Project, Workspace } from "#core/index.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { type Api, ok, pipelineFlow, Q, state } from "../helpers/orchestration.js";
import { client, startTestRuntime } from "../helpers/runtime.js";

/**
 * The agents' queue (`get_runs_in_queue`) over HTTP: which runs an agent is given by labels
 * (Prefect Server's rule: the run's labels are a subset of the agent's, and an unlabelled run goes
 * only to agents without labels), and that runs it cannot take never hide those it can. Each test
 * has its own workspace, so its queue holds only its own runs.
 */
const MIN = 60_000;

let runtime: LocalRuntime;

beforeAll(async () => {
  runtime = await startTestRuntime("queue-labels");
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

/** A flow whose run_config carries `labels` (the default labels of its runs). */
async function flow(space: Space, name: string, labels: string[] = []) {
  return asTenant(space.tenant, async () => {
    const { id } = await Flow.registerJson({
      project_id: space.projectId,
      serialized_flow: pipelineFlow(name, { labels }),
    });
    return { flowId: id, groupId: (await Flow.requireFlow(id)).flow_group_id };
  });
}

/** A run created over the API, due `ago` ms ago (negative: in the future). */
async function run(space: Space, flowId: string, ago: number, extra: Record<string, unknown> = {}) {
  const data = await ok<{ create_flow_run: { id: string } }>(space.api, Q.createRun, {
    input: {
      flow_id: flowId,
      parameters: { n: 1 },
      scheduled_start_time: new Date(Date.now() - ago).toISOString(),
      ...extra,
    },
  });
  return data.create_flow_run.id;
}

async function poll(space: Space, labels: string[], before?: string): Promise<string[]> {
  const data = await ok<{ get_runs_in_queue: { flow_run_ids: string[] } }>(space.api, Q.queue, {
    input: { labels, ...(before ? { before } : {}) },
  });
  return data.get_runs_in_queue.flow_run_ids;
}

const setState = (space: Space, id: string, type: string) =>
  ok(space.api, Q.flowRunStates, {
    input: { states: [{ flow_run_id: id, version: null, state: state(type) }] },
  });

describe("the agents' queue without starvation", () => {
  it("gives an agent its due run however many due runs it cannot take wait before it", async () => {
    const space = await workspace("Queue starvation");
    const gpu = await flow(space, "gpu-work", ["gpu"]);
    const cpu = await flow(space, "cpu-work", ["cpu"]);
    // 520 due runs no cpu agent can take, all older than the one it can (scheduler-made runs).
    const target = await asTenant(space.tenant, async () => ({
      flow: await Flow.requireFlow(gpu.flowId),
      group: await FlowGroup.fromId(gpu.groupId),
    }));
    const base = Date.now() - 60 * MIN;
    const limit = pLimit(16);
    const gpuRuns = await Promise.all(
      Array.from({ length: 520 }, (_, i) =>
        limit(() =>
          asTenant(space.tenant, async () => {
            const created = await FlowRun.createScheduled(target, {
              parameters: { n: 1 },
              labels: null,
              scheduled_start_time: new Date(base + i * 1000).toISOString(),
              idempotency_key: `gpu-${i}`,
            });
            return created.id;
          }),
        ),
      ),
    );
    const cpuRun = await run(space, cpu.flowId, MIN);

    expect(await poll(space, ["cpu"])).toEqual([cpuRun]);
    // The gpu agent gets the oldest 25 of its own, in start order, and never the cpu run.
    expect(await poll(space, ["gpu"])).toEqual(gpuRuns.slice(0, 25));
    // An agent taking both gets the oldest 25 of the two sets merged: all gpu here.
    expect(await poll(space, ["cpu", "gpu"])).toEqual(gpuRuns.slice(0, 25));
  });

  it("matches labels as Prefect Server does: run labels ⊆ agent labels; unlabelled runs only to unlabelled agents", async () => {
    const space = await workspace("Queue labels");
    const plain = await flow(space, "plain");
    const docker = await flow(space, "docker", ["docker"]);
    const unlabelled = await run(space, plain.flowId, 5 * MIN);
    const cpu = await run(space, plain.flowId, 4 * MIN, { labels: ["cpu"] });
    const cpuBig = await run(space, plain.flowId, 3 * MIN, { labels: ["big", "cpu", "cpu"] });
    // No labels given: the flow's run_config labels; explicit empty labels: none (Prefect's `labels is not None`).
    const fromRunConfig = await run(space, docker.flowId, 2 * MIN);
    const explicitlyNone = await run(space, docker.flowId, MIN, { labels: [] });

    expect(await poll(space, [])).toEqual([unlabelled, explicitlyNone]);
    expect(await poll(space, ["cpu"])).toEqual([cpu]);
    expect(await poll(space, ["x", "cpu", "big"])).toEqual([cpu, cpuBig]);
    expect(await poll(space, ["big"])).toEqual([]);
    expect(await poll(space, ["docker"])).toEqual([fromRunConfig]);
    expect(await poll(space, ["docker", "cpu", "big"])).toEqual([cpu, cpuBig, fromRunConfig]);
  });

  it("uses the flow group's labels over the flow's run_config labels for new runs", async () => {
    const space = await workspace("Queue group labels");
    const docker = await flow(space, "docker", ["docker"]);
    await ok(
      space.api,
      "mutation($input: set_flow_group_labels_input!) { set_flow_group_labels(input: $input) { success } }",
      { input: { flow_group_id: docker.groupId, labels: ["k8s"] } },
    );
    const id = await run(space, docker.flowId, MIN);
    expect(await poll(space, ["docker"])).toEqual([]);
    expect(await poll(space, ["k8s"])).toEqual([id]);
  });

  it("returns runs due by `before` only", async () => {
    const space = await workspace("Queue future");
    const { flowId } = await flow(space, "f", ["cpu"]);
    const due = await run(space, flowId, MIN);
    const soon = await run(space, flowId, -5 * MIN);
    await run(space, flowId, -60 * MIN);
    expect(await poll(space, ["cpu"])).toEqual([due]);
    expect(await poll(space, ["cpu"], new Date(Date.now() + 10 * MIN).toISOString())).toEqual([due, soon]);
  });

  it("moves a queued run to its new labels' queue when relabelled", async () => {
    const space = await workspace("Queue relabel");
    const { flowId } = await flow(space, "f", ["gpu"]);
    const id = await run(space, flowId, MIN);
    expect(await poll(space, ["cpu"])).toEqual([]);
    await ok(
      space.api,
      "mutation($input: set_flow_run_labels_input!) { set_flow_run_labels(input: $input) { success } }",
      { input: { flow_run_id: id, labels: ["cpu"] } },
    );
    expect(await poll(space, ["cpu"])).toEqual([id]);
    expect(await poll(space, ["gpu"])).toEqual([]);
  });

  it("takes a run off the queue when submitted and puts it back in its label set's queue when Scheduled again", async () => {
    const space = await workspace("Queue re-entry");
    const { flowId } = await flow(space, "f", ["cpu"]);
    const id = await run(space, flowId, MIN);
    await setState(space, id, "Submitted");
    expect(await poll(space, ["cpu"])).toEqual([]);
    await setState(space, id, "Scheduled");
    expect(await poll(space, ["cpu"])).toEqual([id]);
    expect(await poll(space, [])).toEqual([]);
  });

  it("puts runs back in their label sets' queues when a batch of states (one transaction) makes them Scheduled", async () => {
    const space = await workspace("Queue batch re-entry");
    const cpu = await flow(space, "cpu-batch", ["cpu"]);
    const gpu = await flow(space, "gpu-batch", ["gpu"]);
    const cpuRun = await run(space, cpu.flowId, 2 * MIN);
    const gpuRun = await run(space, gpu.flowId, MIN);
    const batch = (type: string) =>
      ok(space.api, Q.flowRunStates, {
        input: {
          states: [cpuRun, gpuRun].map((id) => ({ flow_run_id: id, version: null, state: state(type) })),
        },
      });
    await batch("Submitted");
    expect(await poll(space, ["cpu", "gpu"])).toEqual([]);
    await batch("Scheduled");
    expect(await poll(space, ["cpu"])).toEqual([cpuRun]);
    expect(await poll(space, ["gpu"])).toEqual([gpuRun]);
  });

  it("feeds the overlap policy the runs of all label sets in one start-time order", async () => {
    const space = await workspace("Queue overlap merge");
    const { flowId, groupId } = await flow(space, "exclusive", ["cpu"]);
    await ok(
      space.api,
      "mutation($input: set_flow_group_settings_input!) { set_flow_group_settings(input: $input) { success } }",
      { input: { flow_group_id: groupId, overlap_policy: "skip" } },
    );
    // Same group, four label sets: the oldest run's set may be read in any position (sets are
    // read in the order of their ids); only a merge by start time hands out exactly that run.
    const newer = [];
    for (const [i, labels] of [["cpu"], ["b", "cpu"], ["c", "cpu"]].entries())
      newer.push(await run(space, flowId, (i + 1) * MIN, { labels }));
    const oldest = await run(space, flowId, 10 * MIN, { labels: ["a", "cpu"] });
    expect(await poll(space, ["a", "b", "c", "cpu"])).toEqual([oldest]);
    expect(newer).not.toContain(oldest);
  });
});
