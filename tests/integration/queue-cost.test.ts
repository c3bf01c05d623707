import { DeleteCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import pLimit from "p-limit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as Agent from "#core/agent/index.js";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import * as FlowGroup from "#core/flow/group.js";
import * as Flow from "#core/flow/index.js";
import * as FlowRun from "#core/flow-run/index.js";
import { FlowRunKeys, labelSetId } from "#core/flow-run/keys.js";
import {
  ensureReadySet,
  forgetReadySets,
  LEGACY_MARKER,
  READY_SET_PRUNE_AGE_MS,
} from "#core/flow-run/ready-index.js";
import { ApiKey, asTenant, Project, Workspace } from "#core/index.js";
import { serverState } from "#core/state/types.js";
import { DynamoCounter } from "../../bench/lib/dynamo-counter.js";
import type { LocalRuntime } from "../../local/src/runtime.js";
import { pipelineFlow } from "../helpers/orchestration.js";
import { startTestRuntime } from "../helpers/runtime.js";

/**
 * What a poll of the agents' queue costs, counted on the DynamoDB client the code under test uses
 * (requests and items read), against what waits in the queue; the label-set list's upkeep (stale
 * sets pruned, never one a run still needs); and queues written by the layout before label sets.
 */
const MIN = 60_000;
const age = (ms: number) => new Date(Date.now() - ms).toISOString();

let runtime: LocalRuntime;
let counter: DynamoCounter;

beforeAll(async () => {
  runtime = await startTestRuntime("queue-cost");
  counter = new DynamoCounter(useDynamo());
});
afterAll(async () => {
  await runtime?.stop();
});

type Space = { tenant: string; projectId: string };

async function workspace(name: string): Promise<Space> {
  const tenant = (await Workspace.create({ name })).id;
  await asTenant(tenant, () => ApiKey.create({ name: "k" }));
  const projectId = await asTenant(tenant, async () => (await Project.create({ name: "p" })).id);
  return { tenant, projectId };
}

async function flow(space: Space, name: string, labels: string[] = []) {
  return asTenant(space.tenant, async () => {
    const { id } = await Flow.registerJson({
      project_id: space.projectId,
      serialized_flow: pipelineFlow(name, { labels }),
    });
    const flow = await Flow.requireFlow(id);
    return { flow, group: await FlowGroup.fromId(flow.flow_group_id) };
  });
}

/** `count` scheduler-made runs of a flow due from `since` on, a second apart, with `labels` (null: the flow's). */
async function runs(
  space: Space,
  target: Awaited<ReturnType<typeof flow>>,
  count: number,
  since: number,
  labels: string[] | null = null,
  tag = "r",
): Promise<string[]> {
  const limit = pLimit(16);
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      limit(() =>
        asTenant(space.tenant, async () => {
          const created = await FlowRun.createScheduled(target, {
            parameters: { n: 1 },
            labels,
            scheduled_start_time: new Date(since + i * 1000).toISOString(),
            idempotency_key: `${tag}-${i}`,
          });
          return created.id;
        }),
      ),
    ),
  );
}

/** A poll in process, with its DynamoDB requests and items read counted. */
async function poll(space: Space, labels: string[]) {
  const stats: Agent.PollStats = { labelSets: 0, labelSetsTaken: 0, runsRead: 0, candidates: 0 };
  counter.take();
  const ids = await asTenant(space.tenant, () => Agent.runsInQueue({ labels }, null, new Date(), stats));
  return { ids, stats, counts: counter.take() };
}

const setState = (space: Space, id: string, type: string, startTime?: string) =>
  asTenant(space.tenant, () =>
    FlowRun.setState(id, null, serverState(type, `${type} by the test.`, startTime)),
  );

async function readySetItems(space: Space) {
  const page = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowRunKeys.readySetsPartition(space.tenant) },
    }),
  );
  return page.Items ?? [];
}

