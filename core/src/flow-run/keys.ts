import { key } from "../dynamo/keys.js";

/**
 * Flow run and task run items in the main table (each run its own partition, so a busy tenant
 * spreads over many partitions).
 * - flow run:              pk `<t>#flow-run#<id>`   sk `flow-run`
 *   runs of a flow:        gsi1pk `<t>#flow#<flowId>#runs`     gsi1sk `<created ISO>#<id>`
 *   runs of a tenant:      gsi2pk `<t>#flow-runs`              gsi2sk `<created ISO>#<id>`
 *   ready for agents:      ready_pk `<t>#ready`  ready_sk `<start ISO>#<id>`  (sparse: only while runnable)
 * - state history entry:   pk `<t>#flow-run#<id>`   sk `state#<version padded>`
 * - task run:              pk `<t>#task-run#<id>`   sk `task-run`
 *   task runs of a run:    gsi1pk `<t>#flow-run#<flowRunId>#task-runs`  gsi1sk `<taskId>#<mapIndex padded>`
 * - flow-run idempotency:  pk `<t>#flow#<flowId>#idem#<key>`  sk `lock` (never expires)
 */
export function padMapIndex(mapIndex: number): string {
  // -1 (the parent) sorts before every child.
  return mapIndex < 0 ? "-" : mapIndex.toString().padStart(8, "0");
}

export const FlowRunKeys = {
  run: (t: string, id: string) => ({ pk: key(t, "flow-run", id), sk: "flow-run" }),
  ofFlow: (t: string, flowId: string, created: string, id: string) => ({
    gsi1pk: key(t, "flow", flowId, "runs"),
    gsi1sk: key(created, id),
  }),
  ofTenant: (t: string, created: string, id: string) => ({
    gsi2pk: key(t, "flow-runs"),
    gsi2sk: key(created, id),
  }),
  ready: (t: string, startTime: string, id: string) => ({
    ready_pk: key(t, "ready"),
    ready_sk: key(startTime, id),
  }),
  stateEntry: (t: string, id: string, version: number) => ({
    pk: key(t, "flow-run", id),
    sk: key("state", version.toString().padStart(10, "0")),
  }),
  taskRun: (t: string, id: string) => ({ pk: key(t, "task-run", id), sk: "task-run" }),
  taskRunOfFlowRun: (t: string, flowRunId: string, taskId: string, mapIndex: number) => ({
    gsi1pk: key(t, "flow-run", flowRunId, "task-runs"),
    gsi1sk: key(taskId, padMapIndex(mapIndex)),
  }),
  idempotency: (t: string, flowId: string, idempotencyKey: string) => ({
    pk: key(t, "flow", flowId, "idem", idempotencyKey),
    sk: "lock",
  }),
};
