import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";

/**
 * REST face of the key-value store (`GET/PUT/DELETE /kv/{key}`). The KV domain and routes arrive
 * with the key-value issue; until then every route answers 501 with a clear error.
 */
export async function handler(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  return {
    statusCode: 501,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify({
      error: {
        code: "NOT_IMPLEMENTED",
        message: `${event.requestContext.http.method} ${event.rawPath} is not available yet`,
      },
    }),
  };
}
