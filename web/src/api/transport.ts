/** A GraphQL error as the API reports it: a message and, for expected errors, a code. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type GraphQLBody<T> = {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
};

let endpoint: Promise<string> | undefined;

/**
 * Where the API is: `graphqlUrl` from `/config.json` (published next to the app on AWS, served by
 * the local runtime), else this origin's `/graphql`.
 */
export function graphqlUrl(): Promise<string> {
  endpoint ??= fetch("/config.json", { headers: { accept: "application/json" } })
    .then(async (response) => {
      if (!response.ok) throw new Error("no config");
      const config = (await response.json()) as { graphqlUrl?: unknown };
      if (typeof config.graphqlUrl !== "string") throw new Error("no graphqlUrl");
      return new URL(config.graphqlUrl, window.location.href).href;
    })
    .catch(() => new URL("/graphql", window.location.href).href);
  return endpoint;
}

/** POSTs one GraphQL operation as JSON; resolves to its data or throws an ApiError. */
export async function post<T>(
  query: string,
  variables: Record<string, unknown> | undefined,
  bearer: string | undefined,
  signal?: AbortSignal,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(await graphqlUrl(), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json",
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify({ query, variables: variables ?? {} }),
      ...(signal ? { signal } : {}),
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === "AbortError") throw error;
    throw new ApiError("Cannot reach the Drover API. Is the server running?", "NETWORK_ERROR");
  }
  let body: GraphQLBody<T>;
  try {
    body = (await response.json()) as GraphQLBody<T>;
  } catch {
    throw new ApiError(`The API answered ${response.status} without a GraphQL response`, "BAD_RESPONSE");
  }
  const first = body.errors?.[0];
  if (first) throw new ApiError(first.message, first.extensions?.code);
  if (!body.data) throw new ApiError(`The API answered ${response.status} without data`, "BAD_RESPONSE");
  return body.data;
}
