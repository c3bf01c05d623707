import { gzipSync } from "node:zlib";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { boundedCache, stringBytes } from "../cache.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import type { EntityInput } from "../dynamo/entity.js";
import { batchPut, queryAll, queryItems } from "../dynamo/operations.js";
import { DroverError, NotFoundError, RetryableError, ValidationError } from "../errors.js";
import { deterministicId, isUuid, newId, nowIso } from "../ids.js";
import * as Project from "../project/index.js";
import * as Schedule from "../schedule/index.js";
import { formatIssues } from "../storable.js";
import { type Edge, EdgeEntity, type Flow, FlowEntity, type Task, TaskEntity } from "./entity.js";
import * as FlowGroup from "./group.js";
import { FlowKeys } from "./keys.js";
import {
  decompressFlow,
  MAX_COMPRESSED_FLOW_BYTES,
  parseSerializedFlow,
  type SerializedFlow,
  type SerializedTask,
  slugSchema,
  storableTask,
} from "./serialized.js";

export type { Edge, Flow, Task } from "./entity.js";

const DEFAULT_SETTINGS = { heartbeat_enabled: true, lazarus_enabled: true };

/** Task ids are derived from the flow and the task's slug, so re-registering tasks is idempotent. */
export function taskId(flowId: string, slug: string): string {
  return deterministicId("task", flowId, slug);
}

const registerInput = z.object({
  project_id: z.string().refine(isUuid, "project_id must be a UUID"),
  serialized_flow: z.string().min(1, "serialized_flow is required"),
  set_schedule_active: z.boolean().nullish(),
  version_group_id: z.string().min(1).max(255).nullish(),
  idempotency_key: z.string().min(1).max(512).nullish(),
  description: z.string().max(100_000).nullish(),
});

export type RegisterInput = z.input<typeof registerInput>;

/**
 * Registers a flow from Prefect's compressed form (base64 of gzip of the flow JSON): the flow,
 * its tasks and edges. Same name in the same project (or the same version_group_id) is the same
 * flow group; a new version archives the older ones; the latest version's idempotency key returns it.
 */
export async function registerCompressed(input: RegisterInput): Promise<{ id: string; created: boolean }> {
  const parsed = registerInput.safeParse(input);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  const flowJson = decompressFlow(parsed.data.serialized_flow);
  return register({
    ...parsed.data,
    flow: flowJson,
    compressed: parsed.data.serialized_flow.replace(/\s+/g, ""),
  });
}

/** Registers a flow given as a JSON object (compressing it for storage). */
export async function registerJson(
  input: Omit<RegisterInput, "serialized_flow"> & { serialized_flow: unknown },
) {
  const flow = parseSerializedFlow(input.serialized_flow);
  const compressed = gzipSync(JSON.stringify(input.serialized_flow)).toString("base64");
  if (compressed.length > (MAX_COMPRESSED_FLOW_BYTES * 4) / 3)
    throw new ValidationError("serialized_flow is too large");
  const parsed = registerInput.safeParse({ ...input, serialized_flow: compressed });
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  return register({ ...parsed.data, flow, compressed });
}

/**
 * Everything a registration can be refused for is checked before its first write (schedule,
 * project, key and item sizes); a write that still fails takes back what the registration wrote
 * (`undo`): a refused registration writes nothing, a failed one leaves no flow, flow group, task
 * or edge (only its invisible name lock, see `undo`).
 */
