import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import * as Artifact from "../artifact/index.js";
import * as Concurrency from "../concurrency/index.js";
import { deleteReleasing, takesSlots } from "../concurrency/slots.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import type { EntityInput } from "../dynamo/entity.js";
import { queryAll, queryItems, updateExisting } from "../dynamo/operations.js";
import { NotFoundError, ValidationError } from "../errors.js";
import * as FlowGroup from "../flow/group.js";
import * as Flow from "../flow/index.js";
import { deterministicId, isUuid, newId, nowIso } from "../ids.js";
import { RunQuotaExceededError, releaseRun, reserveRun } from "../limits/quota.js";
import * as Batch from "../state/batch.js";
import { entryBytes, inlineEntry, PAGE_PREFIX, readHistory } from "../state/history.js";
import { applyTransition, type Transition } from "../state/transition.js";
import { isFinished, isRunning, isScheduled, type ParsedState, serverState } from "../state/types.js";
import { formatIssues, storable } from "../storable.js";
import * as TaskRun from "../task-run/index.js";
import { type FlowRun, FlowRunEntity } from "./entity.js";
import { FlowRunKeys, watchFor } from "./keys.js";
import { generateRunName } from "./names.js";
import { ensureReadySet, readyEntry } from "./ready-index.js";

export type { FlowRun } from "./entity.js";

const labelsSchema = z.array(z.string().min(1).max(255)).max(100);
/** Each JSON field of a run is an attribute of its item: bounded so the item stays under 400 KB. */
export const MAX_RUN_FIELD_BYTES = 64 * 1024;
const runJson = z
  .record(z.string(), z.unknown())
  .superRefine(storable({ as: "native", maxBytes: MAX_RUN_FIELD_BYTES }));
const createInput = z.object({
  flow_id: z.string().max(255).nullish(),
  version_group_id: z.string().max(255).nullish(),
  parameters: runJson.nullish(),
  context: runJson.nullish(),
  labels: labelsSchema.nullish(),
  run_config: runJson.nullish(),
  scheduled_start_time: z.string().nullish(),
  idempotency_key: z.string().min(1).max(512).nullish(),
  flow_run_name: z.string().min(1).max(255).nullish(),
  auto_scheduled: z.boolean().nullish(),
});
export type CreateInput = z.input<typeof createInput>;

function invalid(error: z.ZodError): ValidationError {
  return new ValidationError(formatIssues(error));
}

/**
 * Which flow a create_flow_run targets, with its tasks: the given version, or the latest
 * unarchived of a version group; from the container's bounded cache (Flow.runTemplate).
 */
async function targetFlow(input: {
  flow_id?: string | null;
  version_group_id?: string | null;
}): Promise<Flow.RunTemplate> {
  if (input.flow_id) {
    const template = isUuid(input.flow_id) ? await Flow.runTemplate(input.flow_id) : undefined;
    if (!template) throw new NotFoundError(`Flow ${input.flow_id} not found`);
    return template;
  }
  if (input.version_group_id) {
    const group = await FlowGroup.fromId(FlowGroup.groupId(useTenantId(), input.version_group_id));
    const template = group?.latest_flow_id ? await Flow.runTemplate(group.latest_flow_id) : undefined;
    if (!template || template.flow.archived)
      throw new NotFoundError(`No unarchived flow with version_group_id ${input.version_group_id}`);
    return template;
  }
  throw new ValidationError("create_flow_run needs a flow_id or a version_group_id");
}

/** Required parameters must be present; unknown ones are refused (a typo would be silently ignored). */
function checkParameters(flow: Flow.Flow, parameters: Record<string, unknown>): void {
  const declared = new Map(
    (flow.parameters as Array<{ name: string; required?: boolean | null }>).map((p) => [p.name, p]),
  );
  const missing = [...declared.values()]
    .filter((p) => p.required && !(p.name in parameters))
    .map((p) => p.name);
  if (missing.length > 0)
    throw new ValidationError(`Required parameters were not supplied: ${missing.join(", ")}`);
  const extra = Object.keys(parameters).filter((name) => !declared.has(name));
  if (extra.length > 0) throw new ValidationError(`Extra parameters were supplied: ${extra.join(", ")}`);
}

