import { key } from "../dynamo/keys.js";

/**
 * Project items in the main table (all under the tenant's prefix).
 * - the project:          pk `<tenantId>#project#<id>`         sk `project`
 *   listed by tenant:     gsi1pk `<tenantId>#projects`         gsi1sk `<name>`
 * - name uniqueness lock: pk `<tenantId>#project-name#<name>`  sk `lock`
 */
export const ProjectKeys = {
  item: (tenantId: string, id: string) => ({ pk: key(tenantId, "project", id), sk: "project" }),
  listing: (tenantId: string, name: string) => ({ gsi1pk: key(tenantId, "projects"), gsi1sk: name }),
  listPartition: (tenantId: string) => key(tenantId, "projects"),
  nameLock: (tenantId: string, name: string) => ({ pk: key(tenantId, "project-name", name), sk: "lock" }),
};
