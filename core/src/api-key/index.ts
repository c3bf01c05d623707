import { createHash, randomBytes } from "node:crypto";
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { useTenantId } from "../actor.js";
import { DEFAULT_ROLE, ROLES, type Role } from "../auth/roles.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { queryAll } from "../dynamo/operations.js";
import { NotFoundError, UnauthenticatedError, UniquenessError, ValidationError } from "../errors.js";
import { newId, nowIso } from "../ids.js";
import { ApiKeyKeys } from "./keys.js";

/** What may be shown about a key: never the secret, never its hash. */
export type ApiKey = {
  id: string;
  tenant_id: string;
  name: string;
  /** The first characters of the secret, so people can tell their keys apart. */
  prefix: string;
  /** What the key may do (core/src/auth/roles.ts); keys from before roles are admins. */
  role: Role;
  created: string;
  expires_at: string | null;
  revoked_at: string | null;
};

export type CreatedApiKey = ApiKey & { secret: string };

export const KEY_PREFIX = "drv_";
const SHOWN_PREFIX_LENGTH = 8;
/** A caller-chosen secret (DROVER_BOOTSTRAP_KEY): 32 to 128 printable ASCII characters, no spaces. */
export const SECRET_RE = /^[\x21-\x7e]{32,128}$/;

export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

export function generateSecret(): string {
  return KEY_PREFIX + randomBytes(32).toString("base64url");
}

const createInput = z.object({
  name: z.string().trim().min(1, "key name must not be empty").max(200, "key name is at most 200 characters"),
  expires_at: z.iso
    .datetime({ offset: true, message: "expires_at must be an ISO 8601 date-time" })
    .nullish()
    .transform((value) => (value ? new Date(value).toISOString() : null)),
  secret: z
    .string()
    .regex(SECRET_RE, "a key must be 32 to 128 printable ASCII characters without spaces")
    .optional(),
  role: z
    .enum(ROLES, { error: `role must be one of ${ROLES.join(", ")}` })
    .nullish()
    .transform((role) => role ?? DEFAULT_ROLE),
});

/** Creates a key in the current tenant. The returned secret is shown once and never stored. */
export async function create(input: {
  name: string;
  expires_at?: string | null;
  secret?: string;
  /** admin when omitted. */
  role?: unknown;
}): Promise<CreatedApiKey> {
  const parsed = createInput.safeParse(input);
  if (!parsed.success) throw new ValidationError(parsed.error.issues.map((i) => i.message).join("; "));
  const tenantId = useTenantId();
  const secret = parsed.data.secret ?? generateSecret();
  const key: ApiKey = {
    id: newId(),
    tenant_id: tenantId,
    name: parsed.data.name,
    prefix: secret.slice(0, SHOWN_PREFIX_LENGTH),
    role: parsed.data.role,
    created: nowIso(),
    expires_at: parsed.data.expires_at,
    revoked_at: null,
  };
  if (key.expires_at !== null && Date.parse(key.expires_at) <= Date.now()) {
    throw new ValidationError("expires_at must be in the future");
  }
  try {
    await useDynamo().send(
      new PutCommand({
        TableName: mainTable(),
        Item: {
          ...ApiKeyKeys.item(hashSecret(secret)),
          ...ApiKeyKeys.listing(tenantId, key.created, key.id),
          ...ApiKeyKeys.byId(tenantId, key.id),
          entity: "api-key",
          ...key,
        },
        ConditionExpression: "attribute_not_exists(pk)",
      }),
    );
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException)
      throw new UniquenessError("Uniqueness violation: that key already exists.");
    throw error;
  }
  return { ...key, secret };
}

export type Principal = { tenantId: string; apiKeyId: string; role: Role; expiresAt: number | null };

