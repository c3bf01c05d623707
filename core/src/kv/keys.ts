import { key } from "../dynamo/keys.js";

/**
 * Key-value items in the `kv` table (its own table, so the KV Lambda's IAM scope is exactly these
 * items). Every partition key begins with the tenant id.
 *
 * - the pair:          pk `<tenantId>#kv#<key>`       sk `pair`
 *   value, version, who and when; the only item the hot path (get, overwrite) touches.
 * - its listing entry: pk `<tenantId>#kv-keys`        sk `<key>`
 *   id, key, created: one Query lists a workspace's keys in key order, and `begins_with` on the
 *   sort key serves prefix search.
 * - id lookup:         pk `<tenantId>#kv-id#<id>`     sk `id`
 *   the key of a pair id (`delete_key_value` and `where: {id}` address pairs by id).
 * - settings/counter:  pk `<tenantId>#kv-meta`        sk `meta`
 *   `max_pairs` (the workspace's cap, absent = the default) and `pair_count`; creating a pair
 *   increments the count under the condition `pair_count < cap` in the same transaction as the
 *   pair's items, so concurrent creators can never exceed the cap.
 *
 * Why not one partition per tenant (pk `<tenantId>#kv`, sk `<key>`) for everything: that would
 * serve listing alone, but every get and overwrite of every key of a busy workspace would land on
 * one partition ("partition by entity, not by tenant"). Here the hot path is one item in its own
 * partition; only creating and deleting a pair (rare, and transactional anyway because of the
 * counter) also write the listing, id and counter items. The listing partition holds at most
 * `max_pairs` small items, far below any partition limit.
 *
 * User keys may contain `#`: the prefix before them has a fixed shape (`<uuid>#kv#`), so the
 * composite cannot be ambiguous.
 */
export const KvKeys = {
  pair: (tenantId: string, kvKey: string) => ({ pk: key(tenantId, "kv", kvKey), sk: "pair" }),
  listing: (tenantId: string, kvKey: string) => ({ pk: listPartition(tenantId), sk: kvKey }),
  listPartition,
  idLookup: (tenantId: string, id: string) => ({ pk: key(tenantId, "kv-id", id), sk: "id" }),
  meta: (tenantId: string) => ({ pk: key(tenantId, "kv-meta"), sk: "meta" }),
};

function listPartition(tenantId: string): string {
  return key(tenantId, "kv-keys");
}
