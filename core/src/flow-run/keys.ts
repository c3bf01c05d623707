import { key } from "../dynamo/keys.js";

/**
 * Flow run items in the main table (each run its own partition, so a busy tenant spreads over
 * many partitions).
 * - flow run:              pk `<t>#flow-run#<id>`   sk `flow-run`
 *   runs of a flow:        gsi1pk `<t>#flow#<flowId>#runs`  gsi1sk `<created ISO>#<id>`
 *   runs of a flow group:  gsi2pk `<t>#flow-group#<groupId>#runs`  gsi2sk `<scheduled start ISO>#<id>`
 *   runs of a tenant:      gsi3pk `<t>#flow-runs`           gsi3sk `<created ISO>#<id>`
 *   ready for agents:      ready_pk `<t>#ready`  ready_sk `<start ISO>#<id>`  (sparse: only while an agent should act)
 * - state history entry:   pk `<t>#flow-run#<id>`   sk `state#<version padded>`
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
  ready: (t: string, startTime: string, id: string) => ({
    ready_pk: key(t, "ready"),
    ready_sk: key(startTime, id),
  }),
  readyPartition: (t: string) => key(t, "ready"),
  stateEntry: (t: string, id: string, version: number) => ({
    pk: key(t, "flow-run", id),
    sk: key("state", version.toString().padStart(10, "0")),
  }),
};
