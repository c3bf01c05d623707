import { createHash } from "node:crypto";
import { key } from "../dynamo/keys.js";
import { isRunning } from "../state/types.js";

/** Partitions of each kind of the `watch` index: a scheduler tick Queries each once per kind. */
export const WATCH_SHARDS = 16;

/**
 * What the scheduler watches a run for, by state: a Scheduled run for lateness (reference: its
 * start time), one marked late for the skip-late policy (reference: when it becomes too late), a
 * Submitted run for turning Running (reference: when it was submitted), a Running or Cancelling
 * run for its heartbeat (reference: its last sign of life).
 */
export const WATCH_KINDS = ["scheduled", "skip", "submitted", "heartbeat"] as const;
export type WatchKind = (typeof WATCH_KINDS)[number];

/** Run ids are UUIDs (random or hashed): their last byte spreads runs evenly over the shards. */
export function watchShard(id: string): number {
  const byte = Number.parseInt(id.slice(-2), 16);
  return (Number.isNaN(byte) ? 0 : byte) % WATCH_SHARDS;
}

/**
 * Flow run items in the main table (each run its own partition, so a busy tenant spreads over
 * many partitions).
 * - flow run:              pk `<t>#flow-run#<id>`   sk `flow-run`
 *   runs of a flow:        gsi1pk `<t>#flow#<flowId>#runs`  gsi1sk `<created ISO>#<id>`
 *   runs of a flow group:  gsi2pk `<t>#flow-group#<groupId>#runs`  gsi2sk `<scheduled start ISO>#<id>`
 *   runs of a tenant:      gsi3pk `<t>#flow-runs`           gsi3sk `<created ISO>#<id>`
 *   runs with a name:      gsi4pk `<t>#flow-run-name#<name>`  gsi4sk `<created ISO>#<id>`
 *     (keys only: written at creation and by a rename, never by a transition or heartbeat)
 *   started runs:          due_pk `<t>#flow-runs-started`   due_sk `<start ISO>#<id>`
 *     (sparse: written by the run's first Running, with `start_time`; in the `due` index beside
 *     the scheduler's shards, whose partitions never begin with a tenant)
 *   ready for agents:      ready_pk `<t>#queue#<label set id>`  ready_sk `<start ISO>#<id>`
 *     (the agents' queue, one partition per distinct label set of a tenant, see `labelSetId`;
 *     sparse: `ready_pk` stays on the run for good, `ready_sk` is there only while an agent
 *     should act, and an item is in the index only with both. Written before this layout by
 *     `<t>#ready` for every run, see core/src/flow-run/ready-index.ts for the migration.)
 * - label sets with runs in the agents' queue: pk `<t>#queue-sets`  sk `<label set id>`
 *     (one small item per label set, written when a run with a label set not written lately
 *     enters the queue; core/src/flow-run/ready-index.ts)
 *   watched by the scheduler: watch_pk `run-watch#<kind>#<shard>`  watch_sk `<reference ISO>#<t>#<id>`
 *     (sparse: only while the run is Scheduled, Submitted, Running or Cancelling; see `watchFor`
 *     and core/src/schedule/health.ts. Like the `due` index, its partitions are shared by all
 *     tenants so that one tick finds what needs attention with a constant number of Queries.)
 * - state history:         inline in the item; once that is full, entries `state#<version padded>`
 *                          in the item's partition (core/src/state/history.ts)
 * A run created with an idempotency key has an id derived from (tenant, flow, key), so the
 * run item itself is the lock: no separate item, and no lock without its run after a crash.
 */
export const FlowRunKeys = {
  run: (t: string, id: string) => ({ pk: key(t, "flow-run", id), sk: "flow-run" }),
  ofFlow: (t: string, flowId: string, created: string, id: string) => ({
    gsi1pk: key(t, "flow", flowId, "runs"),
    gsi1sk: key(created, id),
  }),
  ofGroup: (t: string, groupId: string, scheduledStart: string, id: string) => ({
    gsi2pk: key(t, "flow-group", groupId, "runs"),
    gsi2sk: key(scheduledStart, id),
  }),
  ofTenant: (t: string, created: string, id: string) => ({
    gsi3pk: key(t, "flow-runs"),
    gsi3sk: key(created, id),
  }),
  byName: (t: string, name: string, created: string, id: string) => ({
    gsi4pk: key(t, "flow-run-name", name),
    gsi4sk: key(created, id),
  }),
  started: (t: string, startTime: string, id: string) => ({
    due_pk: key(t, "flow-runs-started"),
    due_sk: key(startTime, id),
  }),
  /** A run's place in the agents' queue: its label set's partition, ordered by start time. */
  ready: (t: string, labels: readonly string[], startTime: string, id: string) => ({
    ready_pk: FlowRunKeys.readyPartition(t, labelSetId(labels)),
    ready_sk: key(startTime, id),
  }),
  readyPartition: (t: string, setId: string) => key(t, "queue", setId),
  /** The partition every ready run of a tenant had before the queue was split by label set. */
  legacyReadyPartition: (t: string) => key(t, "ready"),
  readySet: (t: string, setId: string) => ({ pk: FlowRunKeys.readySetsPartition(t), sk: setId }),
  readySetsPartition: (t: string) => key(t, "queue-sets"),
  watch: (kind: WatchKind, t: string, reference: string, id: string) => ({
    watch_pk: FlowRunKeys.watchPartition(kind, watchShard(id)),
    watch_sk: key(reference, t, id),
  }),
  watchPartition: (kind: WatchKind, shard: number) => key("run-watch", kind, shard),
};

/**
 * The watch-index entry a run entering `state` gets from the same write (the transition, or the
 * heartbeat for `heartbeat`), or "remove" when nothing about the state needs watching.
 */
export function watchFor(
  t: string,
  id: string,
  state: string,
  startTime: string | null,
  now: string,
): { watch_pk: string; watch_sk: string } | "remove" {
  if (state === "Scheduled") return FlowRunKeys.watch("scheduled", t, startTime ?? now, id);
  if (state === "Submitted") return FlowRunKeys.watch("submitted", t, now, id);
  if (isRunning(state)) return FlowRunKeys.watch("heartbeat", t, now, id);
  return "remove";
}

/**
 * The id of a label set (order and repeats ignored): 128 bits of SHA-256 over the JSON of the
 * sorted, distinct labels, so a run's queue partition follows from its labels alone.
 */
export function labelSetId(labels: readonly string[]): string {
  const canonical = JSON.stringify([...new Set(labels)].sort());
  return createHash("sha256").update(canonical).digest("hex").slice(0, 32);
}

/** Whether an agent with `agentLabels` takes runs labelled `runLabels` (Prefect Server's rule). */
export function agentTakes(agentLabels: ReadonlySet<string>, runLabels: readonly string[]): boolean {
  // A run's labels must all be the agent's; an unlabelled run goes only to agents without labels.
  if (runLabels.length === 0) return agentLabels.size === 0;
  return runLabels.every((label) => agentLabels.has(label));
}