function labelsFrom(value: unknown): string[] | undefined {
  const parsed = labelsSchema.safeParse((value as { labels?: unknown } | null | undefined)?.labels);
  return parsed.success ? parsed.data : undefined;
}

/** What a run is created from, once its flow is known (validated, defaults applied). */
type RunSpec = {
  parameters: Record<string, unknown>;
  context: Record<string, unknown>;
  labels: string[];
  runConfig: unknown;
  scheduledStart: string;
  name: string | null;
  idempotencyKey: string | null;
  autoScheduled: boolean;
};

/** The group's and the flow's defaults under the input's own values; refuses what the flow cannot run. */
function runSpec(
  flow: Flow.Flow,
  group: FlowGroup.FlowGroup | undefined,
  input: z.output<typeof createInput>,
): RunSpec {
  if (flow.archived)
    throw new ValidationError(`Flow ${flow.id} is archived; runs can only be created for its latest version`);
  let scheduledStart = nowIso();
  if (input.scheduled_start_time) {
    const ms = Date.parse(input.scheduled_start_time);
    if (Number.isNaN(ms))
      throw new ValidationError(`scheduled_start_time is not a timestamp: ${input.scheduled_start_time}`);
    scheduledStart = new Date(ms).toISOString();
  }
  const parameters = { ...(group?.default_parameters ?? {}), ...(input.parameters ?? {}) };
  checkParameters(flow, parameters);
  const labels =
    input.labels ??
    labelsFrom(input.run_config) ??
    group?.labels ??
    labelsFrom(flow.run_config) ??
    labelsFrom(flow.environment) ??
    [];
  return {
    parameters,
    context: input.context ?? {},
    labels: [...new Set(labels)].sort(),
    runConfig: input.run_config ?? group?.run_config ?? flow.run_config ?? null,
    scheduledStart,
    name: input.flow_run_name ?? null,
    idempotencyKey: input.idempotency_key ?? null,
    autoScheduled: input.auto_scheduled ?? false,
  };
}

/**
 * The one place a run item is built: state Scheduled (version 1, its history entry inline), with
 * its index keys (runs of a flow, of a group, of the tenant; the agents' queue; the scheduler's
 * watch). Written with one conditional put (`putRun`).
 */
function runItem(
  t: string,
  flow: Flow.Flow,
  id: string,
  spec: RunSpec,
  now: string,
  options: { taskRunsDeferred: boolean },
): Record<string, unknown> {
  const state = serverState("Scheduled", "Flow run scheduled.", spec.scheduledStart);
  const entry = inlineEntry(state, now);
  const run: EntityInput<typeof FlowRunEntity> = {
    id,
    tenant_id: t,
    flow_id: flow.id,
    flow_group_id: flow.flow_group_id,
    project_id: flow.project_id,
    name: spec.name ?? generateRunName(),
    labels: spec.labels,
    parameters: spec.parameters,
    context: spec.context,
    run_config: spec.runConfig,
    version: 1,
    state: state.type,
    serialized_state: state.serialized,
    state_message: state.message,
    state_timestamp: now,
    state_start_time: spec.scheduledStart,
    end_time: null,
    scheduled_start_time: spec.scheduledStart,
    heartbeat: null,
    idempotency_key: spec.idempotencyKey,
    auto_scheduled: spec.autoScheduled,
    agent_id: null,
    created: now,
    updated: now,
  };
  return {
    ...FlowRunEntity.toItem(run),
    ...FlowRunKeys.ready(t, spec.labels, spec.scheduledStart, id),
    ...FlowRunKeys.watch("scheduled", t, spec.scheduledStart, id),
    // The first history entry (version 1) travels in the run item (core/src/state/history.ts).
    history: [entry],
    history_bytes: entryBytes(entry),
    ...(options.taskRunsDeferred ? { task_runs_deferred: true } : {}),
  };
}

