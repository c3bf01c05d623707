import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
import { ApiKeyKeys } from "#core/api-key/keys.js";
import type { TableDefinition } from "#core/dynamo/tables.js";

/**
 * Item-level DynamoDB access, spelled out instead of `grantReadWriteData` (which also grants Scan,
 * stream reads and every index through a wildcard). Drover never scans on a request path, so no
 * role can; transactions are authorized by these per-item actions.
 */
export const ITEM_READ = [
  "dynamodb:GetItem",
  "dynamodb:BatchGetItem",
  "dynamodb:Query",
  "dynamodb:ConditionCheckItem",
];
export const ITEM_WRITE = [
  "dynamodb:PutItem",
  "dynamodb:UpdateItem",
  "dynamodb:DeleteItem",
  "dynamodb:BatchWriteItem",
];
/** Writes that never overwrite or remove what is there (append-only consumers such as logs). */
export const ITEM_APPEND = ["dynamodb:PutItem", "dynamodb:BatchWriteItem"];

export type TableAccess = "read" | "readWrite" | "append";

const ACTIONS: Record<TableAccess, string[]> = {
  read: ITEM_READ,
  readWrite: [...ITEM_READ, ...ITEM_WRITE],
  append: ITEM_APPEND,
};

/**
 * Grants `access` on the table's items and, for reads, Query on each index the code declares,
 * each by its exact ARN (no `index/*`).
 */
export function grantTable(
  grantee: IGrantable,
  { table, definition }: { table: Table; definition: TableDefinition },
  access: TableAccess,
): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({ actions: ACTIONS[access], resources: [table.tableArn] }),
  );
  if (access === "append" || definition.indexes.length === 0) return;
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ["dynamodb:Query"],
      resources: definition.indexes.map((index) => `${table.tableArn}/index/${index.name}`),
    }),
  );
}

/**
 * Exactly `actions` on the table's items, and no index: for a function whose code is known to
 * use only those calls on base-table keys (the hooks function).
 */
export function grantTableItems(
  grantee: IGrantable,
  { table }: { table: Table },
  actions: readonly string[],
): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({ actions: [...actions], resources: [table.tableArn] }),
  );
}

/** Matches any tenant id (a UUID) in an IAM `StringLike` pattern, `?` being one character. */
const TENANT_ID_PATTERN = "????????-????-????-????-????????????";

/** Partition keys of the API-key items a bare key is resolved by (`apikey#<sha256>`). */
export const API_KEY_ITEM_PATTERN = ApiKeyKeys.item("*").pk;
/** Partition keys of the id index entries a session token's key is re-checked by. */
export const API_KEY_BY_ID_PATTERN = ApiKeyKeys.byId(TENANT_ID_PATTERN, "*").gsi2pk;
/** The main-table index holding the API keys by id (core/src/api-key/index.ts `fromId`). */
export const API_KEY_BY_ID_INDEX = "gsi2";

/**
 * Just enough of the main table to authenticate a caller, for a function that has no other
 * business there (the KV function): GetItem on the API-key items, and Query on the key-by-id
 * entries of the id index (what a session token is re-checked with), each fenced by
 * `dynamodb:LeadingKeys` so no other item of the table, no tenant's data, can be read. The
 * patterns are built from core's key functions so they follow the key design.
 */
export function grantApiKeyLookup(
  grantee: IGrantable,
  { table, definition }: { table: Table; definition: TableDefinition },
): void {
  if (!definition.indexes.some((index) => index.name === API_KEY_BY_ID_INDEX)) {
    throw new Error(
      `The ${definition.logicalName} table has no ${API_KEY_BY_ID_INDEX} index to find API keys by id`,
    );
  }
  const onlyKeys = (pattern: string) => ({
    "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [pattern] },
  });
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ["dynamodb:GetItem"],
      resources: [table.tableArn],
      conditions: onlyKeys(API_KEY_ITEM_PATTERN),
    }),
  );
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: ["dynamodb:Query"],
      resources: [`${table.tableArn}/index/${API_KEY_BY_ID_INDEX}`],
      conditions: onlyKeys(API_KEY_BY_ID_PATTERN),
    }),
  );
}
