import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import pLimit from "p-limit";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { boundedCache, stringBytes } from "../cache.js";
import { type Counter, deleteReleasing, readCounters, slotsOf } from "../concurrency/slots.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import type { EntityInput } from "../dynamo/entity.js";
import { batchPut, queryAll, queryItems, updateExisting } from "../dynamo/operations.js";
import { NotFoundError, ValidationError } from "../errors.js";
import type { Task } from "../flow/index.js";
import * as Flow from "../flow/index.js";
import * as FlowRun from "../flow-run/index.js";
import { deterministicId, isUuid, nowIso } from "../ids.js";
import * as Batch from "../state/batch.js";
import { readHistory } from "../state/history.js";
import { applyTransition, type Transition } from "../state/transition.js";
import { isFinished, isScheduled, type ParsedState, serverState } from "../state/types.js";
import { type TaskRun, TaskRunEntity } from "./entity.js";
import { TaskRunKeys } from "./keys.js";

export type { TaskRun } from "./entity.js";

/** Derived from (flow run, task, map index): asking twice, or concurrently, names the same task run. */
export function taskRunId(flowRunId: string, taskId: string, mapIndex: number): string {
  return deterministicId("task-run", flowRunId, taskId, mapIndex);
}

function newTaskRunItem(
  t: string,
  flowRunId: string,
  task: Pick<Task, "id" | "slug" | "cache_key" | "tags">,
  mapIndex: number,
  now: string,
) {
  const id = taskRunId(flowRunId, task.id, mapIndex);
  const state = serverState("Pending", "Task run created.");
  const row: EntityInput<typeof TaskRunEntity> = {
    id,
    tenant_id: t,
    flow_run_id: flowRunId,
    task_id: task.id,
    task_slug: task.slug,
    map_index: mapIndex,
    name: null,
    version: 1,
    state: state.type,
    serialized_state: state.serialized,
    state_message: state.message,
    state_timestamp: now,
    state_start_time: null,
    end_time: null,
    heartbeat: null,
    cache_key: task.cache_key ?? null,
    created: now,
    updated: now,
    task_tags: task.tags ?? [],
  };
  return TaskRunEntity.toItem(row);
}

/** Conditional puts in flight at once when task runs are created late (`ifAbsent`). */
const IF_ABSENT_CONCURRENCY = 16;

/**
 * One Pending task run (map_index -1) per task: written before the flow run becomes visible
 * (BatchWriteItem), or, with `ifAbsent`, for a run that exists already (a scheduled run about to
 * start), one conditional put each, so a task run created meanwhile is never overwritten.
 */
export async function precreate(
  flowRunId: string,
  tasks: Task[],
  now: string,
  options: { ifAbsent?: boolean } = {},
): Promise<void> {
  const items = pendingItems(flowRunId, tasks, now);
  if (!options.ifAbsent) await batchPut(items);
  else {
    const limit = pLimit(IF_ABSENT_CONCURRENCY);
    await Promise.all(
      items.map((item) =>
        limit(() =>
          useDynamo()
            .send(
              new PutCommand({
                TableName: mainTable(),
                Item: item,
                ConditionExpression: "attribute_not_exists(pk)",
              }),
            )
            .catch((error) => {
              if (!(error instanceof ConditionalCheckFailedException)) throw error;
            }),
        ),
      ),
    );
  }
  remember(items);
}

/** The items `precreate` writes, for a caller that writes them in its own transaction (then `remember`s them). */
export function pendingItems(flowRunId: string, tasks: Task[], now: string): Record<string, unknown>[] {
  const t = useTenantId();
  return tasks.map((task) => newTaskRunItem(t, flowRunId, task, -1, now));
}

/** Notes the flow run of task runs just written (see `flowRunIdsOf`). */
export function remember(items: Record<string, unknown>[]): void {
  for (const item of items) rememberOwner(item);
}

