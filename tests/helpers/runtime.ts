import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import { type LocalRuntime, startLocalRuntime } from "../../local/src/runtime.js";

export function uniquePrefix(label: string): string {
  return `t-${label}-${randomBytes(4).toString("hex")}`;
}

/**
 * The local runtime on a free loopback port, on the shared DynamoDB Local with this file's own tables.
 * Events (the main table's stream, the events and hooks consumers: docs/events.md) are off unless
 * `events: true`, which also lets hooks call receivers on loopback, as an operator of a local
 * runtime may (DROVER_HOOK_ALLOW_PRIVATE_TARGETS=true): files about other things then measure
 * and count what they are about, without the consumers' calls beside them.
 */
export async function startTestRuntime(
  label: string,
  options: { visibilityTimeoutSeconds?: number; env?: NodeJS.ProcessEnv; events?: boolean } = {},
) {
  const { events, env, ...rest } = options;
  return startLocalRuntime({
    host: "127.0.0.1",
    port: 0,
    dataDir: undefined,
    dynamoEndpoint: inject("dynamoEndpoint"),
    namePrefix: uniquePrefix(label),
    schedulerIntervalMs: 60_000,
    ...rest,
    env: {
      ...(env ?? process.env),
      ...(events
        ? { DROVER_EVENTS: "on", DROVER_HOOK_ALLOW_PRIVATE_TARGETS: "true" }
        : { DROVER_EVENTS: "off" }),
    },
  });
}

export type GraphQLResponse<T = Record<string, unknown>> = {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
};

/** A GraphQL client speaking exactly as the Prefect client does (variables as a JSON string). */
export function client(
  runtime: Pick<LocalRuntime, "graphqlUrl">,
  key?: string,
  extraHeaders: Record<string, string> = {},
) {
  return async <T = Record<string, unknown>>(
    query: string,
    variables: unknown = {},
    headers: Record<string, string> = {},
  ): Promise<GraphQLResponse<T> & { status: number }> => {
    const response = await fetch(runtime.graphqlUrl, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...extraHeaders,
        ...headers,
      },
      body: JSON.stringify({ query, variables: JSON.stringify(variables) }),
    });
    const body = (await response.json()) as GraphQLResponse<T>;
    return { ...body, status: response.status };
  };
}
