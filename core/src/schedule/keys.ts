import { createHash } from "node:crypto";
import { key } from "../dynamo/keys.js";

/** Partitions of the `due` index: every tick Queries each once, so reads per tick are constant. */
export const DUE_SHARDS = 16;

export function shardOf(t: string, groupId: string): number {
  return createHash("sha1").update(t).update("\u0000").update(groupId).digest().readUInt16BE(0) % DUE_SHARDS;
}

/**
 * The due-schedule index: one item per flow group whose schedule is active, in the group's own
 * partition (so maintaining it never contends with other groups):
 * - active schedule:  pk `<t>#flow-group#<groupId>`  sk `schedule`
 *   due for a tick:   due_pk `schedule-due#<shard>`  due_sk `<next due ISO>#<t>#<groupId>`
 *
 * `due_pk` is the one key that does not begin with a tenant: the scheduler is a system actor that
 * must find due work across all tenants, and a per-tenant partition would cost one Query per
 * tenant per minute whether or not anything is due. The shard is a hash of (tenant, group), so
 * the index's writes (one per schedule per firing) spread over `DUE_SHARDS` partitions instead
 * of one hot "now" partition, and a tick reads `DUE_SHARDS` Query pages plus the items due, never
 * the schedules that are not due. Only the scheduler's role reads this index.
 */
export const ScheduleKeys = {
  schedule: (t: string, groupId: string) => ({ pk: key(t, "flow-group", groupId), sk: "schedule" }),
  due: (t: string, groupId: string, nextDue: string) => ({
    due_pk: ScheduleKeys.duePartition(shardOf(t, groupId)),
    due_sk: key(nextDue, t, groupId),
  }),
  duePartition: (shard: number) => key("schedule-due", shard),
};