async function register(input: RegisterData) {
  const t = useTenantId();
  Schedule.validate(input.flow.schedule);
  const project = await Project.fromId(input.project_id);
  if (!project) throw new NotFoundError(`Project ${input.project_id} not found`);
  const name = input.flow.name;
  const now = nowIso();
  const id = newId();
  const mappedSlugs = new Set(input.flow.edges.filter((e) => e.mapped).map((e) => e.downstream_task.slug));
  const taskItems = input.flow.tasks.map((task) => taskItem(t, id, task, mappedSlugs.has(task.slug), now));
  const edgeItems = input.flow.edges.map((edge) => edgeItem(t, id, edge));
  checkStorable(name, taskItems, edgeItems);
  // The flow item's size hardly depends on its group (ids of fixed length, settings small).
  const sized = itemBytes(
    flowItem(t, input, { id, now, groupId: id, versionGroupId: input.version_group_id ?? id, version: 0 }),
  );
  if (sized > MAX_ITEM_BYTES)
    throw new DroverError(
      "PAYLOAD_TOO_LARGE",
      `The flow is ${sized} bytes stored (its compressed form, parameters, run config, storage and environment); the limit is ${MAX_ITEM_BYTES}`,
    );

  // Reads only: the idempotency key of the group's latest version answers before anything is written.
  const knownVersionGroup = input.version_group_id ?? (await existingVersionGroup(t, project.id, name));
  if (knownVersionGroup && input.idempotency_key) {
    const group = await FlowGroup.fromId(FlowGroup.groupId(t, knownVersionGroup));
    if (group?.latest_idempotency_key === input.idempotency_key && group.latest_flow_id)
      return { id: group.latest_flow_id, created: false };
  }

  const written: Written = { flowId: id, taskItems, edgeItems };
  try {
    const versionGroupId = knownVersionGroup ?? (await claimVersionGroup(t, project.id, name));
    // A group abandoned by a failed registration after this one ensured it is ensured again (same id).
    let group: FlowGroup.FlowGroup | undefined;
    let version: number | undefined;
    for (let attempt = 1; version === undefined; attempt++) {
      if (attempt > ENSURE_ATTEMPTS)
        throw new RetryableError(`Flow group of "${name}" kept vanishing; retry`);
      group = await FlowGroup.ensure({ versionGroupId, name, projectId: project.id });
      written.groupId = group.id;
      if (
        input.idempotency_key &&
        group.latest_idempotency_key === input.idempotency_key &&
        group.latest_flow_id
      ) {
        return { id: group.latest_flow_id, created: false };
      }
      version = await FlowGroup.allocateVersion(group.id);
    }
    written.version = version;
    const groupId = written.groupId ?? "";
    const item = flowItem(t, input, { id, now, groupId, versionGroupId, version }, group?.settings);
    await batchPut(taskItems);
    await batchPut(edgeItems);
    await useDynamo().send(new PutCommand({ TableName: mainTable(), Item: item }));
    // From here the version is the group's latest: what follows only tidies around it.
    await FlowGroup.recordLatest(groupId, {
      flowId: id,
      version,
      idempotencyKey: input.idempotency_key ?? null,
    });
  } catch (error) {
    // The registration's own error is the answer; if storage is down, the undo fails too and what it
    // could not delete stays behind unreferenced (no group records its version, no run can use it).
    await undo(t, written).catch(() => {});
    throw error;
  }
  const { groupId = "", version = 0 } = written;
  await archiveSuperseded(groupId, id, version);
  await Schedule.sync(groupId);
  return { id, created: true };
}

type RegisterData = z.output<typeof registerInput> & { flow: SerializedFlow; compressed: string };

/** The flow item of a registration: one version of its group, with its indexes and compressed form. */
function flowItem(
  t: string,
  input: RegisterData,
  at: { id: string; now: string; groupId: string; versionGroupId: string; version: number },
  groupSettings: Record<string, unknown> = {},
) {
  const { id, now } = at;
  const schedule = input.flow.schedule ?? null;
  const flow: Flow = {
    id,
    tenant_id: t,
    project_id: input.project_id,
    flow_group_id: at.groupId,
    version_group_id: at.versionGroupId,
    name: input.flow.name,
    version: at.version,
    archived: false,
    description: input.description ?? null,
    parameters: input.flow.parameters,
    environment: input.flow.environment ?? null,
    run_config: input.flow.run_config ?? null,
    storage: input.flow.storage ?? null,
    core_version: input.flow.__version__ ?? null,
    settings: { ...DEFAULT_SETTINGS, ...groupSettings },
    schedule,
    is_schedule_active: schedule !== null && (input.set_schedule_active ?? true),
    created: now,
    updated: now,
  };
  return { ...FlowEntity.toItem(flow), serialized_flow_gz: input.compressed };
}

