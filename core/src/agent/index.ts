import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { flowCountersOf } from "../concurrency/index.js";
import { holdsSlots } from "../concurrency/slots.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { queryItems } from "../dynamo/operations.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { agentTakes } from "../flow-run/keys.js";
import * as ReadyIndex from "../flow-run/ready-index.js";
import { deterministicId, isUuid, nowIso } from "../ids.js";
import { QueueGate } from "../schedule/overlap.js";
import { formatIssues } from "../storable.js";
import { type Agent, AgentEntity } from "./entity.js";
import { AgentKeys } from "./keys.js";

export type { Agent } from "./entity.js";

const registerInput = z.object({
  type: z.string().max(255).nullish(),
  name: z.string().max(255).nullish(),
  labels: z.array(z.string().min(1).max(255)).max(100).nullish(),
  agent_config_id: z.string().max(255).nullish(),
  core_version: z.string().max(64).nullish(),
});

/**
 * `register_agent`: the same agent (type, name, labels, config) re-registering after a restart
 * gets the same id, so restarts do not pile up agents.
 */
export async function register(raw: z.input<typeof registerInput>): Promise<Agent> {
  const parsed = registerInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error));
  const t = useTenantId();
  const labels = [...new Set(parsed.data.labels ?? [])].sort();
  const id = deterministicId(
    "agent",
    t,
    parsed.data.type ?? "",
    parsed.data.name ?? "",
    labels.join("\u0001"),
    parsed.data.agent_config_id ?? "",
  );
  const now = nowIso();
  const keys = AgentKeys.ofTenant(t, now, id);
  const watch = AgentKeys.watch(t, id, now);
  const result = await useDynamo().send(
    new UpdateCommand({
      TableName: mainTable(),
      Key: AgentKeys.agent(t, id),
      UpdateExpression: `SET entity = :entity, id = :id, tenant_id = :t, #name = :name, #type = :type, labels = :labels,
        core_version = :cv, agent_config_id = :cfg, created = if_not_exists(created, :now), updated = :now,
        last_queried = if_not_exists(last_queried, :null), gsi3pk = :g3pk, gsi3sk = if_not_exists(gsi3sk, :g3sk),
        watch_pk = if_not_exists(watch_pk, :wpk), watch_sk = if_not_exists(watch_sk, :wsk) REMOVE silent_since`,
      ExpressionAttributeNames: { "#name": "name", "#type": "type" },
      ExpressionAttributeValues: {
        ":entity": "agent",
        ":id": id,
        ":t": t,
        ":name": parsed.data.name ?? null,
        ":type": parsed.data.type ?? null,
        ":labels": labels,
        ":cv": parsed.data.core_version ?? null,
        ":cfg": parsed.data.agent_config_id ?? null,
        ":now": now,
        ":null": null,
        ":g3pk": keys.gsi3pk,
        ":g3sk": keys.gsi3sk,
        ":wpk": watch.watch_pk,
        ":wsk": watch.watch_sk,
      },
      ReturnValues: "ALL_NEW",
    }),
  );
  return AgentEntity.fromItem(result.Attributes ?? {});
}

