import { ConditionalCheckFailedException, DynamoDBServiceException } from "@aws-sdk/client-dynamodb";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { isUuid, nowIso } from "../ids.js";
import { seedOverlapHolder } from "../schedule/overlap.js";
import { FlowKeys } from "./keys.js";

/**
 * Flow settings live where Prefect Server keeps them: in the flow group's `settings` map, shared
 * by every version of the flow (a new version starts from a copy of them, flow/index.ts). The
 * scheduler reads a flow's settings overridden by its group's (schedule/health.ts `runSettings`),
 * and the read API answers `flow.settings` and `flow_group.settings` with the effective values
 * (defaults filled in), so what the Prefect flow runner reads is what the scheduler enforces.
 *
 * - `heartbeat_enabled` (Prefect; also written as `disable_heartbeat`, its older spelling): the
 *   flow runner sends heartbeats and the scheduler's zombie check watches them.
 * - `lazarus_enabled` (Prefect): the scheduler reschedules runs whose process vanished.
 * - `max_lateness_seconds`, `late_run_state` (Drover): a run still Scheduled this long after its
 *   start becomes `late_run_state` instead of running late (backfilled runs are exempt).
 * - `overlap_policy` (Drover): `allow`, or `skip` a run that comes due while another run of the
 *   group is still in progress (schedule/overlap.ts).
 */
export const SETTINGS_DEFAULTS = {
  heartbeat_enabled: true,
  lazarus_enabled: true,
  max_lateness_seconds: null,
  late_run_state: "Skipped",
  overlap_policy: "allow",
} as const;

/** The largest accepted max_lateness_seconds (30 days); null means runs are never skipped for lateness. */
export const MAX_LATENESS_SECONDS = 30 * 24 * 3600;
export const LATE_RUN_STATES = ["Skipped", "Cancelled"] as const;
export const OVERLAP_POLICIES = ["allow", "skip"] as const;
export type OverlapPolicy = (typeof OVERLAP_POLICIES)[number];

function asObject(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

/** The settings in force for a flow: defaults, then the flow version's own, then its group's. */
export function effectiveSettings(flowSettings: unknown, groupSettings: unknown): Record<string, unknown> {
  return { ...SETTINGS_DEFAULTS, ...asObject(flowSettings), ...asObject(groupSettings) };
}

/** The overlap policy a group's stored settings name (anything unknown is the default, allow). */
export function overlapPolicyOf(groupSettings: unknown): OverlapPolicy {
  return asObject(groupSettings).overlap_policy === "skip" ? "skip" : "allow";
}

/**
 * Sets and removes keys of a flow group's settings in one UpdateItem (a document path per key, so
 * concurrent changes of different keys never overwrite each other). Returns the stored settings.
 */
async function updateGroupSettings(
  groupId: string,
  set: Record<string, unknown>,
  remove: string[] = [],
): Promise<Record<string, unknown>> {
  if (!isUuid(groupId)) throw new NotFoundError(`Flow group ${groupId} not found`);
  const names: Record<string, string> = { "#settings": "settings" };
  const values: Record<string, unknown> = { ":now": nowIso() };
  const assignments = ["updated = :now"];
  Object.entries(set).forEach(([name, value], i) => {
    names[`#k${i}`] = name;
    values[`:v${i}`] = value;
    assignments.push(`#settings.#k${i} = :v${i}`);
  });
  const removals = remove.map((name, i) => {
    names[`#r${i}`] = name;
    return `#settings.#r${i}`;
  });
  const send = () =>
    useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.group(useTenantId(), groupId),
        UpdateExpression: `SET ${assignments.join(", ")}${removals.length ? ` REMOVE ${removals.join(", ")}` : ""}`,
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ReturnValues: "ALL_NEW",
      }),
    );
  try {
    try {
      return asObject((await send()).Attributes?.settings);
    } catch (error) {
      // A group stored without a settings map (none are, but a document path needs one): create it, once.
      if (!(error instanceof DynamoDBServiceException) || error.name !== "ValidationException") throw error;
      await useDynamo().send(
        new UpdateCommand({
          TableName: mainTable(),
          Key: FlowKeys.group(useTenantId(), groupId),
          UpdateExpression: "SET #settings = :empty",
          ConditionExpression: "attribute_exists(pk) AND NOT attribute_type(#settings, :map)",
          ExpressionAttributeNames: { "#settings": "settings" },
          ExpressionAttributeValues: { ":empty": {}, ":map": "M" },
        }),
      );
      return asObject((await send()).Attributes?.settings);
    }
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException)
      throw new NotFoundError(`Flow group ${groupId} not found`);
    throw error;
  }
}