async function runItem(space: Space, id: string) {
  const page = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      KeyConditionExpression: "pk = :pk AND sk = :sk",
      ExpressionAttributeValues: { ":pk": FlowRunKeys.run(space.tenant, id).pk, ":sk": "flow-run" },
    }),
  );
  return page.Items?.[0] ?? {};
}

describe("the cost of a poll", () => {
  it("is bounded by the runs returned and the label sets in use, not by the runs waiting", async () => {
    const space = await workspace("Queue cost");
    const cpu = await flow(space, "cpu-work", ["cpu"]);
    const gpu = await flow(space, "gpu-work", ["gpu"]);
    const [cpuRun] = await runs(space, cpu, 1, Date.now() - MIN);
    await poll(space, ["cpu"]); // the tenant's first poll records that no old-layout queue is left

    const alone = await poll(space, ["cpu"]);
    expect(alone.ids).toEqual([cpuRun]);

    // 520 due runs the cpu agent cannot take, older than its own, and 20 more label sets.
    await runs(space, gpu, 520, Date.now() - 60 * MIN);
    for (let i = 0; i < 20; i++) await runs(space, cpu, 1, Date.now() - 30 * MIN, [`pool-${i}`], `pool-${i}`);

    const crowded = await poll(space, ["cpu"]);
    expect(crowded.ids).toEqual([cpuRun]);
    expect(crowded.stats).toEqual({ labelSets: 22, labelSetsTaken: 1, runsRead: 1, candidates: 1 });
    // Same requests as alone; items read grew by the list entries of the 21 new label sets only.
    expect(crowded.counts.requests).toBe(alone.counts.requests);
    expect(crowded.counts.byCommand).toEqual(alone.counts.byCommand);
    expect(crowded.counts.itemsRead - alone.counts.itemsRead).toBe(21);
    // Requests: the label-set list, the old-layout check (for a while after the move), the cpu
    // set's partition, the run's group (overlap policy).
    expect(crowded.counts.requests).toBeLessThanOrEqual(4);
    // Items: the run, the 22 sets' entries and the list's marker, the run's group.
    expect(crowded.counts.itemsRead).toBe(1 + 23 + 1);

    // The gpu agent: 25 runs returned from 25 read, plus the list and the runs' group.
    const busy = await poll(space, ["gpu"]);
    expect(busy.ids).toHaveLength(25);
    expect(busy.stats.runsRead).toBe(25);
    expect(busy.counts.itemsRead).toBe(25 + 23 + 1);

    // An agent taking every set: one page per set it takes, never the whole queue.
    const all = await poll(space, ["cpu", "gpu", ...Array.from({ length: 20 }, (_, i) => `pool-${i}`)]);
    expect(all.ids).toHaveLength(25);
    expect(all.stats.labelSetsTaken).toBe(22);
    expect(all.stats.runsRead).toBeLessThanOrEqual(25 + 22 * 5);
  });
});

