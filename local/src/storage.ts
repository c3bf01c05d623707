import { join, resolve } from "node:path";
import { configure, parseConfig } from "#core/config.js";
import { ensureTables } from "#core/dynamo/create-tables.js";
import { startDynamoDbLocal } from "./dynamodb-local.js";
import { runningRuntime } from "./runtime.js";

/**
 * Runs an administrative command against the right storage:
 * - `aws`: the tables named by the environment (DROVER_MAIN_TABLE, AWS_REGION, credentials) on AWS
 *   or at DROVER_DYNAMODB_ENDPOINT;
 * - otherwise the local data folder: through the DynamoDB Local of a running `npm start`, or a
 *   DynamoDB Local started just for this command.
 */
export async function withStorage<T>(
  options: { dataDir: string; aws: boolean },
  fn: () => Promise<T>,
): Promise<T> {
  if (options.aws || process.env.DROVER_DYNAMODB_ENDPOINT) {
    configure(parseConfig(process.env));
    return fn();
  }
  const dataDir = resolve(options.dataDir);
  const running = runningRuntime(dataDir);
  const dynamo = running
    ? { endpoint: running.dynamoEndpoint, stop: async () => {} }
    : await startDynamoDbLocal({ dataDir: join(dataDir, "dynamodb") });
  try {
    const config = parseConfig({
      ...process.env,
      DROVER_STAGE: "local",
      DROVER_DYNAMODB_ENDPOINT: dynamo.endpoint,
    });
    configure(config);
    if (!running) {
      await ensureTables(config);
    }
    return await fn();
  } finally {
    await dynamo.stop();
  }
}
