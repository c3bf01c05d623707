import { randomBytes } from "node:crypto";
import { GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { useConfig } from "../config.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { type Counter, deleteCounted, putCounted, queryAll, queryItems } from "../dynamo/operations.js";
import { LimitExceededError, NotFoundError, ValidationError } from "../errors.js";
import * as FlowGroup from "../flow/group.js";
import { groupId } from "../flow/group.js";
import { isUuid, newId, nowIso } from "../ids.js";
import { KNOWN_STATES } from "../state/types.js";
import { formatIssues } from "../storable.js";
import {
  type CloudHook,
  type CloudHookDelivery,
  CloudHookDeliveryEntity,
  CloudHookEntity,
  HOOK_TYPES,
  HookKeys,
  type HookType,
} from "./entity.js";
import { checkTarget, parseTargetUrl } from "./target.js";

export type { CloudHook, CloudHookDelivery, HookType } from "./entity.js";
export { CloudHookDeliveryEntity, CloudHookEntity } from "./entity.js";

/**
 * Cloud hooks (Prefect Cloud 1.0, docs/events.md): the workspace's list of what to call when its
 * flow runs change state. This module keeps them; ./dispatch.ts delivers.
 */
export const MAX_HOOKS = 100;

/** The states a hook may watch: Prefect's state classes, upper-case, as Prefect Cloud took them. */
export const HOOK_STATES = new Set([...KNOWN_STATES].map((s) => s.toUpperCase()));

const input = z.object({
  type: z.enum(HOOK_TYPES, { error: `type must be one of ${HOOK_TYPES.join(", ")}` }),
  name: z.string().max(255, "name is at most 255 characters").nullish(),
  version_group_id: z.string().min(1, "version_group_id must not be empty").max(255).nullish(),
  states: z
    .array(z.string({ error: "states must be state names" }), {
      error: "states must be a list of state names",
    })
    .min(1, "states must name at least one state")
    .max(HOOK_STATES.size)
    .transform((states) => [...new Set(states.map((s) => s.toUpperCase()))])
    .refine((states) => states.every((s) => HOOK_STATES.has(s)), {
      error: `states must be among ${[...HOOK_STATES].sort().join(", ")}`,
    }),
  config: z.record(z.string(), z.unknown()).nullish(),
});

/** A hook's `config` for its type: `{url}` for the webhooks, nothing for PREFECT_MESSAGE. */
async function parseConfig(type: HookType, config: Record<string, unknown> | null | undefined) {
  const keys = Object.keys(config ?? {});
  if (type === "PREFECT_MESSAGE") {
    if (keys.length > 0) throw new ValidationError("Invalid config; a PREFECT_MESSAGE hook takes none");
    return {};
  }
  if (keys.length !== 1 || keys[0] !== "url") throw new ValidationError("Invalid config; expected `url`");
  const url = parseTargetUrl(config?.url);
  await checkTarget(url, useConfig().events.allowPrivateTargets);
  return { url: url.toString() };
}

const hookCounter = (t: string): Counter => ({
  key: { pk: HookKeys.partition(t), sk: "count" },
  attribute: "hooks",
  entity: "cloud-hook-count",
});

/**
 * Creates an active hook. Returns its id and the secret its webhook bodies are signed with (shown
 * only here). BAD_USER_INPUT for an unknown type or state, a config that does not fit the type, a
 * URL that is not http(s) or resolves to a private address, or a version group the workspace does
 * not have; LIMIT_EXCEEDED past `MAX_HOOKS`.
 */
export async function create(raw: unknown): Promise<{ id: string; signing_secret: string }> {
  const parsed = input.safeParse(raw);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error));
  const t = useTenantId();
  const { type, states, name, version_group_id } = parsed.data;
  const config = await parseConfig(type, parsed.data.config);
  if (version_group_id && !(await FlowGroup.fromId(groupId(t, version_group_id))))
    throw new ValidationError(
      `version_group_id ${JSON.stringify(version_group_id)}: no such flow in this workspace`,
    );
  const now = nowIso();
  const hook = {
    id: newId(),
    tenant_id: t,
    name: name ?? null,
    type,
    states,
    config,
    version_group_id: version_group_id ?? null,
    active: true,
    created: now,
    updated: now,
    signing_secret: randomBytes(32).toString("base64url"),
  };
  await putCounted({
    item: CloudHookEntity.toItem(hook),
    counter: hookCounter(t),
    max: MAX_HOOKS,
    full: () =>
      new LimitExceededError(
        `This workspace has ${MAX_HOOKS} cloud hooks, the most it may; delete one first.`,
      ),
  });
  return { id: hook.id, signing_secret: hook.signing_secret };
}

