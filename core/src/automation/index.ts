import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { type Counter, deleteCounted, putCounted, queryItems } from "../dynamo/operations.js";
import { LimitExceededError, NotFoundError, ValidationError } from "../errors.js";
import * as FlowGroup from "../flow/group.js";
import { groupId } from "../flow/group.js";
import { requireHook } from "../hook/index.js";
import { isUuid, newId, nowIso } from "../ids.js";
import { formatIssues } from "../storable.js";
import {
  ACTION_TYPES,
  AUTOMATION_KINDS,
  type Automation,
  AutomationEntity,
  type AutomationFire,
  AutomationFireEntity,
  AutomationKeys,
} from "./entity.js";

export type { Automation, AutomationFire, AutomationKind } from "./entity.js";
export { AutomationEntity, AutomationFireEntity } from "./entity.js";

/**
 * Automations (docs/events.md, "Automations"): "a flow run has not started N minutes after its
 * scheduled start", "a flow run has been running for more than N minutes", "an agent has not
 * polled for N minutes", "N runs of a flow failed in a row", each with an action (call a hook,
 * cancel the run, pause the flow's schedule). This module keeps them; ./evaluate.ts fires them.
 */
export const MAX_AUTOMATIONS = 100;
/** A week, in minutes: the longest threshold of the time kinds. */
export const MAX_THRESHOLD_MINUTES = 7 * 24 * 60;
export const MAX_FAILURE_STREAK = 100;

const input = z
  .object({
    name: z.string().max(255, "name is at most 255 characters").nullish(),
    kind: z.enum(AUTOMATION_KINDS, { error: `kind must be one of ${AUTOMATION_KINDS.join(", ")}` }),
    threshold: z.number({ error: "threshold must be an integer" }).int("threshold must be an integer"),
    version_group_id: z.string().min(1).max(255).nullish(),
    action: z.object(
      {
        type: z.enum(ACTION_TYPES, { error: `action.type must be one of ${ACTION_TYPES.join(", ")}` }),
        cloud_hook_id: z.string().nullish(),
      },
      { error: "action must be an object" },
    ),
  })
  .superRefine((v, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: "custom", path: [path], message });
    if (v.kind === "FLOW_FAILURES") {
      if (v.threshold < 1 || v.threshold > MAX_FAILURE_STREAK)
        issue("threshold", `a FLOW_FAILURES threshold is a number of runs from 1 to ${MAX_FAILURE_STREAK}`);
    } else if (v.threshold < 1 || v.threshold > MAX_THRESHOLD_MINUTES)
      issue("threshold", `threshold is minutes, from 1 to ${MAX_THRESHOLD_MINUTES}`);
    if (v.kind === "AGENT_SILENT" && v.version_group_id)
      issue("version_group_id", "an AGENT_SILENT automation watches agents, not a flow");
    if (v.action.type === "CANCEL_RUN" && v.kind !== "FLOW_RUN_LATE" && v.kind !== "FLOW_RUN_LONG")
      issue("action.type", "CANCEL_RUN acts on a late or long run: kinds FLOW_RUN_LATE or FLOW_RUN_LONG");
    if (v.action.type === "PAUSE_SCHEDULE" && v.kind === "AGENT_SILENT")
      issue("action.type", "PAUSE_SCHEDULE pauses a flow's schedule: not for AGENT_SILENT");
    if (v.action.type === "HOOK" && !v.action.cloud_hook_id)
      issue("action.cloud_hook_id", "a HOOK action names the cloud hook to call");
    if (v.action.type !== "HOOK" && v.action.cloud_hook_id)
      issue("action.cloud_hook_id", "only a HOOK action names a cloud hook");
  });

/** Creates an active automation; BAD_USER_INPUT for what cannot work, LIMIT_EXCEEDED past MAX_AUTOMATIONS. */
export async function create(raw: unknown): Promise<{ id: string }> {
  const parsed = input.safeParse(raw);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error));
  const t = useTenantId();
  const v = parsed.data;
  if (v.action.type === "HOOK") {
    await requireHook(v.action.cloud_hook_id).catch((error) => {
      if (error instanceof NotFoundError)
        throw new ValidationError(
          `action.cloud_hook_id: no cloud hook ${v.action.cloud_hook_id} in this workspace`,
        );
      throw error;
    });
  }
  const group = v.version_group_id ? groupId(t, v.version_group_id) : null;
  if (group && !(await FlowGroup.fromId(group)))
    throw new ValidationError(
      `version_group_id ${JSON.stringify(v.version_group_id)}: no such flow in this workspace`,
    );
  const now = nowIso();
  const automation = {
    id: newId(),
    tenant_id: t,
    name: v.name ?? null,
    kind: v.kind,
    threshold: v.threshold,
    version_group_id: v.version_group_id ?? null,
    flow_group_id: group,
    action: { type: v.action.type, cloud_hook_id: v.action.cloud_hook_id ?? null },
    active: true,
    created: now,
    updated: now,
  };
  await putCounted({
    item: AutomationEntity.toItem(automation),
    counter: counter(t),
    max: MAX_AUTOMATIONS,
    full: () =>
      new LimitExceededError(
        `This workspace has ${MAX_AUTOMATIONS} automations, the most it may; delete one first.`,
      ),
  });
  return { id: automation.id };
}

const counter = (t: string): Counter => ({
  key: AutomationKeys.count(t),
  attribute: "automations",
  entity: "automation-count",
});

function automationId(raw: unknown): string {
  if (typeof raw !== "string" || !isUuid(raw)) throw new ValidationError("automation_id must be a UUID");
  return raw;
}
const notFound = (id: string) => new NotFoundError(`Automation ${id} not found`);

export async function remove(raw: unknown): Promise<void> {
  const id = automationId(raw);
  const t = useTenantId();
  await deleteCounted({
    key: AutomationKeys.automation(t, id),
    counter: counter(t),
    missing: () => notFound(id),
  });
}

/** Turns an automation on or off (an AGENT_SILENT one leaves or rejoins the tick's index). */
export async function setActive(raw: unknown, active: boolean): Promise<void> {
  const id = automationId(raw);
  const t = useTenantId();
  const automation = await AutomationEntity.get({ tenant_id: t, id });
  if (!automation) throw notFound(id);
  const watch = AutomationKeys.silentWatch(t, id);
  const watched = active && automation.kind === "AGENT_SILENT";
  try {
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: AutomationKeys.automation(t, id),
        UpdateExpression: watched
          ? "SET active = :active, updated = :now, due_pk = :pk, due_sk = :sk"
          : "SET active = :active, updated = :now REMOVE due_pk, due_sk",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: {
          ":active": active,
          ":now": nowIso(),
          ...(watched ? { ":pk": watch.due_pk, ":sk": watch.due_sk } : {}),
        },
      }),
    );
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") throw notFound(id);
    throw error;
  }
}

export async function fromIds(ids: string[]): Promise<Automation[]> {
  const t = useTenantId();
  return AutomationEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
}

/** An automation's firings (one per run or agent silence). */
export async function* firesOf(id: string, pageSize = 100): AsyncIterable<AutomationFire> {
  if (!isUuid(id)) return;
  const items = queryItems({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk",
    FilterExpression: "entity = :fire",
    ExpressionAttributeValues: { ":pk": AutomationKeys.fires(useTenantId(), id), ":fire": "automation-fire" },
    Limit: pageSize,
  });
  for await (const item of items) yield AutomationFireEntity.fromItem(item);
}
