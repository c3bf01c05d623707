import * as z from "zod";
import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { FlowKeys } from "./keys.js";

type Located = { tenant_id: string; id: string };
const record = () => z.record(z.string(), z.unknown());
const strings = () => z.array(z.string());

/** Everything the versions of one flow share; its settings override each version's. */
export const FlowGroupEntity = defineEntity({
  name: "flow_group",
  itemName: "flow-group",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    project_id: attr.uuid(),
    version_group_id: attr.string(),
    name: attr.string(),
    labels: attr.jsonOf(strings().nullable()).default(null),
    default_parameters: attr.jsonOf(record().nullable()).default(null),
    run_config: attr.jsonOf(record().nullable()).default(null),
    description: attr.string().nullable().default(null),
    schedule: attr.json(),
    settings: attr.jsonOf(record()).default({}),
    latest_flow_id: attr.uuid().nullable().default(null),
    latest_version: attr.int().nullable().default(null),
    latest_idempotency_key: attr.string().nullable().default(null),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  hidden: ["latest_flow_id", "latest_version", "latest_idempotency_key"],
  key: (g: Located) => FlowKeys.group(g.tenant_id, g.id),
  indexes: (g) => FlowKeys.groupsOfTenant(g.tenant_id, g.created, g.id),
});
export type FlowGroup = EntityOf<typeof FlowGroupEntity>;

/** One registered version of a flow; its serialized form is stored compressed beside it. */
export const FlowEntity = defineEntity({
  name: "flow",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    project_id: attr.uuid(),
    flow_group_id: attr.uuid(),
    version_group_id: attr.string(),
    name: attr.string(),
    version: attr.int(),
    archived: attr.boolean(),
    description: attr.string().nullable().default(null),
    parameters: attr.jsonOf(z.array(z.unknown())).default([]),
    environment: attr.json(),
    run_config: attr.json(),
    storage: attr.json(),
    core_version: attr.string().nullable().default(null),
    settings: attr.jsonOf(record()).default({}),
    schedule: attr.json(),
    is_schedule_active: attr.boolean(),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  key: (f: Located) => FlowKeys.flow(f.tenant_id, f.id),
  indexes: (f) => ({
    ...FlowKeys.versionOfGroup(f.tenant_id, f.flow_group_id, f.version),
    ...FlowKeys.byName(f.tenant_id, f.name, f.created, f.id),
    ...FlowKeys.ofTenant(f.tenant_id, f.created, f.id),
  }),
});
export type Flow = EntityOf<typeof FlowEntity>;

export const TaskEntity = defineEntity({
  name: "task",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    flow_id: attr.uuid(),
    name: attr.string(),
    slug: attr.string(),
    type: attr.string().nullable().default(null),
    max_retries: attr.int().default(0),
    retry_delay: attr.json(),
    trigger: attr.json(),
    tags: attr.jsonOf(strings()).default([]),
    mapped: attr.boolean().default(false),
    auto_generated: attr.boolean().default(false),
    cache_key: attr.string().nullable().default(null),
    // Prefect Server's column; serialized Prefect 1 tasks carry none, so it reads null.
    description: attr.string().nullable().default(null),
    created: attr.timestamp(),
  },
  key: (task: Located) => FlowKeys.task(task.tenant_id, task.id),
  indexes: (task) => FlowKeys.taskOfFlow(task.tenant_id, task.flow_id, task.slug),
});
export type Task = EntityOf<typeof TaskEntity>;

export const EdgeEntity = defineEntity({
  name: "edge",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    flow_id: attr.uuid(),
    upstream_task_id: attr.uuid(),
    downstream_task_id: attr.uuid(),
    key: attr.string().nullable().default(null),
    mapped: attr.boolean().default(false),
  },
  key: (e: {
    tenant_id: string;
    flow_id: string;
    upstream_task_id: string;
    downstream_task_id: string;
    key: string | null;
  }) => FlowKeys.edge(e.tenant_id, e.flow_id, e.upstream_task_id, e.downstream_task_id, e.key ?? ""),
});
export type Edge = EntityOf<typeof EdgeEntity>;