/** One conditional put: false when a run with that id exists already (an idempotency key's twin won). */
async function putRun(item: Record<string, unknown>): Promise<boolean> {
  try {
    await useDynamo().send(
      new PutCommand({ TableName: mainTable(), ConditionExpression: "attribute_not_exists(pk)", Item: item }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/**
 * Creates a run in state Scheduled (version 1) with one Pending task run per task of the flow
 * (the flow runner learns task ids only from them). A repeated idempotency key returns the first run.
 */
export async function create(raw: CreateInput): Promise<{ id: string; created: boolean }> {
  const parsed = createInput.safeParse(raw);
  if (!parsed.success) throw invalid(parsed.error);
  const input = parsed.data;
  const t = useTenantId();
  const { flow, tasks } = await targetFlow(input);
  const group = await FlowGroup.fromId(flow.flow_group_id);
  const spec = runSpec(flow, group, input);

  // With an idempotency key the run's id is derived from (flow, key): a repeat, a retry after a
  // crash half-way, or a concurrent twin all name the same run, which one transaction creates
  // (its condition on the run refuses the others: no read first).
  const id = input.idempotency_key ? idempotentRunId(t, flow.id, input.idempotency_key) : newId();

  // Quota on stored runs (core/src/limits/quota.ts): room is reserved before anything is written
  // and counted only if this call created the run (never for an idempotent twin).
  let reservation: Awaited<ReturnType<typeof reserveRun>>;
  try {
    reservation = await reserveRun(t);
  } catch (error) {
    // A workspace at its quota still gets back the run an idempotency key already created.
    if (error instanceof RunQuotaExceededError && input.idempotency_key && (await fromId(id)))
      return { id, created: false };
    throw error;
  }
  let created = false;
  try {
    const now = nowIso();
    const run = runItem(t, flow, id, spec, now, { taskRunsDeferred: false });
    await ensureReadySet(t, spec.labels); // the agents' queue lists the run's label set first
    if (input.idempotency_key) created = await putRunWithTaskRuns(run, id, tasks, now);
    else {
      // A random id names no run yet. Task runs first: once the run is visible (to agents too), its task runs exist.
      await TaskRun.precreate(id, tasks, now);
      created = await putRun(run);
    }
  } finally {
    await reservation.settle(created);
  }
  return { id, created };
}

/** Items of one TransactWriteItems (DynamoDB's limit), one of them the condition on the run. */
const TRANSACTION_ITEMS = 100;

/**
 * An idempotent run with its task runs, written only while the run does not exist: one transaction
 * of the task runs and the run's conditional put (a flow of more than 99 tasks: its first task runs
 * in transactions with a check that the run does not exist, then the rest with the run). A late
 * twin, one that built its items before the first call's put, is refused by that condition and
 * writes nothing, so task runs that have moved on are never reset. False when the run existed.
 */
async function putRunWithTaskRuns(
  run: Record<string, unknown>,
  id: string,
  tasks: Flow.Task[],
  now: string,
): Promise<boolean> {
  const table = mainTable();
  const key = FlowRunKeys.run(String(run.tenant_id), id);
  const taskRuns = TaskRun.pendingItems(id, tasks, now);
  const chunks: Record<string, unknown>[][] = [];
  for (let i = 0; i < taskRuns.length; i += TRANSACTION_ITEMS - 1)
    chunks.push(taskRuns.slice(i, i + TRANSACTION_ITEMS - 1));
  const last = chunks.pop() ?? [];
  const absent = "attribute_not_exists(pk)";
  const puts = (items: Record<string, unknown>[]) =>
    items.map((Item) => ({ Put: { TableName: table, Item } }));
  for (const chunk of chunks) {
    const written = await transact([
      { ConditionCheck: { TableName: table, Key: key, ConditionExpression: absent } },
      ...puts(chunk),
    ]);
    if (!written) return false;
  }
  const created = await transact([
    ...puts(last),
    { Put: { TableName: table, Item: run, ConditionExpression: absent } },
  ]);
  if (created) TaskRun.remember(taskRuns);
  return created;
}

/** Transactions tried when a concurrent one holds the same items (the twin's). */
const TRANSACTION_ATTEMPTS = 4;

/** One TransactWriteItems; false when a condition failed (the run exists). */
async function transact(items: NonNullable<TransactWriteCommandInput["TransactItems"]>): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await useDynamo().send(new TransactWriteCommand({ TransactItems: items }));
      return true;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const codes = (error.CancellationReasons ?? []).map((r) => r.Code);
      if (codes.includes("ConditionalCheckFailed")) return false;
      if (!codes.includes("TransactionConflict") || attempt >= TRANSACTION_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}

/** The flow (and its group) a schedule's runs are created for, read once for all of them. */
export type ScheduledTarget = { flow: Flow.Flow; group: FlowGroup.FlowGroup | undefined };

export type ScheduledInput = {
  parameters: Record<string, unknown>;
  labels: string[] | null;
  scheduled_start_time: string;
  idempotency_key: string;
};

/**
 * The scheduler's run (its tick and backfill): one conditional put and nothing else. The flow and
 * group are the caller's (read once per schedule); the id is derived from the idempotency key, so
 * the put alone decides whether the run is new (no read first); and the task runs are not
 * pre-created: the run carries `task_runs_deferred` and gets them when it first leaves the
 * Scheduled family towards running (`setState`), so the upcoming runs a schedule keeps, which
 * may never start, cost one item each.
 */
export async function createScheduled(
  target: ScheduledTarget,
  raw: ScheduledInput,
): Promise<{ id: string; created: boolean }> {
  const parsed = createInput.safeParse({ ...raw, flow_id: target.flow.id, auto_scheduled: true });
  if (!parsed.success) throw invalid(parsed.error);
  const t = useTenantId();
  const spec = runSpec(target.flow, target.group, parsed.data);
  const id = idempotentRunId(t, target.flow.id, raw.idempotency_key);
  // Quota on stored runs: over it, a run that exists is still answered (a repeated tick, a backfill
  // of runs the scheduler made); a new one is refused (the tick skips it, tick.ts).
  const reservation = await reserveRun(t).catch(async (error) => {
    if (error instanceof RunQuotaExceededError && (await fromId(id))) return undefined;
    throw error;
  });
  if (!reservation) return { id, created: false };
  let created = false;
  try {
    await ensureReadySet(t, spec.labels); // the agents' queue lists the run's label set first
    created = await putRun(runItem(t, target.flow, id, spec, nowIso(), { taskRunsDeferred: true }));
  } finally {
    await reservation.settle(created);
  }
  return { id, created };
}

/** The id of the run a flow's idempotency key stands for (keys never expire). */
export function idempotentRunId(tenantId: string, flowId: string, idempotencyKey: string): string {
  return deterministicId("flow-run", tenantId, flowId, idempotencyKey);
}

export async function fromId(id: string): Promise<FlowRun | undefined> {
  if (!isUuid(id)) return undefined;
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: FlowRunKeys.run(useTenantId(), id), ConsistentRead: true }),
  );
  return result.Item ? toRun(result.Item) : undefined;
}

/** One attribute of a run (a strong read of it alone), or undefined when there is no such run. */
async function attributeOf(id: string, attribute: "flow_id" | "state"): Promise<string | undefined> {
  if (!isUuid(id)) return undefined;
  const result = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowRunKeys.run(useTenantId(), id),
      ConsistentRead: true,
      ProjectionExpression: "#a",
      ExpressionAttributeNames: { "#a": attribute },
    }),
  );
  return result.Item ? String(result.Item[attribute]) : undefined;
}