/** Times a registration ensures its group when failed registrations keep abandoning it. */
const ENSURE_ATTEMPTS = 3;

/** What a registration has written so far, for `undo`. */
type Written = {
  flowId: string;
  taskItems: Array<{ pk: string; sk: string }>;
  edgeItems: Array<{ pk: string; sk: string }>;
  groupId?: string;
  version?: number;
};

/**
 * Takes back a failed registration: its flow, tasks and edges (new ids: nobody else's), and its
 * flow group if no version was ever recorded in it and no other registration has taken a version
 * number since (`FlowGroup.abandon`). A concurrent registration of the same name that ensured the
 * group just before finds it gone when it takes its version, and ensures it again (same id).
 * The name lock stays: it is never visible, and the next registration of the name uses its version
 * group. Deleting it could let a concurrent registration that read it put its version in a group
 * no lock names, splitting the flow's versions over two groups.
 */
async function undo(t: string, written: Written): Promise<void> {
  const keys = [FlowKeys.flow(t, written.flowId), ...written.taskItems, ...written.edgeItems];
  for (const { pk, sk } of keys)
    await useDynamo().send(new DeleteCommand({ TableName: mainTable(), Key: { pk, sk } }));
  if (written.groupId !== undefined) await FlowGroup.abandon(written.groupId, written.version);
}

/** DynamoDB's item limit is 400 KB (names and values); this leaves room for attribute names. */
const MAX_ITEM_BYTES = 390 * 1024;
/** DynamoDB's sort keys hold 1,024 bytes and partition keys 2,048: names and slugs are parts of both. */
const MAX_KEY_PART_BYTES = 512;

function itemBytes(item: unknown): number {
  return Buffer.byteLength(JSON.stringify(item), "utf8");
}

/** Refuses, before any write, what DynamoDB would refuse later: key parts too long, items too large. */
function checkStorable(
  name: string,
  tasks: Array<Record<string, unknown>>,
  edges: Array<Record<string, unknown>>,
): void {
  const keyPart = (what: string, value: string) => {
    if (Buffer.byteLength(value, "utf8") > MAX_KEY_PART_BYTES)
      throw new ValidationError(`${what} is longer than ${MAX_KEY_PART_BYTES} bytes`);
  };
  keyPart("The flow name", name);
  for (const task of tasks) {
    keyPart(`Task slug "${String(task.slug).slice(0, 40)}…"`, String(task.slug));
    if (itemBytes(task) > MAX_ITEM_BYTES)
      throw new DroverError(
        "PAYLOAD_TOO_LARGE",
        `Task ${String(task.slug)} is larger than ${MAX_ITEM_BYTES} bytes`,
      );
  }
  for (const edge of edges) keyPart("An edge key", String(edge.key ?? ""));
}

/** The version group a (project, name) already has, or undefined (a strong read, no write). */
async function existingVersionGroup(t: string, projectId: string, name: string): Promise<string | undefined> {
  const existing = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowKeys.nameLock(t, projectId, name),
      ConsistentRead: true,
    }),
  );
  const id = existing.Item?.version_group_id;
  return typeof id === "string" ? id : undefined;
}

