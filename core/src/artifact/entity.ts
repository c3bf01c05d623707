import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { ArtifactKeys } from "./keys.js";

/**
 * A task run artifact (Prefect's `task_run_artifact`: a link or a markdown document a task
 * publishes). Hasura's columns, plus `flow_run_id`, so a flow run's artifacts are one Query.
 */
export const ArtifactEntity = defineEntity({
  name: "task_run_artifact",
  itemName: "artifact",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    task_run_id: attr.uuid(),
    flow_run_id: attr.uuid(),
    kind: attr.string(),
    data: attr.json(),
    /** UTF-8 bytes of `data` as JSON: reads charge the request's read budget by it. */
    data_bytes: attr.int().default(0),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  hidden: ["data_bytes"],
  key: (a: { tenant_id: string; id: string }) => ArtifactKeys.item(a.tenant_id, a.id),
  indexes: (a) => ArtifactKeys.ofFlowRun(a.tenant_id, a.flow_run_id, a.task_run_id, a.created, a.id),
});
export type Artifact = EntityOf<typeof ArtifactEntity>;