/** The flow group of a flow of the caller's workspace (NOT_FOUND otherwise, like every flow lookup). */
async function groupOfFlow(flowId: string): Promise<string> {
  if (!isUuid(flowId)) throw new NotFoundError(`Flow ${flowId} not found`);
  const result = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowKeys.flow(useTenantId(), flowId),
      ProjectionExpression: "flow_group_id",
    }),
  );
  const groupId = result.Item?.flow_group_id;
  if (typeof groupId !== "string") throw new NotFoundError(`Flow ${flowId} not found`);
  return groupId;
}

/**
 * `enable_flow_heartbeat` / `disable_flow_heartbeat` (Prefect Server: the flow's group settings
 * `heartbeat_enabled` and `disable_heartbeat`, which the flow runner and the zombie check read).
 */
export async function setHeartbeatEnabled(flowId: string, enabled: boolean): Promise<void> {
  await updateGroupSettings(await groupOfFlow(flowId), {
    heartbeat_enabled: enabled,
    disable_heartbeat: !enabled,
  });
}

/** `enable_flow_lazarus_process` / `disable_flow_lazarus_process` (the group setting `lazarus_enabled`). */
export async function setLazarusEnabled(flowId: string, enabled: boolean): Promise<void> {
  await updateGroupSettings(await groupOfFlow(flowId), { lazarus_enabled: enabled });
}

const POLICY_FIELDS = ["max_lateness_seconds", "late_run_state", "overlap_policy"] as const;

const policiesInput = z.object({
  flow_group_id: z.string(),
  max_lateness_seconds: z
    .number({ message: "max_lateness_seconds must be a number of seconds" })
    .int("max_lateness_seconds must be a whole number of seconds")
    .min(1, "max_lateness_seconds must be at least 1 (null turns skipping late runs off)")
    .max(MAX_LATENESS_SECONDS, `max_lateness_seconds must be at most ${MAX_LATENESS_SECONDS} (30 days)`)
    .nullish(),
  late_run_state: z
    .enum(LATE_RUN_STATES, { message: 'late_run_state must be "Skipped" or "Cancelled" (null: Skipped)' })
    .nullish(),
  overlap_policy: z
    .enum(OVERLAP_POLICIES, { message: 'overlap_policy must be "allow" or "skip" (null: allow)' })
    .nullish(),
});

export type PoliciesInput = z.input<typeof policiesInput>;

/**
 * `set_flow_group_settings` (Drover): the group's late-run and overlap policies. A field left out
 * is unchanged; a field given as null goes back to its default. Returns the group's effective
 * settings. Switching `overlap_policy` to `skip` first records a run of the group already in
 * progress, if there is one, as the run the policy waits for (schedule/overlap.ts).
 */
export async function setPolicies(raw: PoliciesInput): Promise<Record<string, unknown>> {
  const parsed = policiesInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  const input = parsed.data;
  const given = POLICY_FIELDS.filter((field) => input[field] !== undefined);
  if (given.length === 0)
    throw new ValidationError(`set_flow_group_settings needs at least one of ${POLICY_FIELDS.join(", ")}`);
  const set: Record<string, unknown> = {};
  const remove: string[] = [];
  for (const field of given) {
    const value = input[field];
    if (value === null) remove.push(field);
    else set[field] = value;
  }
  if (!isUuid(input.flow_group_id)) throw new NotFoundError(`Flow group ${input.flow_group_id} not found`);
  if (input.overlap_policy === "skip") await seedOverlapHolder(input.flow_group_id);
  return effectiveSettings({}, await updateGroupSettings(input.flow_group_id, set, remove));
}

/** A flow group's stored settings (one GetItem of the map; empty when the group is not the caller's). */
export async function groupSettings(groupId: string): Promise<Record<string, unknown>> {
  if (!isUuid(groupId)) return {};
  const result = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowKeys.group(useTenantId(), groupId),
      ProjectionExpression: "#settings",
      ExpressionAttributeNames: { "#settings": "settings" },
    }),
  );
  return asObject(result.Item?.settings);
}