/** Claims a new version group for (project, name) atomically; a concurrent claim's winner is used. */
async function claimVersionGroup(t: string, projectId: string, name: string): Promise<string> {
  const lockKey = FlowKeys.nameLock(t, projectId, name);
  const candidate = newId();
  try {
    await useDynamo().send(
      new PutCommand({
        TableName: mainTable(),
        Item: { ...lockKey, version_group_id: candidate },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
    return candidate;
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    const winner = await existingVersionGroup(t, projectId, name);
    if (!winner) throw error;
    return winner;
  }
}

async function writeTasksAndEdges(
  t: string,
  flowId: string,
  tasks: SerializedTask[],
  edges: SerializedFlow["edges"],
) {
  const now = nowIso();
  const mappedSlugs = new Set(edges.filter((e) => e.mapped).map((e) => e.downstream_task.slug));
  await batchPut(tasks.map((task) => ({ ...taskItem(t, flowId, task, mappedSlugs.has(task.slug), now) })));
  await batchPut(edges.map((edge) => edgeItem(t, flowId, edge)));
}

function edgeItem(t: string, flowId: string, edge: SerializedFlow["edges"][number]) {
  const up = taskId(flowId, edge.upstream_task.slug);
  const down = taskId(flowId, edge.downstream_task.slug);
  const edgeKey = edge.key ?? "";
  return EdgeEntity.toItem({
    id: deterministicId("edge", flowId, up, down, edgeKey),
    tenant_id: t,
    flow_id: flowId,
    upstream_task_id: up,
    downstream_task_id: down,
    key: edge.key ?? null,
    mapped: edge.mapped ?? false,
  });
}

function taskItem(t: string, flowId: string, task: SerializedTask, mapped: boolean, now: string) {
  const id = taskId(flowId, task.slug);
  const row: EntityInput<typeof TaskEntity> = {
    id,
    tenant_id: t,
    flow_id: flowId,
    name: task.name ?? task.slug,
    slug: task.slug,
    type: task.type ?? null,
    max_retries: task.max_retries ?? 0,
    retry_delay: task.retry_delay ?? null,
    trigger: task.trigger ?? null,
    tags: task.tags ?? [],
    mapped,
    auto_generated: task.auto_generated ?? false,
    cache_key: task.cache_key ?? null,
    created: now,
  };
  return TaskEntity.toItem(row);
}

/** `register_tasks`: idempotent batches (≤ 500) of serialized tasks for an existing flow. */
export async function registerTasks(flowId: string, tasks: unknown[]): Promise<void> {
  const flow = await requireFlow(flowId);
  if (tasks.length > 500) throw new ValidationError("register_tasks accepts at most 500 tasks per call");
  const parsed = z.array(z.object({ slug: slugSchema }).loose().superRefine(storableTask)).safeParse(tasks);
  if (!parsed.success)
    throw new ValidationError(
      `serialized_tasks must be a list of serialized Prefect tasks with a slug: ${formatIssues(parsed.error, "serialized_tasks")}`,
    );
  const now = nowIso();
  const items = parsed.data.map((task) =>
    taskItem(flow.tenant_id, flow.id, task as SerializedTask, false, now),
  );
  await batchPut(items);
  forgetTemplate(flow.tenant_id, flow.id);
  for (const item of items) knownTasks.delete(cacheKey(flow.tenant_id, String(item.id)));
}

/**
 * What creating a run of a flow reads of it: the flow and its tasks, neither of which a run's
 * creation depends on changing (a flow's parameters, run config and tasks are fixed when it is
 * registered; archiving or pausing its schedule does not matter to a new run). Each container
 * keeps them for TEMPLATE_CACHE_MS, bounded; deleting the flow or registering tasks forgets them
 * here, and another container sees a deletion within that time.
 */
/** The key of a tenant's flow or task in this container's caches (a test's tables are apart). */
const cacheKey = (t: string, id: string) => `${mainTable()}#${t}#${id}`;

export type RunTemplate = { flow: Flow; tasks: Task[] };
export const TEMPLATE_CACHE_MS = 10_000;
const templates = boundedCache<string, RunTemplate>({
  name: "flow.run-templates",
  maxEntries: 2_000,
  maxBytes: 32 * 2 ** 20,
  // The flow item without its serialized form (the entity does not read it), and its tasks.
  sizeOf: (template, key) => stringBytes(key) + stringBytes(JSON.stringify(template)),
  ttlMs: TEMPLATE_CACHE_MS,
});
/** Reads in flight, so the concurrent creations of a burst share them. */
const loadingTemplates = new Map<string, Promise<RunTemplate | undefined>>();

/** A flow and its tasks, from this container's cache or two reads (undefined: no such flow). */
export async function runTemplate(flowId: string): Promise<RunTemplate | undefined> {
  const key = cacheKey(useTenantId(), flowId);
  const known = templates.get(key);
  if (known) return known;
  let loading = loadingTemplates.get(key);
  if (!loading) {
    loading = (async () => {
      const flow = await fromId(flowId);
      return flow ? { flow, tasks: await tasksOf(flow.id) } : undefined;
    })();
    loadingTemplates.set(key, loading);
  }
  try {
    const template = await loading;
    if (template) templates.set(key, template);
    return template;
  } finally {
    loadingTemplates.delete(key);
  }
}

function forgetTemplate(t: string, flowId: string): void {
  templates.delete(cacheKey(t, flowId));
}

/**
 * Tasks by id, as this container read them: a task's id, slug, tags and cache key change only when
 * `register_tasks` rewrites it (which forgets it here), so a task run's creation reads it once.
 */
const knownTasks = boundedCache<string, Task>({
  name: "flow.tasks",
  maxEntries: 50_000,
  maxBytes: 32 * 2 ** 20,
  sizeOf: (task, key) => stringBytes(key) + stringBytes(JSON.stringify(task)),
});

/** One task of the current tenant, from this container's cache or one read. */
export async function task(id: string): Promise<Task | undefined> {
  const key = cacheKey(useTenantId(), id);
  const known = knownTasks.get(key);
  if (known) return known;
  const [found] = await tasksFromIds([id]);
  if (found) knownTasks.set(key, found);
  return found;
}

/** `register_edges`: idempotent batches (≤ 500) of edges between tasks of an existing flow. */
export async function registerEdges(flowId: string, edges: unknown[]): Promise<void> {
  const flow = await requireFlow(flowId);
  if (edges.length > 500) throw new ValidationError("register_edges accepts at most 500 edges per call");
  const parsed = z
    .array(
      z
        .object({
          upstream_task: z.object({ slug: slugSchema }).loose(),
          downstream_task: z.object({ slug: slugSchema }).loose(),
          key: z.string().max(1_000).nullish(),
          mapped: z.boolean().nullish(),
        })
        .loose(),
    )
    .safeParse(edges);
  if (!parsed.success)
    throw new ValidationError(
      "serialized_edges must be a list of edges with upstream_task and downstream_task slugs",
    );
  await writeTasksAndEdges(flow.tenant_id, flow.id, [], parsed.data);
}

export async function fromId(id: string): Promise<Flow | undefined> {
  if (!isUuid(id)) return undefined;
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: FlowKeys.flow(useTenantId(), id) }),
  );
  return result.Item ? toFlow(result.Item) : undefined;
}

