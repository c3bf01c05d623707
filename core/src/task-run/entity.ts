import * as z from "zod";
import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { TaskRunKeys } from "./keys.js";

/**
 * A task run. Its id follows from (flow run, task, map index) (`taskRunId`); the Cached indexes'
 * sort keys are written only while it is Cached (see ./keys.ts).
 */
export const TaskRunEntity = defineEntity({
  name: "task_run",
  itemName: "task-run",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    flow_run_id: attr.uuid(),
    task_id: attr.uuid(),
    task_slug: attr.string(),
    map_index: attr.int(),
    name: attr.string().nullable().default(null),
    version: attr.int(),
    state: attr.string(),
    serialized_state: attr.json(),
    state_message: attr.string().nullable().default(null),
    state_timestamp: attr.timestamp(),
    state_start_time: attr.timestamp().nullable().default(null),
    // Absent until the first Running state: `if_not_exists(start_time, ...)` treats a stored NULL as set.
    start_time: attr.timestamp().nullable().default(null),
    end_time: attr.timestamp().nullable().default(null),
    heartbeat: attr.timestamp().nullable().default(null),
    cache_key: attr.string().nullable().default(null),
    created: attr.timestamp(),
    updated: attr.timestamp(),
    /** Its task's tags when it was created (the task run's concurrency limits); absent on older runs. */
    task_tags: attr.jsonOf(z.array(z.string())).optional(),
    /** The concurrency slots it holds while Running (core/src/concurrency/slots.ts). */
    slots: attr.jsonOf(z.record(z.string(), z.string())).optional(),
  },
  hidden: ["task_tags", "slots"],
  key: (r: { tenant_id: string; id: string }) => TaskRunKeys.run(r.tenant_id, r.id),
  indexes: (r) => ({
    ...TaskRunKeys.ofFlowRun(r.tenant_id, r.flow_run_id, r.task_id, r.map_index),
    ...TaskRunKeys.cachedOfTask(r.tenant_id, r.task_id),
    ...(r.cache_key ? TaskRunKeys.cachedOfKey(r.tenant_id, r.cache_key) : {}),
  }),
});
export type TaskRun = EntityOf<typeof TaskRunEntity>;