/** A run's flow (fixed at creation), or undefined when there is no such run. */
export const flowIdOf = (id: string) => attributeOf(id, "flow_id");

/** A run's current state, or undefined when there is no such run. */
export const stateOf = (id: string) => attributeOf(id, "state");

export async function requireRun(id: string): Promise<FlowRun> {
  const run = await fromId(id);
  if (!run) throw new NotFoundError(`Flow run ${id} not found`);
  return run;
}

export async function fromIds(ids: string[]): Promise<FlowRun[]> {
  const t = useTenantId();
  return FlowRunEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
}

export type StateUpdate = { flow_run_id: string; version?: number | null; state: unknown };
export type StateResult = Batch.StateResult;

/**
 * `set_flow_run_states`: one entry is one conditional write (version lock); several are validated
 * together and written in one transaction, all or none (core/src/state/batch.ts).
 */
export function setStates(updates: StateUpdate[]): Promise<StateResult[]> {
  return Batch.setStates(
    updates.map((u) => ({ id: u.flow_run_id, version: u.version, state: u.state })),
    async (u) => ({ queued: (await transition(u.id, u.version, u.state)).queued }),
    setTogether,
  );
}

/** Labels are the names of a flow run's concurrency limits (unlimited without a limit). */
const labelSlots: Batch.SlotOptions = {
  namesOf: (_entry, item) => (Array.isArray(item.labels) ? item.labels.map(String) : []),
  // A refused run waits in its runner's process (which tries Running again): off the agents'
  // queue, and not watched for lateness or lost submissions.
  queued: () => ({ ready: "remove", watch: "remove" }),
};