export async function fromId(id: string): Promise<TaskRun | undefined> {
  if (!isUuid(id)) return undefined;
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: TaskRunKeys.run(useTenantId(), id), ConsistentRead: true }),
  );
  return result.Item ? toTaskRun(result.Item) : undefined;
}

export async function requireTaskRun(id: string): Promise<TaskRun> {
  const run = await fromId(id);
  if (!run) throw new NotFoundError(`Task run ${id} not found`);
  return run;
}

export async function fromIds(ids: string[]): Promise<TaskRun[]> {
  const t = useTenantId();
  const runs = await TaskRunEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
  for (const run of runs) rememberOwner(run);
  return runs;
}

const infoInput = z.object({
  flow_run_id: z.string().refine(isUuid, "flow_run_id must be a UUID"),
  task_id: z.string().refine(isUuid, "task_id must be a UUID"),
  map_index: z.number().int().min(-1).max(10_000_000).nullish(),
});

/**
 * `get_or_create_task_run_info`: map_index -1 is the pre-created run (one read); 0..n-1 are mapped
 * children, created on first ask with one conditional put, so concurrent asks create exactly one.
 * A child's creation reads only its flow run's flow (the task comes from the container's cache,
 * Flow.task) and does not look first: a put refused because the child exists returns the stored
 * child (ReturnValuesOnConditionCheckFailure), so asking again costs the same two requests.
 */
export async function getOrCreate(raw: z.input<typeof infoInput>): Promise<TaskRun> {
  const parsed = infoInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  const { flow_run_id: flowRunId, task_id: taskId } = parsed.data;
  const mapIndex = parsed.data.map_index ?? -1;
  const id = taskRunId(flowRunId, taskId, mapIndex);
  if (mapIndex === -1) {
    // Pre-created with the flow run (or, for a run created before its task runs were, created here).
    const existing = await fromId(id);
    if (existing) return existing;
  }

  const t = useTenantId();
  const [flowId, task] = await Promise.all([FlowRun.flowIdOf(flowRunId), Flow.task(taskId)]);
  if (!flowId) throw new NotFoundError(`Flow run ${flowRunId} not found`);
  if (!task || task.flow_id !== flowId)
    throw new NotFoundError(`Task ${taskId} is not a task of flow run ${flowRunId}`);
  const item = newTaskRunItem(t, flowRunId, task, mapIndex, nowIso());
  try {
    await useDynamo().send(
      new PutCommand({
        TableName: mainTable(),
        Item: item,
        ConditionExpression: "attribute_not_exists(pk)",
        ReturnValuesOnConditionCheckFailure: "ALL_OLD",
      }),
    );
    return toTaskRun(item);
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    return error.Item ? toTaskRun(unmarshall(error.Item)) : requireTaskRun(id);
  }
}

export type StateUpdate = { task_run_id: string; version?: number | null; state: unknown };

/**
 * `set_task_run_states`: version-locked writes, Running only inside a Running flow run. One entry
 * is one conditional write; several are validated together and written in one transaction, all or
 * none (core/src/state/batch.ts).
 */
export function setStates(updates: StateUpdate[]): Promise<Batch.StateResult[]> {
  return Batch.setStates(
    updates.map((u) => ({ id: u.task_run_id, version: u.version, state: u.state })),
    async (u) => ({ queued: (await transition(u.id, u.version, u.state)).queued }),
    setTogether,
  );
}

/**
 * What a transition writes to the Cached indexes: a run entering Cached gets their sort key (at
 * the transition's time), any other state removes it, so only Cached runs are found there.
 */
function cachedIndex(id: string, state: ParsedState, now: string): Pick<Transition, "set" | "remove"> {
  if (state.type !== "Cached") return { remove: ["gsi2sk", "gsi3sk"] };
  const sk = TaskRunKeys.cachedSk(now, id);
  return { set: { gsi2sk: sk, gsi3sk: sk } };
}

