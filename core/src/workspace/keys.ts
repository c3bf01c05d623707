import { key } from "../dynamo/keys.js";

/**
 * Workspace (Prefect "tenant") items in the main table.
 * - the workspace:        pk `<tenantId>#tenant`        sk `tenant`
 *   listed (admin, CLI):  gsi1pk `tenants`               gsi1sk `<slug>`
 * - slug uniqueness lock: pk `tenant-slug#<slug>`       sk `lock`   (global: resolves a slug)
 */
export const WorkspaceKeys = {
  item: (tenantId: string) => ({ pk: key(tenantId, "tenant"), sk: "tenant" }),
  listing: (slug: string) => ({ gsi1pk: "tenants", gsi1sk: slug }),
  listPartition: "tenants",
  slugLock: (slug: string) => ({ pk: key("tenant-slug", slug), sk: "lock" }),
};
