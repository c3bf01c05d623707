import { createHash } from "node:crypto";
import { key } from "../dynamo/keys.js";

export function padMapIndex(mapIndex: number): string {
  // -1 (the parent) sorts before every child.
  return mapIndex < 0 ? "-" : mapIndex.toString().padStart(8, "0");
}

/**
 * Task run items in the main table. A task run's id is derived from (flow run, task, map index),
 * so creating a mapped child is one conditional put: exactly once under concurrent asks.
 * - task run:              pk `<t>#task-run#<id>`   sk `task-run`
 *   task runs of a run:    gsi1pk `<t>#flow-run#<flowRunId>#task-runs`  gsi1sk `<taskId>#<mapIndex padded>`
 * - Cached task runs (sparse: the pk attributes are written at creation, the sk only while the
 *   run is Cached, so only Cached runs are in these indexes), for the client's cached-state query:
 *   by task:               gsi2pk `<t>#task#<taskId>#cached`            gsi2sk `<state_timestamp>#<id>`
 *   by cache key:          gsi3pk `<t>#cache-key#<sha256(key)>#cached`  gsi3sk `<state_timestamp>#<id>`
 * - state history:         inline in the item; once that is full, entries `state#<version padded>`
 *                          in the item's partition (core/src/state/history.ts)
 */
export const TaskRunKeys = {
  run: (t: string, id: string) => ({ pk: key(t, "task-run", id), sk: "task-run" }),
  ofFlowRun: (t: string, flowRunId: string, taskId: string, mapIndex: number) => ({
    gsi1pk: key(t, "flow-run", flowRunId, "task-runs"),
    gsi1sk: key(taskId, padMapIndex(mapIndex)),
  }),
  cachedOfTask: (t: string, taskId: string) => ({ gsi2pk: key(t, "task", taskId, "cached") }),
  cachedOfKey: (t: string, cacheKey: string) => ({
    gsi3pk: key(t, "cache-key", createHash("sha256").update(cacheKey).digest("hex"), "cached"),
  }),
  /** The sort key of a run in the Cached indexes: newest first when read backwards. */
  cachedSk: (stateTimestamp: string, id: string) => key(stateTimestamp, id),
};
