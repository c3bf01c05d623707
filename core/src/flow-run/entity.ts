import * as z from "zod";
import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { FlowRunKeys } from "./keys.js";

const record = () => z.record(z.string(), z.unknown());

/**
 * A flow run. Its place in the agents' queue (`ready_*`) and in the scheduler's watch index
 * (`watch_*`) depends on its state and is written by its transitions (see ./keys.ts); its state
 * history travels in the item (core/src/state/history.ts).
 */
export const FlowRunEntity = defineEntity({
  name: "flow_run",
  itemName: "flow-run",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    flow_id: attr.uuid(),
    flow_group_id: attr.uuid(),
    project_id: attr.uuid(),
    name: attr.string(),
    labels: attr.jsonOf(z.array(z.string())).default([]),
    parameters: attr.jsonOf(record()).default({}),
    context: attr.jsonOf(record()).default({}),
    run_config: attr.json(),
    version: attr.int(),
    state: attr.string(),
    serialized_state: attr.json(),
    state_message: attr.string().nullable().default(null),
    state_timestamp: attr.timestamp(),
    state_start_time: attr.timestamp().nullable().default(null),
    // Absent until the first Running state: `if_not_exists(start_time, ...)` treats a stored NULL as set.
    start_time: attr.timestamp().nullable().default(null),
    end_time: attr.timestamp().nullable().default(null),
    scheduled_start_time: attr.timestamp(),
    heartbeat: attr.timestamp().nullable().default(null),
    idempotency_key: attr.string().nullable().default(null),
    auto_scheduled: attr.boolean().default(false),
    agent_id: attr.uuid().nullable().default(null),
    // Set by the scheduler's late check (core/src/schedule/health.ts); null until then.
    is_late: attr.boolean().nullable().default(null),
    late_reason: attr.string().nullable().default(null),
    lazarus_count: attr.int().nullable().default(null),
    // Set on runs a backfill asked for (core/src/schedule/backfill.ts); null otherwise.
    backfilled: attr.boolean().nullable().default(null),
    created: attr.timestamp(),
    updated: attr.timestamp(),
    /** Set on scheduler-created runs until their task runs exist (`createScheduled`, `setState`). */
    task_runs_deferred: attr.boolean().optional(),
    /** The concurrency slots it holds while Submitted or Running (core/src/concurrency/slots.ts). */
    slots: attr.jsonOf(z.record(z.string(), z.string())).optional(),
  },
  hidden: ["task_runs_deferred", "slots"],
  key: (r: { tenant_id: string; id: string }) => FlowRunKeys.run(r.tenant_id, r.id),
  indexes: (r) => ({
    ...FlowRunKeys.ofFlow(r.tenant_id, r.flow_id, r.created, r.id),
    ...FlowRunKeys.ofGroup(r.tenant_id, r.flow_group_id, r.scheduled_start_time, r.id),
    ...FlowRunKeys.ofTenant(r.tenant_id, r.created, r.id),
    ...FlowRunKeys.byName(r.tenant_id, r.name, r.created, r.id),
    ...(r.start_time ? FlowRunKeys.started(r.tenant_id, r.start_time, r.id) : {}),
  }),
});
export type FlowRun = EntityOf<typeof FlowRunEntity>;