async function setTogether(updates: Batch.StateEntry[]): Promise<Batch.Applied[]> {
  for (const u of updates) if (!isUuid(u.id)) throw new NotFoundError(`Flow run ${u.id} not found`);
  const t = useTenantId();
  const at = nowIso();
  // Runs entering the queue need their label set listed first (rare: a Scheduled-family target).
  const ready = new Map<string, Awaited<ReturnType<typeof readyEntry>>>();
  for (const u of updates)
    if (isScheduled(u.state.type)) ready.set(u.id, await readyEntry(t, u.id, u.state.startTime ?? at));
  const limited =
    updates.some((u) => takesSlots("flow run", u.state.type)) && (await Concurrency.hasFlowLimits());
  const { before, after, applied, now } = await Batch.applyAll(
    updates.map((u) => ({
      entity: "flow run",
      id: u.id,
      key: FlowRunKeys.run(t, u.id),
      version: u.version,
      state: u.state,
    })),
    {
      complete: ({ id, state }, _item, now) => ({
        ready: ready.get(id) ?? "remove",
        watch: watchFor(t, id, state.type, state.startTime, now),
        ...startedEntry(t, id, state, now),
      }),
      ...(limited ? { slots: labelSlots } : {}),
    },
  );
  for (const [i, item] of before.entries()) {
    const update = updates[i];
    const written = after[i] as Record<string, unknown>;
    if (!update || written === item) continue;
    if (applied[i]?.queued === undefined) await afterTransition(toRun(written), update.state, now);
  }
  return applied;
}

/** What the scheduler's health checks add to a transition (core/src/schedule/health.ts). */
export type SetStateOptions = Pick<Transition, "set" | "condition" | "now">;

export async function setState(
  id: string,
  version: number | null,
  state: ParsedState,
  options: SetStateOptions = {},
): Promise<FlowRun> {
  return (await transition(id, version, state, options)).run;
}

/**
 * One flow run's transition: one conditional UpdateItem, or, for Submitted and Running while
 * the workspace has flow label limits, a slot of each limited label of the run in one
 * transaction (Batch.applyAll), or the run stored Queued when one has no room (`queued`: its
 * message, Prefect Cloud's QUEUED answer). A run giving back slots writes its transition with
 * them (state/transition.ts).
 */
async function transition(
  id: string,
  version: number | null,
  state: ParsedState,
  options: SetStateOptions = {},
): Promise<{ run: FlowRun; queued?: string | undefined }> {
  if (!isUuid(id)) throw new NotFoundError(`Flow run ${id} not found`);
  const t = useTenantId();
  const now = options.now ?? nowIso();
  const watch = watchFor(t, id, state.type, state.startTime, now);
  if (takesSlots("flow run", state.type) && !options.condition && (await Concurrency.hasFlowLimits())) {
    const { before, after, applied } = await Batch.applyAll(
      [{ entity: "flow run", id, key: FlowRunKeys.run(t, id), version, state }],
      {
        complete: () => ({
          ready: "remove",
          watch,
          ...startedEntry(t, id, state, now),
          ...(options.set ? { set: options.set } : {}),
        }),
        slots: labelSlots,
      },
    );
    const run = toRun(after[0] as Record<string, unknown>);
    const queued = applied[0]?.queued;
    if (queued === undefined && after[0] !== before[0]) await afterTransition(run, state, now);
    return { run, queued };
  }
  const written = toRun(
    await applyTransition({
      entity: "flow run",
      id,
      key: FlowRunKeys.run(t, id),
      version,
      state,
      ready: isScheduled(state.type) ? await readyEntry(t, id, state.startTime ?? now) : "remove",
      watch,
      ...startedEntry(t, id, state, now),
      ...options,
      now,
    }),
  );
  await afterTransition(written, state, now);
  return { run: written };
}

