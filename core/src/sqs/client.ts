import { SQSClient } from "@aws-sdk/client-sqs";
import { type Config, useConfig } from "../config.js";

export function createSqsClient(config: Config): SQSClient {
  return new SQSClient({
    region: config.region,
    ...(config.sqsEndpoint
      ? { endpoint: config.sqsEndpoint, credentials: { accessKeyId: "local", secretAccessKey: "local" } }
      : {}),
  });
}

let cached: { config: Config; client: SQSClient } | undefined;

/** The process-wide SQS client for the current configuration. */
export function useSqs(): SQSClient {
  const config = useConfig();
  if (cached?.config !== config) cached = { config, client: createSqsClient(config) };
  return cached.client;
}
