import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { FlowKeys } from "../flow/keys.js";
import * as FlowRun from "../flow-run/index.js";
import { newId, nowIso } from "../ids.js";
import { ScheduleKeys } from "./keys.js";
import { parseSchedule } from "./schedule.js";

export { ScheduleKeys } from "./keys.js";
export { nextEvents, parseSchedule, type Schedule, type ScheduleEvent } from "./schedule.js";

/** The due-index item of a flow group whose schedule is active (see keys.ts). */
export type ScheduleItem = {
  tenant_id: string;
  flow_group_id: string;
  /** The flow version whose runs the schedule creates (the group's latest). */
  flow_id: string;
  /** The effective schedule: the group's if set, else the flow's. */
  schedule: unknown;
  /** Changes whenever the schedule, its flow or its activity changes; part of every run's idempotency key. */
  generation: string;
  /** The latest start time whose runs all exist (null: none yet). */
  scheduled_until: string | null;
  next_due: string | null;
  updated: string;
};

/** Refuses a schedule the scheduler could not honour, before it is stored. */
export function validate(schedule: unknown): void {
  if (schedule !== null && schedule !== undefined) parseSchedule(schedule);
}

/** JSON with sorted keys, so that equal schedules compare equal whatever their key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_, v) =>
    v && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

async function consistentGet(key: { pk: string; sk: string }) {
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: key, ConsistentRead: true }),
  );
  return result.Item;
}

export async function fromGroup(groupId: string): Promise<ScheduleItem | undefined> {
  return (await consistentGet(ScheduleKeys.schedule(useTenantId(), groupId))) as ScheduleItem | undefined;
}

/**
 * Makes a flow group's due-index item match what should be scheduled: the group's latest flow,
 * unarchived with its schedule active, with the group's schedule or else the flow's. Called after
 * every change that can affect it (registration, set_schedule_active/inactive, archive, delete,
 * set_flow_group_schedule). Turning a schedule off removes the unstarted auto-scheduled runs;
 * changing it replaces them (new generation, so new idempotency keys); no change is a no-op.
 */
export async function sync(groupId: string): Promise<"active" | "inactive" | "unchanged"> {
  const t = useTenantId();
  const group = await consistentGet(FlowKeys.group(t, groupId));
  const latest = typeof group?.latest_flow_id === "string" ? group.latest_flow_id : null;
  const flow = latest ? await consistentGet(FlowKeys.flow(t, latest)) : undefined;
  const schedule = group?.schedule ?? flow?.schedule ?? null;
  const active =
    flow !== undefined && flow.archived !== true && flow.is_schedule_active === true && schedule !== null;
  const existing = await fromGroup(groupId);
  const key = ScheduleKeys.schedule(t, groupId);

  if (!active || !flow) {
    if (!existing) return "inactive";
    // Delete first: a tick still holding the old generation then fails to advance and undoes its runs.
    await useDynamo().send(new DeleteCommand({ TableName: mainTable(), Key: key }));
    await FlowRun.removeUnstartedAutoScheduled(existing.flow_id);
    return "inactive";
  }
  if (existing && existing.flow_id === flow.id && stableJson(existing.schedule) === stableJson(schedule))
    return "unchanged";

  const generation = newId();
  const now = nowIso();
  const item: ScheduleItem = {
    tenant_id: t,
    flow_group_id: groupId,
    flow_id: String(flow.id),
    schedule,
    generation,
    scheduled_until: null,
    next_due: null,
    updated: now,
  };
  // Not due until the old runs are gone, so the tick never creates new runs the removal would take.
  await useDynamo().send(
    new PutCommand({ TableName: mainTable(), Item: { ...key, entity: "schedule", ...item } }),
  );
  if (existing) await FlowRun.removeUnstartedAutoScheduled(existing.flow_id);
  const due = ScheduleKeys.due(t, groupId, now);
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: key,
        UpdateExpression: "SET next_due = :due, due_pk = :dpk, due_sk = :dsk",
        ConditionExpression: "generation = :gen",
        ExpressionAttributeValues: {
          ":due": now,
          ":dpk": due.due_pk,
          ":dsk": due.due_sk,
          ":gen": generation,
        },
      }),
    )
    .catch((error) => {
      // A newer change won; it makes its own item due.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
  return "active";
}