export async function requireFlow(id: string): Promise<Flow> {
  const flow = await fromId(id);
  if (!flow) throw new NotFoundError(`Flow ${id} not found`);
  return flow;
}

export async function fromIds(ids: string[]): Promise<Flow[]> {
  const t = useTenantId();
  return FlowEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
}

/** The serialized flow as JSON (stored compressed, decompressed only when asked for). */
export async function serializedFlow(id: string): Promise<unknown> {
  const result = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowKeys.flow(useTenantId(), id),
      ProjectionExpression: "serialized_flow_gz",
    }),
  );
  const compressed = result.Item?.serialized_flow_gz;
  return typeof compressed === "string" ? decompressFlow(compressed) : null;
}

export async function tasksOf(flowId: string): Promise<Task[]> {
  const items = await queryAll({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :pk",
    ExpressionAttributeValues: { ":pk": FlowKeys.taskOfFlow(useTenantId(), flowId, "").gsi1pk },
  });
  return items.map(TaskEntity.fromItem);
}

export async function tasksFromIds(ids: string[]): Promise<Task[]> {
  const t = useTenantId();
  return TaskEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
}

export async function edgesOf(flowId: string): Promise<Edge[]> {
  const t = useTenantId();
  const items = await queryAll({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk AND begins_with(sk, :edge)",
    ExpressionAttributeValues: { ":pk": FlowKeys.flow(t, flowId).pk, ":edge": "edge#" },
  });
  return items.map(EdgeEntity.fromItem);
}