async function setTogether(updates: Batch.StateEntry[]): Promise<Batch.Applied[]> {
  for (const u of updates) if (!isUuid(u.id)) throw new NotFoundError(`Task run ${u.id} not found`);
  const t = useTenantId();
  const tags = new Map<string, readonly string[]>();
  const { before, after, applied } = await Batch.applyAll(
    updates.map((u) => ({
      entity: "task run",
      id: u.id,
      key: TaskRunKeys.run(t, u.id),
      version: u.version,
      state: u.state,
    })),
    {
      validate: async (items) => {
        const flowRunStates = new Map<string, Promise<string | undefined>>();
        for (const [i, item] of items.entries()) {
          const update = updates[i];
          if (update?.state.type !== "Running") continue;
          const flowRunId = String(item.flow_run_id);
          if (!flowRunStates.has(flowRunId)) flowRunStates.set(flowRunId, FlowRun.stateOf(flowRunId));
          requireRunning(update.id, await flowRunStates.get(flowRunId));
          if (!slotsOf(item)) tags.set(update.id, await tagsOf(item));
        }
      },
      complete: (entry, _item, now) => cachedIndex(entry.id, entry.state, now),
      slots: {
        namesOf: (entry) => tags.get(entry.id) ?? [],
        queued: (entry, _item, now) => cachedIndex(entry.id, { ...entry.state, type: "Queued" }, now),
      },
    },
  );
  for (const [i, item] of before.entries()) {
    const written = after[i] as Record<string, unknown>;
    const update = updates[i];
    if (written === item || !update) continue; // left as it was (already Queued)
    const run = toTaskRun(written);
    const stored = applied[i]?.queued === undefined ? update.state : run.state;
    await afterTransition(run.flow_run_id, run.id, stored, String(item.state));
  }
  return applied;
}

/** A task run enters Running only while its flow run is Running. */
function requireRunning(id: string, flowRunState: string | undefined): void {
  // A task run never outlives its flow run (deleting a run deletes its task runs first).
  if (!flowRunState) throw new NotFoundError(`Task run ${id} not found`);
  if (flowRunState !== "Running") {
    throw new ValidationError(
      `Task run ${id} cannot enter Running: its flow run is ${flowRunState}, not Running.`,
    );
  }
}

/**
 * Which flow run a task run belongs to is fixed when the task run is created, so each container
 * remembers it (bounded; keyed by tenant) from every task run it reads or creates: the Running
 * check of a transition then reads only the flow run.
 */
type Owner = { flowRunId: string; taskId: string; tags: readonly string[] | undefined };

const owners = boundedCache<string, Owner>({
  name: "task-run.owners",
  maxEntries: 50_000,
  maxBytes: 16 * 2 ** 20,
  sizeOf: (owner, key) =>
    stringBytes(key) +
    stringBytes(owner.flowRunId) +
    stringBytes(owner.taskId) +
    (owner.tags ?? []).reduce((sum, tag) => sum + stringBytes(tag) + 16, 0) +
    96,
});

function rememberOwner(item: Record<string, unknown>): void {
  if (typeof item.id !== "string" || typeof item.flow_run_id !== "string") return;
  const tags = Array.isArray(item.task_tags) ? item.task_tags.map(String) : undefined;
  owners.set(`${String(item.tenant_id)}#${item.id}`, {
    flowRunId: item.flow_run_id,
    taskId: String(item.task_id),
    tags,
  });
}

/** Task tags never change once a task is registered: each container remembers those it read. */
const taskTags = boundedCache<string, readonly string[]>({
  name: "task-run.task-tags",
  maxEntries: 20_000,
  maxBytes: 4 * 2 ** 20,
  sizeOf: (tags, key) => stringBytes(key) + tags.reduce((sum, tag) => sum + stringBytes(tag) + 16, 0) + 64,
});

/**
 * The tags that limit a task run: its task's, written on the task run when it was created; a run
 * created before Drover wrote them reads its task (once per container).
 */
