import { key } from "../dynamo/keys.js";

/**
 * Task run artifact items in the main table (all under the tenant's prefix).
 * - artifact:                 pk `<t>#artifact#<id>`  sk `artifact`
 *   artifacts of a flow run:  gsi1pk `<t>#flow-run#<flowRunId>#artifacts`
 *                             gsi1sk `<taskRunId>#<created ISO>#<id>`
 *     (one Query lists a flow run's artifacts; `begins_with(gsi1sk, "<taskRunId>#")` a task run's,
 *     in created order; one index copy of each artifact serves both)
 * - a task run's count:       pk `<t>#artifact-count#<taskRunId>`  sk `count`  (`artifacts`: a number;
 *     kept in the transaction of each create and delete, removed when it falls to zero)
 */
export const ArtifactKeys = {
  item: (t: string, id: string) => ({ pk: key(t, "artifact", id), sk: "artifact" }),
  ofFlowRun: (t: string, flowRunId: string, taskRunId: string, created: string, id: string) => ({
    gsi1pk: ArtifactKeys.flowRunPartition(t, flowRunId),
    gsi1sk: key(taskRunId, created, id),
  }),
  flowRunPartition: (t: string, flowRunId: string) => key(t, "flow-run", flowRunId, "artifacts"),
  /** The sort key prefix of one task run's artifacts in its flow run's partition. */
  taskRunPrefix: (taskRunId: string) => key(taskRunId, ""),
  count: (t: string, taskRunId: string) => ({ pk: key(t, "artifact-count", taskRunId), sk: "count" }),
};