describe("the label-set list's upkeep", () => {
  const touch = (space: Space, labels: string[], at: string) =>
    useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.readySet(space.tenant, labelSetId(labels)),
        UpdateExpression: "SET touched = :at",
        ExpressionAttributeValues: { ":at": at },
      }),
    );

  it("lists a label set once for many concurrent runs of it (a scheduler tick's)", async () => {
    const space = await workspace("Queue set written once");
    forgetReadySets();
    counter.take();
    const partitions = await asTenant(space.tenant, () =>
      Promise.all(Array.from({ length: 12 }, () => ensureReadySet(space.tenant, ["cpu", "big"]))),
    );
    const counts = counter.take();
    expect(new Set(partitions).size).toBe(1);
    expect(counts.byCommand).toEqual({ UpdateItem: 1 });
    expect(counts.requests).toBe(1);
  });

  it("prunes a set untouched for the prune age with no run queued, and lists it again when a run re-enters", async () => {
    const space = await workspace("Queue prune");
    const cpu = await flow(space, "cpu-work", ["cpu"]);
    const [id] = await runs(space, cpu, 1, Date.now() - MIN);
    await setState(space, id as string, "Submitted");
    await touch(space, ["cpu"], age(READY_SET_PRUNE_AGE_MS + MIN));

    expect((await poll(space, [])).ids).toEqual([]);
    expect((await readySetItems(space)).map((i) => i.sk)).not.toContain(labelSetId(["cpu"]));

    // Long after, this process no longer remembers writing the set: a run re-entering lists it.
    forgetReadySets();
    await setState(space, id as string, "Scheduled", age(MIN));
    expect((await poll(space, ["cpu"])).ids).toEqual([id]);
  });

  it("keeps a stale set that still has a run queued (due or not), touching it", async () => {
    const space = await workspace("Queue keep");
    const gpu = await flow(space, "gpu-work", ["gpu"]);
    const [future] = await runs(space, gpu, 1, Date.now() + 60 * MIN);
    const old = age(READY_SET_PRUNE_AGE_MS + MIN);
    await touch(space, ["gpu"], old);

    expect((await poll(space, ["gpu"])).ids).toEqual([]);
    const entry = (await readySetItems(space)).find((i) => i.sk === labelSetId(["gpu"]));
    expect(entry?.touched > old).toBe(true);
    const later = await asTenant(space.tenant, () =>
      Agent.runsInQueue({ labels: ["gpu"], before: new Date(Date.now() + 2 * 60 * MIN).toISOString() }),
    );
    expect(later).toEqual([future]);
  });
});

describe("a queue written before label sets", () => {
  it("is moved to the label sets' partitions by the tenant's poll, and old runs re-enter the queue by their labels", async () => {
    const space = await workspace("Queue legacy");
    const cpu = await flow(space, "cpu-work", ["cpu"]);
    const gpu = await flow(space, "gpu-work", ["gpu"]);
    const [a] = await runs(space, cpu, 1, Date.now() - 3 * MIN, null, "a");
    const [b] = await runs(space, gpu, 1, Date.now() - 2 * MIN, null, "b");
    const [c] = await runs(space, cpu, 1, Date.now() - MIN, null, "c");
    await setState(space, c as string, "Submitted");

    // The old layout: every queued run in `<t>#ready`, `ready_pk` removed with the run leaving
    // the queue, no label-set list.
    const legacy = FlowRunKeys.legacyReadyPartition(space.tenant);
    for (const id of [a, b] as string[])
      await useDynamo().send(
        new UpdateCommand({
          TableName: mainTable(),
          Key: FlowRunKeys.run(space.tenant, id),
          UpdateExpression: "SET ready_pk = :legacy",
          ExpressionAttributeValues: { ":legacy": legacy },
        }),
      );
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(space.tenant, c as string),
        UpdateExpression: "REMOVE ready_pk",
      }),
    );
    for (const item of await readySetItems(space))
      await useDynamo().send(
        new DeleteCommand({ TableName: mainTable(), Key: { pk: item.pk, sk: item.sk } }),
      );
    forgetReadySets();

    expect((await poll(space, ["cpu"])).ids).toEqual([a]);
    expect((await runItem(space, a as string)).ready_pk).toBe(
      FlowRunKeys.ready(space.tenant, ["cpu"], "", "").ready_pk,
    );
    expect((await runItem(space, b as string)).ready_pk).toBe(
      FlowRunKeys.ready(space.tenant, ["gpu"], "", "").ready_pk,
    );
    expect((await poll(space, ["gpu"])).ids).toEqual([b]);
    // The next poll finds the old partition empty and records it.
    expect((await readySetItems(space)).map((i) => i.sk)).toContain(LEGACY_MARKER);

    await setState(space, c as string, "Scheduled", age(MIN));
    expect((await poll(space, ["cpu"])).ids).toEqual([a, c]);
  });
});
