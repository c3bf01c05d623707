import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { queryItems } from "../dynamo/operations.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { deterministicId, isUuid, nowIso } from "../ids.js";
import { formatIssues, storable } from "../storable.js";
import { type FlowGroup, FlowGroupEntity } from "./entity.js";
import { FlowKeys } from "./keys.js";

export type { FlowGroup } from "./entity.js";

export function groupId(tenantId: string, versionGroupId: string): string {
  return deterministicId("flow-group", tenantId, versionGroupId);
}

/** Creates the group of a version group if missing (idempotent) and returns it. */
export async function ensure(input: {
  versionGroupId: string;
  name: string;
  projectId: string;
}): Promise<FlowGroup> {
  const t = useTenantId();
  const id = groupId(t, input.versionGroupId);
  const now = nowIso();
  const result = await useDynamo().send(
    new UpdateCommand({
      TableName: mainTable(),
      Key: FlowKeys.group(t, id),
      UpdateExpression: `SET entity = :entity, id = :id, tenant_id = :t, version_group_id = :vg, #name = :name,
        project_id = :project, created = if_not_exists(created, :now), updated = :now,
        gsi3pk = :g3pk, gsi3sk = if_not_exists(gsi3sk, :g3sk),
        labels = if_not_exists(labels, :null), default_parameters = if_not_exists(default_parameters, :null),
        run_config = if_not_exists(run_config, :null), description = if_not_exists(description, :null),
        schedule = if_not_exists(schedule, :null), settings = if_not_exists(settings, :settings)`,
      ExpressionAttributeNames: { "#name": "name" },
      ExpressionAttributeValues: {
        ":entity": "flow-group",
        ":id": id,
        ":t": t,
        ":vg": input.versionGroupId,
        ":name": input.name,
        ":project": input.projectId,
        ":now": now,
        ":g3pk": FlowKeys.groupsOfTenant(t, now, id).gsi3pk,
        ":g3sk": FlowKeys.groupsOfTenant(t, now, id).gsi3sk,
        ":null": null,
        ":settings": {},
      },
      ReturnValues: "ALL_NEW",
    }),
  );
  return FlowGroupEntity.fromItem(result.Attributes ?? {});
}

/**
 * The next version number of a group: an atomic counter, so concurrent registrations never collide.
 * Undefined when the group is gone (a failed registration abandoned it meanwhile): `ensure` it again.
 */
export async function allocateVersion(id: string): Promise<number | undefined> {
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.group(useTenantId(), id),
        UpdateExpression: "ADD version_counter :one",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":one": 1 },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    return Number(result.Attributes?.version_counter);
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return undefined;
    throw error;
  }
}

