import { attr, defineEntity, type EntityOf } from "../dynamo/entity.js";
import { ProjectKeys } from "./keys.js";

export const ProjectEntity = defineEntity({
  name: "project",
  attributes: {
    id: attr.uuid(),
    tenant_id: attr.uuid(),
    name: attr.string(),
    description: attr.string().nullable().default(null),
    created: attr.timestamp(),
    updated: attr.timestamp(),
  },
  key: (p: { tenant_id: string; id: string }) => ProjectKeys.item(p.tenant_id, p.id),
  indexes: (p) => ProjectKeys.listing(p.tenant_id, p.name),
});

export type Project = EntityOf<typeof ProjectEntity>;
