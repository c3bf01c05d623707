import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type Config, useConfig } from "../config.js";

/** A low-level client for the configured endpoint (DynamoDB Local or AWS). */
export function createRawClient(config: Config): DynamoDBClient {
  const local = config.dynamoEndpoint !== undefined;
  return new DynamoDBClient({
    region: config.region,
    ...(local
      ? {
          endpoint: config.dynamoEndpoint,
          credentials: { accessKeyId: "local", secretAccessKey: "local" },
        }
      : {}),
    maxAttempts: 5,
  });
}

/** Builds a document client for the configured endpoint (DynamoDB Local or AWS). */
export function createDocumentClient(config: Config): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(createRawClient(config), {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
}

let cached: { config: Config; client: DynamoDBDocumentClient } | undefined;

/** The process-wide document client for the current configuration (reused across Lambda invocations). */
export function useDynamo(): DynamoDBDocumentClient {
  const config = useConfig();
  if (cached?.config !== config) cached = { config, client: createDocumentClient(config) };
  return cached.client;
}

export function mainTable(): string {
  return useConfig().tables.main;
}