/** Resolves a presented secret to its tenant with one GetItem; throws UNAUTHENTICATED if unusable. */
export async function authenticate(secret: string): Promise<Principal> {
  if (!SECRET_RE.test(secret)) throw new UnauthenticatedError("UNAUTHENTICATED: invalid API key");
  const result = await useDynamo().send(
    new GetCommand({ TableName: mainTable(), Key: ApiKeyKeys.item(hashSecret(secret)) }),
  );
  const item = result.Item as ApiKey | undefined;
  if (!item) throw new UnauthenticatedError("UNAUTHENTICATED: invalid API key");
  if (item.revoked_at) throw new UnauthenticatedError("UNAUTHENTICATED: this API key has been revoked");
  const expiresAt = item.expires_at ? Date.parse(item.expires_at) : null;
  if (expiresAt !== null && expiresAt <= Date.now()) {
    throw new UnauthenticatedError("UNAUTHENTICATED: this API key has expired");
  }
  return { tenantId: item.tenant_id, apiKeyId: item.id, role: item.role ?? DEFAULT_ROLE, expiresAt };
}

/** The current tenant's keys, newest first (name and prefix only). */
export async function list(): Promise<ApiKey[]> {
  const items = await queryAll({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :pk",
    ExpressionAttributeValues: { ":pk": ApiKeyKeys.listPartition(useTenantId()) },
    ScanIndexForward: false,
  });
  return items.map(toApiKey);
}

/** A key of the current tenant by id (one Query on its id index), or undefined. */
export async function fromId(id: string): Promise<ApiKey | undefined> {
  const found = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      IndexName: "gsi2",
      KeyConditionExpression: "gsi2pk = :pk",
      ExpressionAttributeValues: { ":pk": ApiKeyKeys.byId(useTenantId(), id).gsi2pk },
    }),
  );
  const item = found.Items?.[0];
  return item ? toApiKey(item) : undefined;
}

/** Revokes a key of the current tenant; it stops working within the API's auth cache time. */
export async function revoke(id: string): Promise<ApiKey> {
  // Revoking twice keeps the first revocation time.
  return update(id, (current) =>
    current.revoked_at ? undefined : { expression: "SET revoked_at = :now", values: { ":now": nowIso() } },
  );
}

/** Sets (or clears, with null) a key's expiry time. */
export async function expire(id: string, at: string | null = nowIso()): Promise<ApiKey> {
  return update(id, () => ({ expression: "SET expires_at = :at", values: { ":at": at } }));
}

type Change = { expression: string; values: Record<string, unknown> } | undefined;

async function update(id: string, change: (current: ApiKey) => Change): Promise<ApiKey> {
  const tenantId = useTenantId();
  const found = await useDynamo().send(
    new QueryCommand({
      TableName: mainTable(),
      IndexName: "gsi2",
      KeyConditionExpression: "gsi2pk = :pk",
      ExpressionAttributeValues: { ":pk": ApiKeyKeys.byId(tenantId, id).gsi2pk },
    }),
  );
  const item = found.Items?.[0];
  if (!item) throw new NotFoundError(`API key ${id} not found`);
  const wanted = change(toApiKey(item));
  if (!wanted) return toApiKey(item);
  const { expression, values } = wanted;
  try {
    const result = await useDynamo().send(
      new UpdateCommand({
        TableName: mainTable(),
        Key: { pk: item.pk, sk: item.sk },
        UpdateExpression: expression,
        ConditionExpression: "tenant_id = :tenant",
        ExpressionAttributeValues: { ...values, ":tenant": tenantId },
        ReturnValues: "ALL_NEW",
      }),
    );
    return toApiKey(result.Attributes ?? {});
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) throw new NotFoundError(`API key ${id} not found`);
    throw error;
  }
}

function toApiKey(item: Record<string, unknown>): ApiKey {
  const k = item as ApiKey;
  return {
    id: k.id,
    tenant_id: k.tenant_id,
    name: k.name,
    prefix: k.prefix,
    role: k.role ?? DEFAULT_ROLE,
    created: k.created,
    expires_at: k.expires_at ?? null,
    revoked_at: k.revoked_at ?? null,
  };
}