/** A run's first Running puts it in the started order, keyed by the start time the same write keeps. */
function startedEntry(
  t: string,
  id: string,
  state: ParsedState,
  now: string,
): Pick<Transition, "setIfAbsent"> {
  return isRunning(state.type) ? { setIfAbsent: FlowRunKeys.started(t, now, id) } : {};
}

/** What follows a run's transition: a cancel reaches its task runs; a run heading for running gets them. */
async function afterTransition(run: FlowRun, state: ParsedState, now: string): Promise<void> {
  if (state.type === "Cancelled") await TaskRun.cancelUnfinished(run.id);
  if (run.task_runs_deferred === true && needsTaskRuns(state.type)) {
    await createDeferredTaskRuns(run, now);
    delete run.task_runs_deferred;
  }
}

/** A run on its way to running (Submitted, Pending, Running...) needs its task runs; a finished one never will. */
function needsTaskRuns(type: string): boolean {
  return !isScheduled(type) && !isFinished(type);
}

/**
 * The task runs of a scheduler-created run (`createScheduled`), created when it first heads for
 * running and before that transition answers, so the flow runner's read of the run finds them as
 * it finds a `create_flow_run` run's. Each is a conditional put of the id `precreate` derives, so
 * a concurrent transition doing the same, or a retry after a crash before the flag was cleared,
 * never overwrites a task run that has moved on. The flag goes last: while it is set, every
 * transition towards running makes sure the task runs exist.
 */
