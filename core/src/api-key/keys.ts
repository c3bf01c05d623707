import { key } from "../dynamo/keys.js";

/**
 * API key items in the main table. The secret is never stored, only its SHA-256, and a key is
 * resolved with one GetItem on that hash (the only way to find a tenant from a bare key).
 * - the key:          pk `apikey#<sha256 hex>`      sk `apikey`
 *   listed by tenant: gsi1pk `<tenantId>#api-keys`  gsi1sk `<created ISO>#<keyId>`
 *   found by id:      gsi2pk `<tenantId>#api-key#<keyId>`  gsi2sk `apikey`
 */
export const ApiKeyKeys = {
  item: (hash: string) => ({ pk: key("apikey", hash), sk: "apikey" }),
  listing: (tenantId: string, created: string, keyId: string) => ({
    gsi1pk: key(tenantId, "api-keys"),
    gsi1sk: key(created, keyId),
  }),
  listPartition: (tenantId: string) => key(tenantId, "api-keys"),
  byId: (tenantId: string, keyId: string) => ({ gsi2pk: key(tenantId, "api-key", keyId), gsi2sk: "apikey" }),
};
