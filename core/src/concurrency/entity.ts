import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { ConcurrencyKeys } from "./keys.js";

/**
 * A task tag concurrency limit (Prefect Cloud's `task_tag_limit`): at most `limit` task runs
 * carrying `tag` are Running at once. `used` is its slot counter (hidden: read through
 * `task_concurrency`); `id` is kept by every update and new when the limit is created again.
 */
export const TaskTagLimitEntity = defineEntity({
  name: "task_tag_limit",
  itemName: "task-tag-limit",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    tag: attr.string(),
    limit: attr.int(),
    used: attr.int().default(0),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  hidden: ["used"],
  key: (l: { tenant_id: string; tag: string }) => ConcurrencyKeys.taskTag(l.tenant_id, l.tag),
});
export type TaskTagLimit = EntityOf<typeof TaskTagLimitEntity>;

/**
 * A flow run concurrency limit by label (Prefect Cloud's `flow_concurrency_limit`, its label
 * in `name`): at most `limit` flow runs with the label are Submitted or Running at once.
 */
export const FlowLabelLimitEntity = defineEntity({
  name: "flow_concurrency_limit",
  itemName: "flow-label-limit",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    name: attr.string(),
    limit: attr.int(),
    used: attr.int().default(0),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  hidden: ["used"],
  key: (l: { tenant_id: string; name: string }) => ConcurrencyKeys.flowLabel(l.tenant_id, l.name),
});
export type FlowLabelLimit = EntityOf<typeof FlowLabelLimitEntity>;
