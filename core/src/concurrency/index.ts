import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { queryAll } from "../dynamo/operations.js";
import { LimitExceededError, NotFoundError, ValidationError } from "../errors.js";
import { isUuid, newId, nowIso } from "../ids.js";
import { formatIssues } from "../storable.js";
import { FlowLabelLimitEntity, TaskTagLimitEntity } from "./entity.js";
import { ConcurrencyKeys, FLOW_LABEL_PREFIX } from "./keys.js";
import { type Counter, readCounters, toCounter } from "./slots.js";

export type { FlowLabelLimit, TaskTagLimit } from "./entity.js";

/**
 * Concurrency limits (docs/concurrency-limits.md): task tag limits (a task run enters Running
 * only with a free slot of each limited tag of its task) and flow run limits by label (a flow run
 * is Submitted or Running only with a free slot of each limited label). This module keeps the
 * limits; the slots are taken and given back by the transitions (./slots.ts).
 */
export type Kind = "task" | "flow";

/** Limits of one kind a workspace may keep (each poll of the agents' queue reads the flow ones). */
export const MAX_LIMITS = 500;

const KINDS = {
  task: {
    what: "task tag",
    field: "tag",
    run: "task run",
    itemName: "task-tag-limit",
    key: ConcurrencyKeys.taskTag,
    partition: ConcurrencyKeys.taskTagPartition,
    prefix: "",
  },
  flow: {
    what: "flow label",
    field: "label",
    run: "flow run",
    itemName: "flow-label-limit",
    key: ConcurrencyKeys.flowLabel,
    partition: ConcurrencyKeys.flowLabelPartition,
    prefix: FLOW_LABEL_PREFIX,
  },
} as const;

const limitInput = (field: string) =>
  z.object({
    name: z
      .string({ error: `${field} must be a string` })
      .min(1, `${field} must not be empty`)
      .max(255, `${field} is at most 255 characters`)
      .refine((v) => v.trim().length > 0, `${field} must not be blank`),
    limit: z
      .number({ error: "limit must be an integer" })
      .int("limit must be an integer")
      .min(0, "Concurrency limits must be >= 0")
      .max(1_000_000, "limit is at most 1,000,000"),
  });

/** A limit as the read models and the API answer it. */
export type LimitRow = {
  id: string;
  tenant_id: string;
  name: string;
  limit: number;
  used: number;
  created: string;
  updated: string;
};

function toRow(kind: Kind, item: Record<string, unknown>): LimitRow {
  const value = kind === "task" ? TaskTagLimitEntity.fromItem(item) : FlowLabelLimitEntity.fromItem(item);
  const name = "tag" in value ? value.tag : value.name;
  return { ...value, name, used: Math.max(Number(value.used ?? 0), 0) } as LimitRow;
}

/**
 * Creates or changes the limit of `name` (upsert by name; Prefect Cloud's `update_task_tag_limit`,
 * `update_flow_concurrency_limit`). The id is kept, and so is the count of slots in use: a limit
 * lowered below it lets no run in until enough give theirs back. Answers the limit's id.
 */
export async function setLimit(kind: Kind, raw: { name: unknown; limit: unknown }): Promise<{ id: string }> {
  const k = KINDS[kind];
  const parsed = limitInput(k.field).safeParse(raw);
  if (!parsed.success)
    throw new ValidationError(formatIssues(parsed.error).replace(/^name: /, `${k.field}: `));
  const { name, limit } = parsed.data;
  const t = useTenantId();
  const now = nowIso();
  const write = (condition: string) =>
    useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: k.key(t, name),
        UpdateExpression: `SET entity = :entity, tenant_id = :t, #name = :name, #limit = :limit,
          id = if_not_exists(id, :id), used = if_not_exists(used, :zero),
          created = if_not_exists(created, :now), updated = :now`,
        ConditionExpression: condition,
        ExpressionAttributeNames: { "#name": kind === "task" ? "tag" : "name", "#limit": "limit" },
        ExpressionAttributeValues: {
          ":entity": k.itemName,
          ":t": t,
          ":name": name,
          ":limit": limit,
          ":id": newId(),
          ":zero": 0,
          ":now": now,
        },
        ReturnValues: "ALL_NEW",
      }),
    );
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return { id: String((await write("attribute_exists(pk)")).Attributes?.id) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
    // A new limit: within the workspace's number of limits.
    if ((await count(kind)) >= MAX_LIMITS)
      throw new LimitExceededError(
        `A workspace keeps at most ${MAX_LIMITS} ${k.what} concurrency limits; delete one first`,
      );
    try {
      return { id: String((await write("attribute_not_exists(pk)")).Attributes?.id) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error; // created meanwhile: update it
    }
  }
  throw new ValidationError(`The ${k.what} limit of "${name}" kept changing; retry`);
}