export async function remove(id: string): Promise<void> {
  if (!isUuid(id)) throw new NotFoundError(`Agent ${id} not found`);
  try {
    await useDynamo().send(
      new DeleteCommand({
        TableName: mainTable(),
        Key: AgentKeys.agent(useTenantId(), id),
        ConditionExpression: "attribute_exists(pk)",
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw new NotFoundError(`Agent ${id} not found`);
    throw error;
  }
}

/**
 * An agent's liveness is the time of its last poll (Prefect 1 agents send no other heartbeat).
 * The poll also ends a silence (`silent_since`) and puts the agent back in the scheduler's
 * silence watch when it was out of it; otherwise its watch entry stays where it is.
 */
async function touch(id: string): Promise<void> {
  const t = useTenantId();
  const now = nowIso();
  const watch = AgentKeys.watch(t, id, now);
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: AgentKeys.agent(t, id),
        UpdateExpression:
          "SET last_queried = :now, watch_pk = if_not_exists(watch_pk, :wpk), watch_sk = if_not_exists(watch_sk, :wsk) REMOVE silent_since",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":now": now, ":wpk": watch.watch_pk, ":wsk": watch.watch_sk },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

export const MAX_RUNS_PER_POLL = 25;
/**
 * Queued runs the agent could take looked at per poll at most, whether returned or held back by
 * their flow group's overlap policy: a poll's cost stays bounded whatever waits behind them.
 */
export const MAX_READY_READ = 500;
/** The smallest page read from a label set's queue partition. */
const MIN_PAGE = 5;

const queueInput = z.object({
  before: z.string().nullish(),
  labels: z.array(z.string()).nullish(),
  agent_id: z.string().nullish(),
});

/** What a poll read, for tests and benchmarks: its cost in label sets, requests and items. */
export type PollStats = { labelSets: number; labelSetsTaken: number; runsRead: number; candidates: number };

/**
 * `get_runs_in_queue`: runs due before `before` (Scheduled ones, and Running ones with a retry
 * due) whose labels are a subset of the agent's; an agent with labels skips unlabelled runs (the
 * rule of Prefect Server; a run's labels are settled when it is created: its own, else its flow
 * group's, else its flow's run_config's or environment's).
 *
 * The queue is partitioned by label set (flow-run/ready-index.ts): the poll lists the tenant's
 * label sets (one Query), keeps the ones the agent takes, and reads those sets' partitions oldest
 * first, merged by start time, a page at a time. Its cost is the runs it looks at plus a request
 * and at most one page per label set it takes, however many runs it cannot take are waiting.
 * Candidates then pass their flow group's overlap policy (schedule/overlap.ts), a batch at a
 * time: one consistent BatchGetItem of their groups per batch, and for groups whose policy is
 * `skip`, the claim's reads and writes. A run held back or skipped there is not returned.
 */
export async function runsInQueue(
  raw: z.input<typeof queueInput>,
  agentId?: string | null,
  /** The poll's clock for the overlap policy (tests pass their own). */
  now: Date = new Date(),
  stats?: PollStats,
): Promise<string[]> {
  const parsed = queueInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  let before = now.toISOString();
  if (parsed.data.before) {
    const ms = Date.parse(parsed.data.before);
    if (Number.isNaN(ms)) throw new ValidationError(`before is not a timestamp: ${parsed.data.before}`);
    before = new Date(ms).toISOString();
  }
  const agentLabels = new Set(parsed.data.labels ?? []);
  const id = agentId ?? parsed.data.agent_id;
  if (id && isUuid(id)) await touch(id);

  let { sets, legacyMovedAt, limits } = await ReadyIndex.readySets();
  if (
    ReadyIndex.legacyMayHoldRuns(legacyMovedAt, new Date()) &&
    (await ReadyIndex.migrateLegacy(legacyMovedAt)) > 0
  )
    ({ sets, limits } = await ReadyIndex.readySets());
  // Flow label concurrency limits: a run is handed out only with a free slot of each limited
  // label (counting the runs this poll hands out); a label set with a full label is not read.
  const room = new Map([...flowCountersOf(limits).values()].map((c) => [c.name, c.limit - c.used]));
  const full = (labels: readonly string[]) => labels.some((label) => (room.get(label) ?? 1) < 1);
  const taken = sets.filter((set) => agentTakes(agentLabels, set.labels) && !full(set.labels));
  const streams = taken.map((set) => new ReadyIndex.ReadyStream(set, before));
  const firstPage = Math.max(MIN_PAGE, Math.ceil(MAX_RUNS_PER_POLL / Math.max(streams.length, 1)));
  await Promise.all(streams.map((stream) => stream.fill(firstPage)));

  const gate = new QueueGate(now);
  const ids: string[] = [];
  let batch: Array<Record<string, unknown>> = [];
  // Every run the gate admits is returned (admitting may claim it for its group): a batch never
  // holds more candidates than there is room left for.
  const flush = async () => {
    for (const run of await gate.admit(batch)) ids.push(String(run.id));
    batch = [];
  };
  let candidates = 0;
  while (candidates < MAX_READY_READ) {
    // A drained page is followed by the next only when another run is wanted.
    const wanted = Math.max(MIN_PAGE, MAX_RUNS_PER_POLL - ids.length - batch.length);
    await Promise.all(streams.filter((s) => !s.head() && s.open).map((s) => s.fill(wanted)));
    // The oldest head of the label sets' partitions: one merged queue by start time.
    let next: ReadyIndex.ReadyStream | undefined;
    for (const stream of streams) {
      if (room.size > 0 && full(stream.set.labels)) continue;
      const head = stream.head();
      if (head && (!next || String(head.ready_sk) < String(next.head()?.ready_sk))) next = stream;
    }
    if (!next) break;
    const run = next.shift() as Record<string, unknown>;
    candidates++;
    // The partition is the label set's; the run's own labels are checked too (a relabel in flight).
    const labels = (run.labels as string[] | undefined) ?? [];
    if (!agentTakes(agentLabels, labels)) continue;
    // A Running run back on the queue for a task run's retry already holds its slots.
    if (room.size > 0 && !holdsSlots("flow run", String(run.state))) {
      if (full(labels)) continue;
      for (const label of labels) if (room.has(label)) room.set(label, (room.get(label) ?? 0) - 1);
    }
    batch.push(run);
    if (ids.length + batch.length >= MAX_RUNS_PER_POLL) {
      await flush();
      if (ids.length >= MAX_RUNS_PER_POLL) break;
    }
  }
  await flush();
  await ReadyIndex.pruneStaleSet(sets, new Date()); // wall clock: the prune's safety rests on it
  if (stats) {
    stats.labelSets = sets.length;
    stats.labelSetsTaken = taken.length;
    stats.runsRead = streams.reduce((sum, stream) => sum + stream.read, 0);
    stats.candidates = candidates;
  }
  return ids;
}

export async function fromIds(ids: string[]): Promise<Agent[]> {
  const t = useTenantId();
  return AgentEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
}

export async function* listAll(): AsyncIterable<Record<string, unknown>> {
  for await (const item of queryItems({
    TableName: mainTable(),
    IndexName: "gsi3",
    KeyConditionExpression: "gsi3pk = :pk",
    ExpressionAttributeValues: { ":pk": AgentKeys.ofTenant(useTenantId(), "", "").gsi3pk },
    ScanIndexForward: false,
  })) {
    yield AgentEntity.fromItem(item);
  }
}
