import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { AgentKeys } from "./keys.js";

export const AgentEntity = defineEntity({
  name: "agent",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    name: attr.string().nullable().default(null),
    type: attr.string().nullable().default(null),
    labels: attr.jsonOf(attr.string().array()).default([]),
    core_version: attr.string().nullable().default(null),
    agent_config_id: attr.string().nullable().default(null),
    last_queried: attr.timestamp().nullable().default(null),
    /** Set by the scheduler when the agent stopped polling (its last poll), cleared by its next poll. */
    silent_since: attr.timestamp().nullable().default(null),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  key: (a: { tenant_id: string; id: string }) => AgentKeys.agent(a.tenant_id, a.id),
  indexes: (a) => AgentKeys.ofTenant(a.tenant_id, a.created, a.id),
});

export type Agent = EntityOf<typeof AgentEntity>;
