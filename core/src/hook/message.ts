import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { key } from "../dynamo/keys.js";
import { queryItems } from "../dynamo/operations.js";
import { NotFoundError, ValidationError } from "../errors.js";
import { deterministicId, isUuid, nowIso } from "../ids.js";
import type { CloudHook } from "./entity.js";
import type { Payload } from "./payload.js";

/**
 * A workspace message (Prefect Cloud 1.0's `message`): what a PREFECT_MESSAGE hook leaves for the
 * workspace's users to read in the dashboard, `{type: "CLOUD_HOOK", event}`. Newest first in one
 * partition per workspace; they expire after `MESSAGE_RETENTION_DAYS`.
 */
export const MessageEntity = defineEntity({
  name: "message",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    type: attr.string(),
    content: attr.json(),
    read: attr.boolean(),
    created: attr.timestamp(),
  },
  key: (m: { tenant_id: string; created: string; id: string }) => ({
    pk: key(m.tenant_id, "messages"),
    sk: key(m.created, m.id),
  }),
});
export type Message = EntityOf<typeof MessageEntity>;

export const MESSAGE_RETENTION_DAYS = 30;

/** Stores the message of one event for one hook (the same pair writes the same item). */
export async function storeMessage(hook: CloudHook, event: Payload): Promise<void> {
  const message = {
    id: deterministicId("message", hook.id, event.id),
    tenant_id: hook.tenant_id,
    type: "CLOUD_HOOK",
    content: { type: "CLOUD_HOOK", event },
    read: false,
    // The event's time, so a redelivery writes the same key.
    created: event.timestamp,
  };
  await useDynamo()
    .send(
      new PutCommand({
        TableName: mainTable(),
        Item: {
          ...MessageEntity.toItem(message),
          ttl_epoch: Math.floor(Date.now() / 1000) + MESSAGE_RETENTION_DAYS * 86_400,
        },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    )
    .catch((error) => {
      if ((error as Error).name !== "ConditionalCheckFailedException") throw error;
    });
}

/** The workspace's messages, newest first. */
export async function* listAll(pageSize = 100): AsyncIterable<Message> {
  const items = queryItems({
    TableName: mainTable(),
    KeyConditionExpression: "pk = :pk",
    ExpressionAttributeValues: { ":pk": key(useTenantId(), "messages") },
    ScanIndexForward: false,
    Limit: pageSize,
  });
  for await (const item of items) yield MessageEntity.fromItem(item);
}

/** Marks a message read (`mark_message_as_read`); NOT_FOUND for an id not in this workspace. */
export async function markRead(id: unknown): Promise<void> {
  if (typeof id !== "string" || !isUuid(id)) throw new ValidationError("message_id must be a UUID");
  for await (const message of listAll()) {
    if (message.id !== id) continue;
    await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: MessageEntity.key(message),
        UpdateExpression: "SET #read = :true, updated = :now",
        ExpressionAttributeNames: { "#read": "read" },
        ExpressionAttributeValues: { ":true": true, ":now": nowIso() },
      }),
    );
    return;
  }
  throw new NotFoundError(`Message ${id} not found`);
}