async function createDeferredTaskRuns(run: FlowRun, now: string): Promise<void> {
  await TaskRun.precreate(run.id, await Flow.tasksOf(run.flow_id), now, { ifAbsent: true });
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(run.tenant_id, run.id),
        UpdateExpression: "REMOVE task_runs_deferred",
        ConditionExpression: "attribute_exists(task_runs_deferred)",
      }),
    )
    .catch((error) => {
      // Cleared by a concurrent transition (or the run was deleted meanwhile).
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

/** `cancel_flow_run`: a Running run goes to Cancelling (its runner stops it), an unfinished one to Cancelled. */
export async function cancel(id: string): Promise<FlowRun> {
  const run = await requireRun(id);
  if (isFinished(run.state)) return run;
  if (isRunning(run.state)) {
    if (run.state === "Cancelling") return run;
    return setState(id, null, serverState("Cancelling", "Flow run is cancelling."));
  }
  return setState(id, null, serverState("Cancelled", "Flow run was cancelled."));
}

async function update(
  id: string,
  expression: string,
  values: Record<string, unknown>,
  names?: Record<string, string>,
) {
  const item = await updateExisting(
    FlowRunKeys.run(useTenantId(), id),
    expression,
    values,
    names,
    () => new NotFoundError(`Flow run ${id} not found`),
  );
  return toRun(item);
}

export async function setName(id: string, name: string): Promise<FlowRun> {
  if (!isUuid(id)) throw new NotFoundError(`Flow run ${id} not found`);
  const parsed = z.string().trim().min(1).max(255).safeParse(name);
  if (!parsed.success) throw new ValidationError("name must be 1 to 255 characters");
  // The name index's sort key holds the run's creation time, read first (a rename is rare).
  const run = await requireRun(id);
  const named = FlowRunKeys.byName(useTenantId(), parsed.data, run.created, id);
  return update(
    id,
    "SET #name = :name, gsi4pk = :npk, gsi4sk = :nsk",
    { ":name": parsed.data, ":npk": named.gsi4pk, ":nsk": named.gsi4sk },
    { "#name": "name" },
  );
}

export async function setLabels(id: string, labels: unknown): Promise<FlowRun> {
  if (!isUuid(id)) throw new NotFoundError(`Flow run ${id} not found`);
  const parsed = labelsSchema.safeParse(labels);
  if (!parsed.success) throw new ValidationError("labels must be a list of at most 100 non-empty strings");
  const sorted = [...new Set(parsed.data)].sort();
  // The run's queue partition follows its labels: listed first (as for a new run) unless the run
  // is finished (a finished run re-entering the queue lists its set then, flow-run/ready-index.ts).
  const run = await requireRun(id);
  const t = useTenantId();
  const readyPk = isFinished(run.state)
    ? FlowRunKeys.ready(t, sorted, "", id).ready_pk
    : await ensureReadySet(t, sorted);
  return update(id, "SET labels = :labels, ready_pk = :rpk", { ":labels": sorted, ":rpk": readyPk });
}

/**
 * One small UpdateItem answering nothing back, which moves no index entry: the run's watch entry
 * stays where it is (the scheduler's health check moves it up to the last heartbeat when it finds
 * it old, core/src/schedule/health.ts), or is created if the run has none.
 */
export async function heartbeat(id: string): Promise<void> {
  if (!isUuid(id)) throw new NotFoundError(`Flow run ${id} not found`);
  const now = nowIso();
  const watch = FlowRunKeys.watch("heartbeat", useTenantId(), now, id);
  try {
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(useTenantId(), id),
        // A run without a watch entry (its heartbeat checks were off, or it finished) gets one;
        // an existing entry keeps its keys, so no index entry moves.
        UpdateExpression:
          "SET heartbeat = :hb, watch_pk = if_not_exists(watch_pk, :wpk), watch_sk = if_not_exists(watch_sk, :wsk)",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":hb": now, ":wpk": watch.watch_pk, ":wsk": watch.watch_sk },
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw new NotFoundError(`Flow run ${id} not found`);
    throw error;
  }
}

/** Marks which agent submitted the run (from the X-PREFECT-AGENT-ID header). */
export async function recordAgent(id: string, agentId: string): Promise<void> {
  await update(id, "SET agent_id = :agent", { ":agent": agentId }).catch(() => {});
}

/** Deletes a run with its history, task runs and their artifacts. */
export async function remove(id: string): Promise<void> {
  await requireRun(id);
  const t = useTenantId();
  await TaskRun.removeAllOf(id);
  await Artifact.removeAllOfFlowRun(id);
  const history = await queryAll({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk AND begins_with(sk, :state)",
    ExpressionAttributeValues: { ":pk": FlowRunKeys.run(t, id).pk, ":state": PAGE_PREFIX },
    ProjectionExpression: "pk, sk",
  });
  for (const item of history) {
    await useDynamo().send(new DeleteCommand({ TableName: mainTable(), Key: { pk: item.pk, sk: item.sk } }));
  }
  // Quota on stored runs: counted off once, by the call that really deleted the run item. The
  // condition makes that one call (DynamoDB Local answered ALL_OLD to two racing plain deletes);
  // a run holding concurrency slots gives them back in the same transaction as its deletion.
  const deleted = await deleteReleasing("flow run", FlowRunKeys.run(t, id), { mustExist: true });
  if (deleted) await releaseRun(t);
}

/** A run's state history, oldest first: one Query of the run's partition (the run and any spilled entries). */
export async function states(id: string): Promise<Record<string, unknown>[]> {
  return isUuid(id) ? readHistory("flow run", id, FlowRunKeys.run(useTenantId(), id)) : [];
}

async function* rows(items: AsyncIterable<Record<string, unknown>>): AsyncIterable<Record<string, unknown>> {
  for await (const item of items) yield toRun(item);
}

/** Runs of a flow, newest first. */
export function ofFlow(flowId: string, pageSize?: number): AsyncIterable<Record<string, unknown>> {
  return rows(
    queryItems({
      TableName: mainTable(),
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowRunKeys.ofFlow(useTenantId(), flowId, "", "").gsi1pk },
      ScanIndexForward: false,
      ...(pageSize ? { Limit: pageSize } : {}),
    }),
  );
}

/** Runs of a flow group, by scheduled start time (newest first). */
export function ofGroup(groupId: string, pageSize?: number): AsyncIterable<Record<string, unknown>> {
  return rows(
    queryItems({
      TableName: mainTable(),
      IndexName: "gsi2",
      KeyConditionExpression: "gsi2pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowRunKeys.ofGroup(useTenantId(), groupId, "", "").gsi2pk },
      ScanIndexForward: false,
      ...(pageSize ? { Limit: pageSize } : {}),
    }),
  );
}

