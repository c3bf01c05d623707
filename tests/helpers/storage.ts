import { inject } from "vitest";
import { type Config, configure, parseConfig } from "#core/config.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { uniquePrefix } from "./runtime.js";

/** A configuration naming this file's own tables on the shared DynamoDB Local (nothing created). */
export function testConfig(label: string): Config {
  const prefix = uniquePrefix(label);
  return parseConfig({
    AWS_REGION: "us-east-1",
    DROVER_DYNAMODB_ENDPOINT: inject("dynamoEndpoint"),
    DROVER_MAIN_TABLE: `${prefix}-main`,
    DROVER_KV_TABLE: `${prefix}-kv`,
    DROVER_LOGS_TABLE: `${prefix}-logs`,
  });
}

/** Points core at this file's own tables on the shared DynamoDB Local and creates them. */
export async function useTestTables(label: string) {
  const config = testConfig(label);
  configure(config);
  await ensureTables(config);
  return config;
}
