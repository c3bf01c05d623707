import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { actingKeyId, useActor, useTenantId } from "../actor.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { queryItems } from "../dynamo/operations.js";
import { TTL_ATTRIBUTE } from "../dynamo/tables.js";
import { newId, nowIso } from "../ids.js";
import { AuditEntity, type AuditEntry, AuditKeys } from "./entity.js";

export type { AuditEntry } from "./entity.js";

/** How long audit entries are kept (then DynamoDB's TTL removes them). */
export const AUDIT_RETENTION_DAYS = 400;

/** The entry for an action of the current actor, and its item (with its expiry). */
export function entry(action: string, target: string | null, detail: unknown = null) {
  const actor = useActor();
  const at = nowIso();
  const value: AuditEntry = {
    id: newId(),
    tenant_id: useTenantId(),
    at,
    action,
    target,
    api_key_id: actingKeyId(),
    role: actor.type === "tenant" ? (actor.role ?? null) : null,
    detail,
  };
  const item = {
    ...AuditEntity.toItem(value),
    [TTL_ATTRIBUTE]: Math.floor(Date.parse(at) / 1000) + AUDIT_RETENTION_DAYS * 86_400,
  };
  return { value, item };
}

/** Records an action on its own (when no other write goes with it). */
export async function record(action: string, target: string | null, detail: unknown = null): Promise<void> {
  await useDynamo().send(
    new PutCommand({ TableName: mainTable(), Item: entry(action, target, detail).item }),
  );
}

/** The workspace's entries, newest first, month by month back to the retention limit. */
export async function* listAll(options: { pageSize?: number | undefined } = {}): AsyncIterable<AuditEntry> {
  const t = useTenantId();
  const now = new Date();
  const months = Math.ceil(AUDIT_RETENTION_DAYS / 28) + 1;
  for (let back = 0; back < months; back++) {
    const month = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1)).toISOString();
    for await (const item of queryItems({
      TableName: mainTable(),
      KeyConditionExpression: "pk = :pk",
      ExpressionAttributeValues: { ":pk": AuditKeys.month(t, month) },
      ScanIndexForward: false,
      ...(options.pageSize ? { Limit: options.pageSize } : {}),
    })) {
      yield AuditEntity.fromItem(item);
    }
  }
}
