import { type LocalRuntime, startLocalRuntime } from "../../local/src/runtime.js";
import { httpRequest } from "./http.js";
import type { BenchContext } from "./types.js";

/** The whole local runtime on the bench's shared DynamoDB Local, with tables of its own; no scheduler ticks. */
export async function startBenchRuntime(context: BenchContext, namePrefix: string): Promise<LocalRuntime> {
  const dynamo = await context.environment.dynamo();
  return startLocalRuntime({
    host: "127.0.0.1",
    port: 0,
    dataDir: undefined,
    dynamoEndpoint: dynamo.endpoint,
    namePrefix,
    schedulerIntervalMs: 3_600_000,
  });
}

export type Gql = <T = Record<string, unknown>>(
  query: string,
  variables?: unknown,
  headers?: Record<string, string>,
) => Promise<T>;

/** A GraphQL client sending variables as a JSON string, as the Prefect client does; any error throws. */
export function graphqlClient(url: string, key: string): Gql {
  return async <T>(query: string, variables: unknown = {}, headers: Record<string, string> = {}) => {
    const response = await httpRequest(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers },
      body: JSON.stringify({ query, variables: JSON.stringify(variables) }),
    });
    const body = JSON.parse(response.body) as { data?: T; errors?: unknown[] };
    if (response.status !== 200 || body.errors || !body.data) {
      throw new Error(`GraphQL: ${JSON.stringify(body.errors ?? body)}`);
    }
    return body.data;
  };
}
