import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { key } from "../dynamo/keys.js";

/**
 * One audited action of a workspace (an admin action, a secret read). Items live in one
 * partition per tenant and calendar month, newest last: `pk <t>#audit#<YYYY-MM>`,
 * `sk <at>#<id>`; read newest first month by month (`Audit.listAll`). They expire after
 * `AUDIT_RETENTION_DAYS` (the table's TTL).
 */
export const AuditEntity = defineEntity({
  name: "audit_entry",
  itemName: "audit",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    at: attr.timestamp(),
    /** What was done, `<subject>.<verb>`: `secret.read`, `secret.set`, `api_key.create`, ... */
    action: attr.string(),
    /** What it was done to (a secret's name, a key's id), when there is one thing. */
    target: attr.string().nullable().default(null),
    /** Who did it: the API key (a dashboard session acts as its key), null for the system. */
    api_key_id: attr.uuid().nullable().default(null),
    role: attr.string().nullable().default(null),
    detail: attr.json(),
  },
  key: (e: { tenant_id: string; at: string; id: string }) => ({
    pk: AuditKeys.month(e.tenant_id, e.at),
    sk: key(e.at, e.id),
  }),
});
export type AuditEntry = EntityOf<typeof AuditEntity>;

export const AuditKeys = {
  month: (t: string, at: string) => key(t, "audit", at.slice(0, 7)),
};
