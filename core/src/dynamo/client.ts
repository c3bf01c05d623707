import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type Config, useConfig } from "../config.js";

/** Builds a document client for the configured endpoint (DynamoDB Local or AWS). */
export function createDocumentClient(config: Config): DynamoDBDocumentClient {
  const local = config.dynamoEndpoint !== undefined;
  const client = new DynamoDBClient({
    region: config.region,
    ...(local
      ? {
          endpoint: config.dynamoEndpoint,
          credentials: { accessKeyId: "local", secretAccessKey: "local" },
        }
      : {}),
    maxAttempts: 5,
  });
  return DynamoDBDocumentClient.from(client, {
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
