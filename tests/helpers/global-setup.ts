import type { TestProject } from "vitest/node";
import { startDynamoDbLocal } from "../../local/src/dynamodb-local.js";

/** One in-memory DynamoDB Local for the whole run; each test file uses its own table prefix. */
export default async function setup(project: TestProject) {
  const dynamo = await startDynamoDbLocal({});
  project.provide("dynamoEndpoint", dynamo.endpoint);
  return async () => {
    await dynamo.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    dynamoEndpoint: string;
  }
}