export async function recordLatest(
  id: string,
  latest: { flowId: string; version: number; idempotencyKey: string | null },
): Promise<void> {
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.group(useTenantId(), id),
        UpdateExpression:
          "SET latest_flow_id = :f, latest_version = :v, latest_idempotency_key = :k, updated = :now",
        ConditionExpression: "attribute_not_exists(latest_version) OR latest_version < :v",
        ExpressionAttributeValues: {
          ":f": latest.flowId,
          ":v": latest.version,
          ":k": latest.idempotencyKey,
          ":now": nowIso(),
        },
      }),
    )
    .catch((error) => {
      // A newer version was recorded concurrently: it stays the latest.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

/** The newest version recorded for a group (a strongly consistent read; 0 when none). */
export async function latestVersion(id: string): Promise<number> {
  const result = await useDynamo().send(
    new GetCommand({
      TableName: mainTable(),
      Key: FlowKeys.group(useTenantId(), id),
      ProjectionExpression: "latest_version",
      ConsistentRead: true,
    }),
  );
  return Number(result.Item?.latest_version ?? 0);
}

/**
 * Deletes a group a failed registration made and nobody else used: no version ever recorded, and
 * the version counter still at the one version that registration took. True when deleted.
 */
export async function abandon(id: string, version: number | undefined): Promise<boolean> {
  try {
    await useDynamo().send(
      new DeleteCommand({
        TableName: mainTable(),
        Key: FlowKeys.group(useTenantId(), id),
        ConditionExpression:
          version === undefined
            ? "attribute_not_exists(latest_version) AND attribute_not_exists(version_counter)"
            : "attribute_not_exists(latest_version) AND version_counter = :v",
        ...(version === undefined ? {} : { ExpressionAttributeValues: { ":v": version } }),
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}

/** Forgets a deleted flow as the group's latest version. */
export async function forgetFlow(id: string, flowId: string): Promise<void> {
  await useDynamo()
    .send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.group(useTenantId(), id),
        UpdateExpression: "SET latest_flow_id = :null, latest_idempotency_key = :null",
        ConditionExpression: "latest_flow_id = :f",
        ExpressionAttributeValues: { ":f": flowId, ":null": null },
      }),
    )
    .catch((error) => {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
}

export async function fromId(id: string): Promise<FlowGroup | undefined> {
  if (!isUuid(id)) return undefined;
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: FlowKeys.group(useTenantId(), id) }),
  );
  return result.Item ? FlowGroupEntity.fromItem(result.Item) : undefined;
}

export async function fromIds(ids: string[]): Promise<FlowGroup[]> {
  const t = useTenantId();
  return FlowGroupEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
}

export async function* listAll(): AsyncIterable<Record<string, unknown>> {
  for await (const item of queryItems({
    TableName: mainTable(),
    IndexName: "gsi3",
    KeyConditionExpression: "gsi3pk = :pk",
    ExpressionAttributeValues: { ":pk": FlowKeys.groupsOfTenant(useTenantId(), "", "").gsi3pk },
    ScanIndexForward: false,
  })) {
    yield FlowGroupEntity.fromItem(item);
  }
}

const labels = z.array(z.string().min(1).max(255)).max(100).nullable();
/** Each JSON field is an attribute of the group's item: bounded so the item stays under 400 KB. */
export const MAX_GROUP_FIELD_BYTES = 64 * 1024;
const jsonObject = z
  .record(z.string(), z.unknown())
  .superRefine(storable({ as: "native", maxBytes: MAX_GROUP_FIELD_BYTES }))
  .nullable();

const settable = {
  labels: (value: unknown) => parse(labels, value, "labels must be a list of strings (or null)"),
  default_parameters: (value: unknown) =>
    parse(jsonObject, value, "default_parameters must be a JSON object (or null)", "parameters"),
  run_config: (value: unknown) =>
    parse(jsonObject, value, "run_config must be a JSON object (or null)", "run_config"),
  description: (value: unknown) =>
    parse(z.string().max(100_000).nullable(), value, "description must be a string"),
  schedule: (value: unknown) =>
    parse(jsonObject, value, "schedule must be a JSON object (or null)", "schedule"),
  settings: (value: unknown) =>
    parse(
      z
        .record(z.string(), z.unknown())
        .superRefine(storable({ as: "native", maxBytes: MAX_GROUP_FIELD_BYTES })),
      value,
      "settings must be a JSON object",
      "settings",
    ),
} as const;

/** A value of the wrong shape gets `message`; one of the right shape that cannot be stored, its path. */
function parse<T>(schema: z.ZodType<T>, value: unknown, message: string, field = ""): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const custom = parsed.error.issues.some((i) => i.code === "custom");
    throw new ValidationError(custom ? formatIssues(parsed.error, field) : message);
  }
  return parsed.data;
}

/** `set_flow_group_labels`, `..._default_parameters`, `..._run_config`, `..._description`, `..._schedule`. */
export async function set(id: string, field: keyof typeof settable, value: unknown): Promise<FlowGroup> {
  const validated = settable[field](value ?? null);
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: FlowKeys.group(useTenantId(), id),
        UpdateExpression: "SET #field = :value, updated = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeNames: { "#field": field },
        ExpressionAttributeValues: { ":value": validated, ":now": nowIso() },
        ReturnValues: "ALL_NEW",
      }),
    );
    return FlowGroupEntity.fromItem(result.Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException)
      throw new NotFoundError(`Flow group ${id} not found`);
    throw error;
  }
}
