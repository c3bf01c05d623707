import type { Table } from "aws-cdk-lib/aws-dynamodb";
import { type IGrantable, PolicyStatement } from "aws-cdk-lib/aws-iam";
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
