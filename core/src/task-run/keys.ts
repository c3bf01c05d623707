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
 * - state history:         inline in the item; once that is full, entries `state#<version padded>`
 *                          in the item's partition (core/src/state/history.ts)
 */
export const TaskRunKeys = {
  run: (t: string, id: string) => ({ pk: key(t, "task-run", id), sk: "task-run" }),
  ofFlowRun: (t: string, flowRunId: string, taskId: string, mapIndex: number) => ({
    gsi1pk: key(t, "flow-run", flowRunId, "task-runs"),
    gsi1sk: key(taskId, padMapIndex(mapIndex)),
  }),
};
