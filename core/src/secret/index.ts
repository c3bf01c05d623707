import { TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import { KMSClient } from "@aws-sdk/client-kms";
import { GetCommand, TransactWriteCommand } from "@aws-sdk/lib-dynamodb";
import * as z from "zod";
import { actingKeyId, useTenantId } from "../actor.js";
import * as Audit from "../audit/index.js";
import { useConfig } from "../config.js";
import { mainTable, useDynamo } from "../dynamo/client.js";
import { cancellationCodes, queryItems } from "../dynamo/operations.js";
import {
  DroverError,
  LimitExceededError,
  NotFoundError,
  RetryableError,
  ValidationError,
} from "../errors.js";
import { nowIso } from "../ids.js";
import { formatIssues, storable } from "../storable.js";
import { type KeyProvider, kmsKeys, localKeys, open, SecretKeyMismatchError, seal } from "./cipher.js";
import { type Secret, SecretEntity, SecretKeys } from "./entity.js";

/**
 * Workspace secrets, Prefect Cloud 1.0's `set_secret` / `delete_secret` / `secret_value` /
 * `secret_names`. Values are JSON, sealed before they are stored (./cipher.ts); a name is listed,
 * a value is only ever returned by `value`, and every set, delete and read is in the audit log
 * (a read is refused if its entry cannot be written).
 */

/** UTF-8 bytes of a value as JSON. */
export const MAX_SECRET_BYTES = 32 * 1024;
/** Secrets one workspace may hold. */
export const MAX_SECRETS = 1000;

/** The message Prefect's client turns into a KeyError ("The secret X was not found"). */
export const MISSING_SECRET = "No value found for the requested key";

const nameSchema = z
  .string()
  .min(1, "must not be empty")
  .max(255, "is at most 255 characters")
  .refine((name) => name.trim() === name, "must not start or end with whitespace");

const setInput = z.object({
  name: nameSchema,
  value: z
    .unknown()
    .refine((v) => v !== undefined && v !== null, "is required (a JSON value)")
    .superRefine(storable({ as: "json", maxBytes: MAX_SECRET_BYTES })),
});

let provider: { config: unknown; keys: KeyProvider } | undefined;

function keys(): KeyProvider {
  const config = useConfig().secretsKey;
  if (!config) {
    throw new DroverError(
      "FAILED_PRECONDITION",
      "Secrets are not configured on this deployment (set DROVER_SECRETS_KMS_KEY_ID, or DROVER_SECRETS_KEY locally).",
    );
  }
  if (provider?.config !== config) {
    provider = {
      config,
      keys:
        config.kind === "kms"
          ? kmsKeys(new KMSClient({ region: useConfig().region }), config.keyId)
          : localKeys(config.key),
    };
  }
  return provider.keys;
}

function parseName(name: unknown): string {
  const parsed = nameSchema.safeParse(name);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error, "name"));
  return parsed.data;
}

/** Sets (creates or replaces) a secret; the workspace's count is kept in the same transaction. */
export async function set(raw: { name: unknown; value: unknown }): Promise<void> {
  const parsed = setInput.safeParse(raw);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error));
  const { name, value } = parsed.data;
  const t = useTenantId();
  const json = JSON.stringify(value);
  const sealed = await seal(keys(), json, { tenantId: t, name });
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await useDynamo().send(
      new GetCommand({
        TableName: mainTable(),
        Key: SecretKeys.item(t, name),
        ConsistentRead: true,
        ProjectionExpression: "created",
      }),
    );
    const now = nowIso();
    const created = existing.Item ? String(existing.Item.created) : now;
    const item = SecretEntity.toItem({
      tenant_id: t,
      name,
      sealed,
      value_bytes: Buffer.byteLength(json, "utf8"),
      created,
      updated: now,
      updated_by: actingKeyId(),
    });
    const audit = Audit.entry("secret.set", name, { created: !existing.Item });
    try {
      await useDynamo().send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: mainTable(),
                Item: item,
                ConditionExpression: existing.Item ? "attribute_exists(pk)" : "attribute_not_exists(pk)",
              },
            },
            ...(existing.Item
              ? []
              : [
                  {
                    Update: {
                      TableName: mainTable(),
                      Key: SecretKeys.count(t),
                      UpdateExpression: "ADD secrets :one SET entity = :entity",
                      ConditionExpression: "attribute_not_exists(secrets) OR secrets < :max",
                      ExpressionAttributeValues: {
                        ":one": 1,
                        ":max": MAX_SECRETS,
                        ":entity": "secret-count",
                      },
                    },
                  },
                ]),
            { Put: { TableName: mainTable(), Item: audit.item } },
          ],
        }),
      );
      return;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const codes = cancellationCodes(error);
      if (codes[1] === "ConditionalCheckFailed" && codes[0] !== "ConditionalCheckFailed") {
        throw new LimitExceededError(
          `This workspace holds ${MAX_SECRETS} secrets, the most it may; delete one to set another.`,
        );
      }
      // The secret appeared or went meanwhile: look again.
      if (!codes.includes("ConditionalCheckFailed")) throw error;
    }
  }
  throw new RetryableError("The secret was changed concurrently; try again.");
}

/** Deletes a secret; NOT_FOUND when there is none of that name. */
export async function remove(rawName: unknown): Promise<void> {
  const name = parseName(rawName);
  const t = useTenantId();
  try {
    await useDynamo().send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Delete: {
              TableName: mainTable(),
              Key: SecretKeys.item(t, name),
              ConditionExpression: "attribute_exists(pk)",
            },
          },
          {
            Update: {
              TableName: mainTable(),
              Key: SecretKeys.count(t),
              UpdateExpression: "ADD secrets :minus",
              ExpressionAttributeValues: { ":minus": -1 },
            },
          },
          { Put: { TableName: mainTable(), Item: Audit.entry("secret.delete", name).item } },
        ],
      }),
    );
  } catch (error) {
    if (cancellationCodes(error)[0] === "ConditionalCheckFailed")
      throw new NotFoundError(`Secret ${JSON.stringify(name)} not found`);
    throw error;
  }
}

/**
 * A secret's value as it was set (`secret_value`), its read recorded first: no entry, no value.
 * A missing secret answers the message Prefect's client recognises.
 */
export async function value(rawName: unknown): Promise<unknown> {
  const name = parseName(rawName);
  const t = useTenantId();
  const secret = await SecretEntity.get({ tenant_id: t, name }, { consistent: true });
  if (!secret) throw new NotFoundError(`${MISSING_SECRET}: ${JSON.stringify(name)}`);
  await Audit.record("secret.read", name);
  try {
    return JSON.parse(await open(keys(), secret.sealed, { tenantId: t, name }));
  } catch (error) {
    if (error instanceof SecretKeyMismatchError) {
      throw new DroverError(
        "FAILED_PRECONDITION",
        `Secret ${JSON.stringify(name)} cannot be opened with this deployment's key: ${error.message}. Set it again.`,
      );
    }
    throw error;
  }
}

/** The names of the workspace's secrets, in name order (never their values). */
export async function names(): Promise<string[]> {
  const found: string[] = [];
  for await (const item of queryItems({
    TableName: mainTable(),
    IndexName: "gsi1",
    KeyConditionExpression: "gsi1pk = :pk",
    ExpressionAttributeValues: { ":pk": SecretKeys.listPartition(useTenantId()) },
    ProjectionExpression: "#name",
    ExpressionAttributeNames: { "#name": "name" },
  })) {
    found.push(String(item.name));
  }
  return found;
}

export type { Secret };