async function tagsOf(item: { tenant_id?: unknown; task_id?: unknown; task_tags?: unknown }) {
  if (Array.isArray(item.task_tags)) return item.task_tags.map(String);
  const cacheKey = `${String(item.tenant_id)}#${String(item.task_id)}`;
  const known = taskTags.get(cacheKey);
  if (known) return known;
  const [task] = await Flow.tasksFromIds([String(item.task_id)]);
  const tags = task?.tags ?? [];
  taskTags.set(cacheKey, tags);
  return tags;
}

/** Who a task run belongs to and its tags, from what this container remembers or one read. */
async function ownerOf(id: string): Promise<Owner | undefined> {
  const t = useTenantId();
  let owner = owners.get(`${t}#${id}`);
  if (!owner) {
    const run = await fromId(id);
    if (!run) return undefined;
    owner = owners.get(`${t}#${id}`) ?? { flowRunId: run.flow_run_id, taskId: run.task_id, tags: undefined };
  }
  if (owner.tags) return owner;
  return { ...owner, tags: await tagsOf({ tenant_id: t, task_id: owner.taskId }) };
}

/** The flow run of each given task run of the current tenant (unknown ids are left out). */
export async function flowRunIdsOf(ids: string[]): Promise<Map<string, string>> {
  const t = useTenantId();
  const found = new Map<string, string>();
  const unknown: string[] = [];
  for (const id of new Set(ids)) {
    const owner = owners.get(`${t}#${id}`);
    if (owner) found.set(id, owner.flowRunId);
    else unknown.push(id);
  }
  if (unknown.length === 0) return found;
  for (const run of await fromIds(unknown)) found.set(run.id, run.flow_run_id);
  // BatchGetItem reads eventually consistent: a task run created a moment ago gets a strong read.
  for (const id of unknown) {
    if (found.has(id)) continue;
    const run = await fromId(id);
    if (run) found.set(id, run.flow_run_id);
  }
  return found;
}

export async function setState(id: string, version: number | null, state: ParsedState): Promise<TaskRun> {
  return (await transition(id, version, state)).run;
}

/**
 * One task run's transition. Running is checked against the flow run (Running only inside a
 * Running flow run) and, when the task has tags, their concurrency limits, read with the flow
 * run's state: with a limited tag the transition takes a slot of each in one transaction
 * (Batch.applyAll), or is refused and the run stored Queued (`queued`: the Queued state's message,
 * Prefect Cloud's QUEUED answer). Anything else is one conditional UpdateItem; a run giving back
 * slots writes its transition with them (state/transition.ts).
 */
async function transition(
  id: string,
  version: number | null,
  state: ParsedState,
): Promise<{ run: TaskRun; queued?: string | undefined }> {
  if (!isUuid(id)) throw new NotFoundError(`Task run ${id} not found`);
  const t = useTenantId();
  const now = nowIso();
  if (state.type === "Running") {
    const owner = await ownerOf(id);
    if (!owner) throw new NotFoundError(`Task run ${id} not found`);
    const tags = owner.tags ?? [];
    const [flowRunState, counters] = await Promise.all([
      FlowRun.stateOf(owner.flowRunId),
      tags.length > 0 ? readCounters("task run", t, tags) : new Map<string, Counter>(),
    ]);
    requireRunning(id, flowRunState);
    if (counters.size > 0) return limitedRunning(id, version, state, tags, counters);
  }
  const item = await applyTransition({
    entity: "task run",
    id,
    key: TaskRunKeys.run(t, id),
    version,
    state,
    now,
    ...cachedIndex(id, state, now),
  });
  const written = toTaskRun(item);
  await afterTransition(written.flow_run_id, id, state, String(item.previous_state ?? ""));
  return { run: written };
}

