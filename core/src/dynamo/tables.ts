import type { Config } from "../config.js";

/**
 * The physical DynamoDB design, declared once. The local runtime creates these tables from this
 * description and the CDK app (infra/) builds the same ones, so the two cannot drift.
 *
 * - `main`: tenants, API keys, projects, flows, flow groups, flow runs, task runs, agents.
 *   Generic `pk`/`sk` plus three overloaded GSIs (`gsi1`: children of a parent in order,
 *   `gsi2`: lookups by name, `gsi3`: a tenant's items of one kind by time) and the sparse `ready` index (runs an agent may pick up,
 *   keyed by tenant and label set and ordered by start time; a run is in it only while it also
 *   carries `ready_sk`; see core/src/flow-run/ready-index.ts) and the
 *   sparse `due` index (the scheduler's: active schedules by the time they next need work, in a
 *   few shard partitions shared by all tenants; see core/src/schedule/keys.ts) and the sparse `watch`
 *   index (the scheduler's health checks: Scheduled, Submitted and Running runs by the time their
 *   lateness, submission or heartbeat is measured from; see core/src/flow-run/keys.ts), and the
 *   keys-only `gsi4` (further lookups by name: flow runs by name). Indexes are overloaded: the
 *   partition key's prefix says whose entries a partition holds, so `due` also holds a tenant's
 *   started flow runs by start time (`<t>#flow-runs-started`, beside the scheduler's shards).
 *   A release adds at most one index: CloudFormation creates one per table update.
 * - `kv`: the key-value store, its own table so its Lambda's IAM scope is exactly the KV items.
 * - `logs`: run logs, high volume, with TTL; locally in a DynamoDB Local database of its own
 *   (core/src/dynamo/client.ts) so its write bursts never queue ahead of the main table's calls.
 *
 * Every partition key begins with the tenant id (`<tenantId>#...`), except the two global
 * lookup items that exist to find a tenant: `apikey#<sha256>` and `tenant-slug#<slug>`.
 * TTL attribute on every table: `ttl_epoch` (epoch seconds).
 */
/**
 * `projection` KEYS_ONLY: the index holds only keys, so a write to the item touches it only when
 * its keys change (readers fetch the items by key); the default projects every attribute.
 */
export type IndexDefinition = { name: string; pk: string; sk: string; projection?: "KEYS_ONLY" };
export type TableDefinition = {
  logicalName: "main" | "kv" | "logs";
  pk: string;
  sk: string;
  ttlAttribute: string;
  indexes: IndexDefinition[];
  /** The DynamoDB Local database that holds it (core/src/dynamo/client.ts); one service on AWS. */
  database: "main" | "logs";
  /**
   * A change stream of the table (NEW_AND_OLD_IMAGES): the main table's is the outbox of the
   * event backbone (core/src/events), read by the events function.
   */
  stream?: "NEW_AND_OLD_IMAGES";
};

export const TTL_ATTRIBUTE = "ttl_epoch";

export const MAIN_TABLE: TableDefinition = {
  logicalName: "main",
  pk: "pk",
  sk: "sk",
  ttlAttribute: TTL_ATTRIBUTE,
  database: "main",
  stream: "NEW_AND_OLD_IMAGES",
  indexes: [
    { name: "gsi1", pk: "gsi1pk", sk: "gsi1sk" },
    { name: "gsi2", pk: "gsi2pk", sk: "gsi2sk" },
    { name: "gsi3", pk: "gsi3pk", sk: "gsi3sk" },
    { name: "ready", pk: "ready_pk", sk: "ready_sk" },
    { name: "due", pk: "due_pk", sk: "due_sk" },
    { name: "watch", pk: "watch_pk", sk: "watch_sk" },
    { name: "gsi4", pk: "gsi4pk", sk: "gsi4sk", projection: "KEYS_ONLY" },
  ],
};

export const KV_TABLE: TableDefinition = {
  logicalName: "kv",
  pk: "pk",
  sk: "sk",
  ttlAttribute: TTL_ATTRIBUTE,
  database: "main",
  indexes: [],
};

export const LOGS_TABLE: TableDefinition = {
  logicalName: "logs",
  pk: "pk",
  sk: "sk",
  ttlAttribute: TTL_ATTRIBUTE,
  database: "logs",
  indexes: [],
};

export const TABLES: readonly TableDefinition[] = [MAIN_TABLE, KV_TABLE, LOGS_TABLE];

export function physicalTableName(config: Config, table: TableDefinition): string {
  return config.tables[table.logicalName];
}
