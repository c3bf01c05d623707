import * as z from "zod";
import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { key } from "../dynamo/keys.js";

export const HOOK_TYPES = ["WEBHOOK", "SLACK_WEBHOOK", "PREFECT_MESSAGE"] as const;
export type HookType = (typeof HOOK_TYPES)[number];

/**
 * A cloud hook (Prefect Cloud 1.0): what to call when a flow run of the workspace (or of one flow,
 * by `version_group_id`) enters one of `states`. A workspace's hooks share one partition
 * (`<t>#cloud-hooks`, at most `MAX_HOOKS`), so matching an event is one Query. `signing_secret`
 * signs webhook bodies (./sign.ts): shown once, when the hook is created, never read back.
 */
export const CloudHookEntity = defineEntity({
  name: "cloud_hook",
  itemName: "cloud-hook",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    name: attr.string().nullable().default(null),
    type: attr.string(),
    /** Upper-case state names (`FAILED`, `SUCCESS`, ...), as Prefect Cloud stored them. */
    states: attr.jsonOf(z.array(z.string())),
    config: attr.jsonOf(z.record(z.string(), z.unknown())).default({}),
    version_group_id: attr.string().nullable().default(null),
    active: attr.boolean(),
    created: attr.timestamp(),
    updated: attr.timestamp(),
    signing_secret: attr.string(),
  },
  hidden: ["signing_secret"],
  key: (h: { tenant_id: string; id: string }) => HookKeys.hook(h.tenant_id, h.id),
});
export type CloudHook = EntityOf<typeof CloudHookEntity>;

export const DELIVERY_STATUSES = ["PENDING", "DELIVERED", "FAILED"] as const;

/** One attempt of a delivery, as its log keeps it. */
export const attemptSchema = z.object({
  at: z.string(),
  status_code: z.number().int().nullable(),
  latency_ms: z.number().int(),
  error: z.string().nullable(),
});
export type Attempt = z.infer<typeof attemptSchema>;

/**
 * One event's delivery to one hook: its attempts (the newest `MAX_LOGGED_ATTEMPTS` of them with
 * their times, status codes, latencies and errors) and where it stands. Keyed by the event's time
 * and id under the hook (`<t>#cloud-hook-deliveries#<hook>`, `<event time>#<event id>`), so the
 * same event redelivered finds its own record, and a hook's deliveries read newest first. They
 * expire after `DELIVERY_RETENTION_DAYS` (the table's TTL).
 */
export const CloudHookDeliveryEntity = defineEntity({
  name: "cloud_hook_delivery",
  itemName: "cloud-hook-delivery",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    cloud_hook_id: attr.uuid(),
    event_id: attr.uuid(),
    event_type: attr.string(),
    event_timestamp: attr.timestamp(),
    flow_run_id: attr.uuid().nullable().default(null),
    state: attr.string().nullable().default(null),
    is_test_event: attr.boolean().default(false),
    status: attr.string(),
    attempts: attr.int(),
    response_code: attr.int().nullable().default(null),
    latency_ms: attr.int().nullable().default(null),
    error: attr.string().nullable().default(null),
    attempt_log: attr.jsonOf(z.array(attemptSchema)).default([]),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  key: (d: { tenant_id: string; cloud_hook_id: string; event_timestamp: string; event_id: string }) =>
    HookKeys.delivery(d.tenant_id, d.cloud_hook_id, d.event_timestamp, d.event_id),
});
export type CloudHookDelivery = EntityOf<typeof CloudHookDeliveryEntity>;

export const HookKeys = {
  partition: (t: string) => key(t, "cloud-hooks"),
  hook: (t: string, id: string) => ({ pk: key(t, "cloud-hooks"), sk: key("hook", id) }),
  deliveries: (t: string, hookId: string) => key(t, "cloud-hook-deliveries", hookId),
  delivery: (t: string, hookId: string, at: string, eventId: string) => ({
    pk: key(t, "cloud-hook-deliveries", hookId),
    sk: key(at, eventId),
  }),
};