async function count(kind: Kind): Promise<number> {
  let total = 0;
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await useDynamo().send(
      new QueryCommand({
        TableName: mainTable(),
        ...partitionQuery(kind),
        Select: "COUNT",
        ConsistentRead: true,
        ExclusiveStartKey: cursor,
      }),
    );
    total += page.Count ?? 0;
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return total;
}

function partitionQuery(kind: Kind) {
  const k = KINDS[kind];
  const t = useTenantId();
  return k.prefix
    ? {
        KeyConditionExpression: "pk = :pk AND begins_with(sk, :prefix)",
        ExpressionAttributeValues: { ":pk": k.partition(t), ":prefix": k.prefix },
      }
    : { KeyConditionExpression: "pk = :pk", ExpressionAttributeValues: { ":pk": k.partition(t) } };
}

/** Every limit of a kind in the workspace (at most `MAX_LIMITS`: one Query page or two). */
export async function list(kind: Kind): Promise<LimitRow[]> {
  const items = await queryAll({ TableName: mainTable(), ...partitionQuery(kind), ConsistentRead: true });
  return items.map((item) => toRow(kind, item)).sort((a, b) => a.name.localeCompare(b.name));
}

/** The limit of one name, if there is one. */
export async function byName(kind: Kind, name: string): Promise<LimitRow | undefined> {
  const tenant_id = useTenantId();
  const value =
    kind === "task"
      ? await TaskTagLimitEntity.get({ tenant_id, tag: name }, { consistent: true })
      : await FlowLabelLimitEntity.get({ tenant_id, name }, { consistent: true });
  return value ? toRow(kind, value) : undefined;
}

/** The limits with these ids (the limits are few: read from the workspace's list). */
export async function fromIds(kind: Kind, ids: string[]): Promise<LimitRow[]> {
  const wanted = new Set(ids.filter(isUuid));
  if (wanted.size === 0) return [];
  return (await list(kind)).filter((row) => wanted.has(row.id));
}

/**
 * Deletes a limit by id (`delete_task_tag_limit`, `delete_flow_concurrency_limit`): its name is
 * unlimited from then on; runs holding its slots keep running and give back nothing (the counter
 * is gone). NOT_FOUND for an id that names no limit of the workspace.
 */
export async function removeLimit(kind: Kind, limitId: unknown): Promise<void> {
  const k = KINDS[kind];
  if (typeof limitId !== "string" || !isUuid(limitId))
    throw new ValidationError("limit_id must be the UUID of a concurrency limit");
  const row = (await list(kind)).find((r) => r.id === limitId);
  if (!row) throw new NotFoundError(`No ${k.what} concurrency limit with id ${limitId}`);
  try {
    await useDynamo().send(
      new DeleteCommand({
        TableName: mainTable(),
        Key: k.key(useTenantId(), row.name),
        ConditionExpression: "id = :id",
        ExpressionAttributeValues: { ":id": limitId },
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException)
      throw new NotFoundError(`No ${k.what} concurrency limit with id ${limitId}`);
    throw error;
  }
}

/**
 * Slots in use by name (Prefect Cloud's `task_concurrency` / `flow_concurrency`): every limit when
 * `names` is null, else one entry per name asked (0 for a name without a limit: only limited
 * names are counted).
 */
export async function usage(
  kind: Kind,
  names: readonly string[] | null | undefined,
): Promise<Array<{ name: string; usage: number; limit: number | null }>> {
  if (!names) return (await list(kind)).map((row) => ({ name: row.name, usage: row.used, limit: row.limit }));
  if (names.length > MAX_LIMITS) throw new ValidationError(`at most ${MAX_LIMITS} names per call`);
  const valid = names.filter((name) => typeof name === "string" && name.length > 0 && name.length <= 255);
  const counters = await readCounters(KINDS[kind].run, useTenantId(), valid);
  return [...new Set(names)].map((name) => {
    const c = counters.get(name);
    return { name, usage: c ? Math.max(c.used, 0) : 0, limit: c ? c.limit : null };
  });
}

/** Whether the workspace has any flow label limit (one strong Query of at most one item). */
export async function hasFlowLimits(): Promise<boolean> {
  const page = await useDynamo().send(
    new QueryCommand({ TableName: mainTable(), ...partitionQuery("flow"), ConsistentRead: true, Limit: 1 }),
  );
  return (page.Items ?? []).length > 0;
}

/** Flow label limits among items of the label-set list (the agents' queue reads them together). */
export function flowCountersOf(items: Record<string, unknown>[]): Map<string, Counter> {
  const found = new Map<string, Counter>();
  for (const item of items) {
    if (typeof item.sk !== "string" || !item.sk.startsWith(FLOW_LABEL_PREFIX)) continue;
    const counter = toCounter("flow run", item);
    found.set(counter.name, counter);
  }
  return found;
}

export const isFlowLimitItem = (item: Record<string, unknown>) =>
  typeof item.sk === "string" && item.sk.startsWith(FLOW_LABEL_PREFIX);
