import { createHash } from "node:crypto";
import * as z from "zod";
import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { key } from "../dynamo/keys.js";

/**
 * A workspace secret: its value sealed (core/src/secret/cipher.ts), never in a listing or the
 * read language. One item per name (`pk <t>#secret#<sha256(name)>`, so any name makes a bounded
 * key), listed by name through gsi1; the workspace's count is one more item (`SecretKeys.count`).
 */
export const SecretEntity = defineEntity({
  name: "secret",
  attributes: {
    tenant_id: attr.uuid(),
    name: attr.string(),
    sealed: attr.jsonOf(
      z.object({
        v: z.literal(1),
        key: z.union([
          z.object({ kind: z.literal("local"), fingerprint: z.string() }),
          z.object({ kind: z.literal("kms"), id: z.string(), wrapped: z.string() }),
        ]),
        iv: z.string(),
        tag: z.string(),
        data: z.string(),
      }),
    ),
    /** UTF-8 bytes of the value as JSON. */
    value_bytes: attr.int(),
    created: attr.timestamp(),
    updated: attr.timestamp(),
    updated_by: attr.uuid().nullable().default(null),
  },
  key: (s: { tenant_id: string; name: string }) => SecretKeys.item(s.tenant_id, s.name),
  indexes: (s) => ({ gsi1pk: SecretKeys.listPartition(s.tenant_id), gsi1sk: s.name }),
});
export type Secret = EntityOf<typeof SecretEntity>;

export const SecretKeys = {
  item: (t: string, name: string) => ({
    pk: key(t, "secret", createHash("sha256").update(name).digest("hex")),
    sk: "secret",
  }),
  listPartition: (t: string) => key(t, "secrets"),
  count: (t: string) => ({ pk: key(t, "secrets"), sk: "count" }),
};