function hookId(raw: unknown): string {
  if (typeof raw !== "string" || !isUuid(raw)) throw new ValidationError("cloud_hook_id must be a UUID");
  return raw;
}

const notFound = (id: string) => new NotFoundError(`Cloud hook ${id} not found`);

/** Deletes a hook (its delivery log expires with its TTL). NOT_FOUND for an id not in this workspace. */
export async function remove(raw: unknown): Promise<void> {
  const id = hookId(raw);
  const t = useTenantId();
  await deleteCounted({ key: HookKeys.hook(t, id), counter: hookCounter(t), missing: () => notFound(id) });
}

/** Turns a hook on or off. NOT_FOUND for an id not in this workspace. */
export async function setActive(raw: unknown, active: boolean): Promise<CloudHook> {
  const id = hookId(raw);
  const t = useTenantId();
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: HookKeys.hook(t, id),
        UpdateExpression: "SET active = :active, updated = :now",
        ConditionExpression: "attribute_exists(pk)",
        ExpressionAttributeValues: { ":active": active, ":now": nowIso() },
        ReturnValues: "ALL_NEW",
      }),
    );
    return CloudHookEntity.fromItem(result.Attributes ?? {});
  } catch (error) {
    if ((error as Error).name === "ConditionalCheckFailedException") throw notFound(id);
    throw error;
  }
}

/** A hook of this workspace, with its signing secret (for delivery), or NOT_FOUND. */
export async function requireHook(raw: unknown): Promise<CloudHook> {
  const id = hookId(raw);
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: HookKeys.hook(useTenantId(), id) }),
  );
  if (!result.Item) throw notFound(id);
  return CloudHookEntity.fromItem(result.Item);
}

/** Every hook of the workspace (at most MAX_HOOKS: one Query). */
export async function list(): Promise<CloudHook[]> {
  return (await partition()).hooks;
}

/**
 * The workspace's hooks and its automations' items (core/src/automation), which share the
 * partition so that each state change reads both with one Query (at most MAX_HOOKS +
 * MAX_AUTOMATIONS items, and two counters).
 */
export async function partition(): Promise<{ hooks: CloudHook[]; automations: Record<string, unknown>[] }> {
  const items = await queryAll({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": HookKeys.partition(useTenantId()) },
  });
  return {
    hooks: items.filter((i) => i.entity === "cloud-hook").map(CloudHookEntity.fromItem),
    automations: items.filter((i) => i.entity === "automation"),
  };
}

export async function fromIds(ids: string[]): Promise<CloudHook[]> {
  const t = useTenantId();
  return CloudHookEntity.getMany(ids.filter(isUuid).map((id) => ({ tenant_id: t, id })));
}

/** A hook's deliveries, newest first (a page at a time). */
export async function* deliveriesOf(hookIdValue: string, pageSize = 100): AsyncIterable<CloudHookDelivery> {
  if (!isUuid(hookIdValue)) return;
  const items = queryItems({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": HookKeys.deliveries(useTenantId(), hookIdValue) },
    ScanIndexForward: false,
    Limit: pageSize,
  });
  for await (const item of items) yield CloudHookDeliveryEntity.fromItem(item);
}

/** Every delivery of every hook of the workspace, hook by hook, newest first within each. */
export async function* allDeliveries(): AsyncIterable<CloudHookDelivery> {
  for (const hook of await list()) yield* deliveriesOf(hook.id);
}