/** Running for a task run with limited tags: a slot of each, or Queued (see `transition`). */
async function limitedRunning(
  id: string,
  version: number | null,
  state: ParsedState,
  tags: readonly string[],
  counters: Map<string, Counter>,
): Promise<{ run: TaskRun; queued?: string | undefined }> {
  const { before, after, applied } = await Batch.applyAll(
    [{ entity: "task run", id, key: TaskRunKeys.run(useTenantId(), id), version, state }],
    {
      complete: (entry, _item, now) => cachedIndex(entry.id, entry.state, now),
      slots: {
        namesOf: () => tags,
        queued: (entry, _item, now) => cachedIndex(entry.id, { ...entry.state, type: "Queued" }, now),
        prefetched: counters,
      },
    },
  );
  const old = before[0] as Record<string, unknown>;
  const written = after[0] as Record<string, unknown>;
  const run = toTaskRun(written);
  if (written !== old) await afterTransition(run.flow_run_id, id, run.state, String(old.state));
  return { run, queued: applied[0]?.queued };
}

/** A retry waiting for an agent puts the (Running) flow run back on the agents' queue; picking it up takes it off. */
async function afterTransition(flowRunId: string, id: string, state: ParsedState | string, previous: string) {
  const type = typeof state === "string" ? state : state.type;
  const startTime = typeof state === "string" ? null : state.startTime;
  // A task run Queued by a concurrency limit waits in its own process (the Prefect client tries
  // Running again every queue interval): it never puts its flow run back on the agents' queue.
  if (isRetryWait(type) && startTime) await FlowRun.markRetryDue(flowRunId, startTime);
  else if (isRetryWait(previous)) {
    const stillWaiting = await earliestRetryDue(flowRunId, id);
    if (stillWaiting) await FlowRun.markRetryDue(flowRunId, stillWaiting);
    else await FlowRun.clearRetryDue(flowRunId);
  }
}

const isRetryWait = (type: string) => isScheduled(type) && type !== "Queued";

/** The earliest start time among a flow run's other task runs still waiting in a scheduled state. */
async function earliestRetryDue(flowRunId: string, exceptId: string): Promise<string | undefined> {
  let earliest: string | undefined;
  for await (const run of ofFlowRun(flowRunId)) {
    const start = run.state_start_time;
    if (run.id === exceptId || !isRetryWait(String(run.state)) || typeof start !== "string") continue;
    if (earliest === undefined || start < earliest) earliest = start;
  }
  return earliest;
}

/** Cancels every unfinished task run of a flow run (when the flow run is Cancelled). */
export async function cancelUnfinished(flowRunId: string): Promise<void> {
  for await (const run of ofFlowRun(flowRunId)) {
    if (isFinished(String(run.state))) continue;
    await applyTransition({
      entity: "task run",
      id: String(run.id),
      key: TaskRunKeys.run(useTenantId(), String(run.id)),
      version: null,
      state: serverState("Cancelled", "Flow run was cancelled."),
    });
  }
}

export async function heartbeat(id: string): Promise<void> {
  await update(id, "SET heartbeat = :now", {});
}

export async function setName(id: string, name: string): Promise<TaskRun> {
  const parsed = z.string().trim().min(1).max(255).safeParse(name);
  if (!parsed.success) throw new ValidationError("name must be 1 to 255 characters");
  return update(id, "SET #name = :name", { ":name": parsed.data }, { "#name": "name" });
}

async function update(
  id: string,
  expression: string,
  values: Record<string, unknown>,
  names?: Record<string, string>,
) {
  if (!isUuid(id)) throw new NotFoundError(`Task run ${id} not found`);
  const item = await updateExisting(
    TaskRunKeys.run(useTenantId(), id),
    expression,
    values,
    names,
    () => new NotFoundError(`Task run ${id} not found`),
  );
  return toTaskRun(item);
}

