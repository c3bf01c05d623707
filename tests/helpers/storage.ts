import { inject } from "vitest";
import { configure, parseConfig } from "#core/config.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { uniquePrefix } from "./runtime.js";

/** Points core at this file's own tables on the shared DynamoDB Local and creates them. */
export async function useTestTables(label: string) {
  const prefix = uniquePrefix(label);
  const config = parseConfig({
    AWS_REGION: "us-east-1",
    DROVER_DYNAMODB_ENDPOINT: inject("dynamoEndpoint"),
    DROVER_MAIN_TABLE: `${prefix}-main`,
    DROVER_KV_TABLE: `${prefix}-kv`,
    DROVER_LOGS_TABLE: `${prefix}-logs`,
  });
  configure(config);
  await ensureTables(config);
  return config;
}
