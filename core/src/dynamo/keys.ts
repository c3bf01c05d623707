import { useTenantId } from "../actor.js";

/** Joins key parts with `#`; parts must not contain `#` themselves (ids are UUIDs). */
export function key(...parts: Array<string | number>): string {
  return parts.join("#");
}

/** A key inside the current tenant's prefix: `<tenantId>#part#part`. */
export function tenantKey(...parts: Array<string | number>): string {
  return key(useTenantId(), ...parts);
}

/** Item attributes that are storage plumbing, never returned to callers. */
export const STORAGE_ATTRIBUTES = [
  "pk",
  "sk",
  "gsi1pk",
  "gsi1sk",
  "gsi2pk",
  "gsi2sk",
  "gsi3pk",
  "gsi3sk",
  "gsi4pk",
  "gsi4sk",
  "ready_pk",
  "ready_sk",
  "watch_pk",
  "watch_sk",
  "due_pk",
  "due_sk",
  "ttl_epoch",
  // A run's inline state history (core/src/state/history.ts), read through its own functions.
  "history",
  "history_bytes",
  "history_from",
] as const;

export function stripStorage<T extends Record<string, unknown>>(
  item: T,
): Omit<T, (typeof STORAGE_ATTRIBUTES)[number]> {
  const copy: Record<string, unknown> = { ...item };
  for (const attribute of STORAGE_ATTRIBUTES) delete copy[attribute];
  return copy as Omit<T, (typeof STORAGE_ATTRIBUTES)[number]>;
}