/** The task runs of a flow run, by task and map index. */
export async function* ofFlowRun(flowRunId: string, taskId?: string): AsyncIterable<Record<string, unknown>> {
  const t = useTenantId();
  const partition = TaskRunKeys.ofFlowRun(t, flowRunId, "", -1).gsi1pk;
  for await (const item of queryItems({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: taskId ? "gsi1pk = :pk AND begins_with(gsi1sk, :task)" : "gsi1pk = :pk",
    ExpressionAttributeValues: { ":pk": partition, ...(taskId ? { ":task": `${taskId}#` } : {}) },
  })) {
    yield toTaskRun(item);
  }
}

/**
 * The Cached task runs of a task (or, given `cacheKey`, of every task with that cache key) whose
 * state timestamp is at least `from`, newest first: the client's cached-state query, read from
 * the sparse Cached index (only Cached runs are there), so it costs the rows it returns.
 */
export async function* cached(
  by: { taskId: string } | { cacheKey: string },
  options: { from?: string | undefined; pageSize?: number | undefined } = {},
): AsyncIterable<Record<string, unknown>> {
  const t = useTenantId();
  const [index, pk, sk] =
    "taskId" in by
      ? (["gsi2", TaskRunKeys.cachedOfTask(t, by.taskId).gsi2pk, "gsi2sk"] as const)
      : (["gsi3", TaskRunKeys.cachedOfKey(t, by.cacheKey).gsi3pk, "gsi3sk"] as const);
  for await (const item of queryItems({
    TableName: mainTable(),
    IndexName: index,
    KeyConditionExpression: options.from ? `${index}pk = :pk AND ${sk} >= :from` : `${index}pk = :pk`,
    ExpressionAttributeValues: { ":pk": pk, ...(options.from ? { ":from": options.from } : {}) },
    ScanIndexForward: false,
    ...(options.pageSize ? { Limit: options.pageSize } : {}),
  })) {
    yield toTaskRun(item);
  }
}

/** `mapped_children`: the mapped children of a task run, summarized. */
export async function mappedChildren(taskRunId: string) {
  const parent = await requireTaskRun(taskRunId);
  const counts: Record<string, number> = {};
  let min: string | null = null;
  let max: string | null = null;
  for await (const child of ofFlowRun(parent.flow_run_id, parent.task_id)) {
    if (Number(child.map_index) < 0) continue;
    const state = String(child.state);
    counts[state] = (counts[state] ?? 0) + 1;
    const start = child.start_time as string | null;
    const end = child.end_time as string | null;
    if (start && (min === null || start < min)) min = start;
    if (end && (max === null || end > max)) max = end;
  }
  return { min_start_time: min, max_end_time: max, state_counts: counts };
}

/**
 * A task run's state history, oldest first: one Query of its partition (the task run and its
 * pages). Creating a task run writes no history entry (one small write per pre-created task run is
 * the floor of create_flow_run), so its Pending version 1 is derived from the item.
 */
export async function states(id: string): Promise<Record<string, unknown>[]> {
  return isUuid(id) ? readHistory("task run", id, TaskRunKeys.run(useTenantId(), id)) : [];
}

export async function removeAllOf(flowRunId: string): Promise<void> {
  const t = useTenantId();
  for await (const run of ofFlowRun(flowRunId)) {
    const history = await queryAll({
      TableName: mainTable(),
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": TaskRunKeys.run(t, String(run.id)).pk },
      ProjectionExpression: "pk, sk",
    });
    for (const item of history) {
      const key = { pk: String(item.pk), sk: String(item.sk) };
      // The task run's own item gives back the slots it holds with its deletion.
      if (item.sk === TaskRunKeys.run(t, String(run.id)).sk) await deleteReleasing("task run", key);
      else await useDynamo().send(new DeleteCommand({ TableName: mainTable(), Key: key }));
    }
  }
}

export function toTaskRun(item: Record<string, unknown>): TaskRun {
  rememberOwner(item);
  return TaskRunEntity.fromItem(item);
}