/** Flows with a given name, newest first. */
export function byName(name: string): AsyncIterable<Record<string, unknown>> {
  return mapRows(
    queryItems({
      TableName: mainTable(),
      IndexName: "gsi2",
      KeyConditionExpression: "gsi2pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowKeys.byName(useTenantId(), name, "", "").gsi2pk },
      ScanIndexForward: false,
    }),
  );
}

/** Versions of a flow group, newest first. */
export function versionsOf(flowGroupId: string): AsyncIterable<Record<string, unknown>> {
  return mapRows(
    queryItems({
      TableName: mainTable(),
      IndexName: "gsi1",
      KeyConditionExpression: "gsi1pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowKeys.versionOfGroup(useTenantId(), flowGroupId, 0).gsi1pk },
      ScanIndexForward: false,
    }),
  );
}

/** Every flow of the tenant, newest first. */
export function listAll(): AsyncIterable<Record<string, unknown>> {
  return mapRows(
    queryItems({
      TableName: mainTable(),
      IndexName: "gsi3",
      KeyConditionExpression: "gsi3pk = :pk",
      ExpressionAttributeValues: { ":pk": FlowKeys.ofTenant(useTenantId(), "", "").gsi3pk },
      ScanIndexForward: false,
    }),
  );
}

async function* mapRows(
  items: AsyncIterable<Record<string, unknown>>,
): AsyncIterable<Record<string, unknown>> {
  for await (const item of items) yield toFlow(item);
}

/**
 * Archives the group's versions older than this one, and this one if a newer version was recorded
 * meanwhile: concurrent registrations each archive only what is older than themselves, and the one
 * whose search ran before an older version was written finds that version archiving itself.
 */
async function archiveSuperseded(flowGroupId: string, id: string, version: number): Promise<void> {
  for await (const row of versionsOf(flowGroupId)) {
    if (row.id !== id && Number(row.version) < version && row.archived !== true)
      await setArchived(String(row.id), true);
  }
  if ((await FlowGroup.latestVersion(flowGroupId)) > version) await setArchived(id, true);
}

export async function setArchived(id: string, archived: boolean): Promise<Flow> {
  const t = useTenantId();
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.flow(t, id),
        UpdateExpression: "SET archived = :a, updated = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":a": archived, ":now": nowIso() },
        ReturnValues: "ALL_NEW",
      }),
    );
    return toFlow(result.Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw new NotFoundError(`Flow ${id} not found`);
    throw error;
  }
}

export async function setScheduleActive(id: string, active: boolean): Promise<Flow> {
  const t = useTenantId();
  if (!isUuid(id)) throw new NotFoundError(`Flow ${id} not found`);
  // The client activates unconditionally after registering; a flow without a schedule simply gets no runs.
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.flow(t, id),
        UpdateExpression: "SET is_schedule_active = :a, updated = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":a": active, ":now": nowIso() },
        ReturnValues: "ALL_NEW",
      }),
    );
    return toFlow(result.Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw new NotFoundError(`Flow ${id} not found`);
    throw error;
  }
}

/** Deletes a flow version with its tasks and edges (its runs stay readable by id until deleted). */
export async function remove(id: string): Promise<void> {
  const t = useTenantId();
  const flow = await requireFlow(id);
  const tasks = await tasksOf(id);
  for (const task of tasks) knownTasks.delete(cacheKey(t, task.id));
  const deletes = [
    ...tasks.map((task) => FlowKeys.task(t, task.id)),
    ...(await edgesOf(id)).map((edge) =>
      FlowKeys.edge(t, id, edge.upstream_task_id, edge.downstream_task_id, edge.key ?? ""),
    ),
    FlowKeys.flow(t, id),
  ];
  forgetTemplate(t, id);
  for (const Key of deletes) await useDynamo().send(new DeleteCommand({ TableName: mainTable(), Key }));
  await FlowGroup.forgetFlow(flow.flow_group_id, id);
}

export const toFlow = FlowEntity.fromItem;