/** Every run of the tenant, newest first. */
export function listAll(pageSize?: number): AsyncIterable<Record<string, unknown>> {
  return rows(
    queryItems({
      TableName: mainTable(),
      IndexName: "gsi3",
      KeyConditionExpression: "gsi3pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowRunKeys.ofTenant(useTenantId(), "", "").gsi3pk },
      ScanIndexForward: false,
      ...(pageSize ? { Limit: pageSize } : {}),
    }),
  );
}

/**
 * Runs with a name, newest first: the keys-only name index gives their ids a page at a time, and
 * each page's runs are read by key (one BatchGetItem), in the index's order.
 */
export async function* byName(name: string, pageSize?: number): AsyncIterable<Record<string, unknown>> {
  const t = useTenantId();
  let page: string[] = [];
  const flush = async function* () {
    const found = new Map((await fromIds(page)).map((run) => [run.id, run]));
    for (const id of page) {
      const run = found.get(id);
      if (run) yield run as unknown as Record<string, unknown>;
    }
    page = [];
  };
  const keys = queryItems({
    TableName: mainTable(),
    IndexName: "gsi4",
    KeyConditionExpression: "gsi4pk = :pk",
    ExpressionAttributeValues: { ":pk": FlowRunKeys.byName(t, name, "", "").gsi4pk },
    ScanIndexForward: false,
    ...(pageSize ? { Limit: pageSize } : {}),
  });
  for await (const item of keys) {
    page.push(String(item.gsi4sk).split("#").at(-1) ?? "");
    if (page.length >= (pageSize ?? 100)) yield* flush();
  }
  if (page.length > 0) yield* flush();
}

/** Started runs of the tenant, most recently started first (the sparse started entries of `due`). */
export function started(pageSize?: number): AsyncIterable<Record<string, unknown>> {
  return rows(
    queryItems({
      TableName: mainTable(),
      IndexName: "due",
      KeyConditionExpression: "due_pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowRunKeys.started(useTenantId(), "", "").due_pk },
      ScanIndexForward: false,
      ...(pageSize ? { Limit: pageSize } : {}),
    }),
  );
}

/** Puts a Running run back on the agents' queue because one of its task runs waits for a retry. */
export async function markRetryDue(id: string, startTime: string): Promise<void> {
  const ready = await readyEntry(useTenantId(), id, startTime);
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(useTenantId(), id),
        UpdateExpression: ready.ready_pk ? "SET ready_pk = :rpk, ready_sk = :rsk" : "SET ready_sk = :rsk",
        ConditionExpression: "attribute_exists(pk) AND #state = :running",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: {
          ...(ready.ready_pk ? { ":rpk": ready.ready_pk } : {}),
          ":rsk": ready.ready_sk,
          ":running": "Running",
        },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

/** Takes a Running run off the agents' queue once its waiting task runs were picked up. */
export async function clearRetryDue(id: string): Promise<void> {
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowRunKeys.run(useTenantId(), id),
        UpdateExpression: "REMOVE ready_sk",
        ConditionExpression: "attribute_exists(ready_sk) AND #state = :running",
        ExpressionAttributeNames: { "#state": "state" },
        ExpressionAttributeValues: { ":running": "Running" },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

export const toRun = FlowRunEntity.fromItem;

/** Auto-scheduled runs looked at when a schedule is turned off (the scheduler keeps ~10 upcoming). */
const MAX_UNSTARTED_SCAN = 2000;

/** Deletes a flow's auto-scheduled runs that have not started (schedule turned off, flow archived). */
export async function removeUnstartedAutoScheduled(flowId: string): Promise<number> {
  let removed = 0;
  let read = 0;
  const doomed: string[] = [];
  for await (const run of ofFlow(flowId)) {
    if (++read > MAX_UNSTARTED_SCAN) break;
    if (run.auto_scheduled === true && isScheduled(String(run.state))) doomed.push(String(run.id));
  }
  for (const id of doomed) {
    await remove(id);
    removed++;
  }
  return removed;
}
