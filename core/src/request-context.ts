import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

/**
 * The request being served, set once at the edge so an unexpected error can be logged (and
 * answered) with the id an operator searches for: API Gateway's requestContext.requestId (also
 * sent back as the `apigw-requestid` header), the Lambda invocation's awsRequestId, or one made
 * up locally.
 */
export type RequestInfo = { requestId: string; awsRequestId?: string | undefined };

const storage = new AsyncLocalStorage<RequestInfo>();

export function withRequest<T>(info: RequestInfo, fn: () => T): T {
  return storage.run(info, fn);
}

export function useRequest(): RequestInfo | undefined {
  return storage.getStore();
}

/** The request id of an API Gateway event and Lambda context, or a fresh one. */
export function requestInfoOf(
  event: { requestContext?: { requestId?: string } },
  context?: { awsRequestId?: string },
): RequestInfo {
  const requestId = event.requestContext?.requestId || context?.awsRequestId || randomUUID();
  return { requestId, awsRequestId: context?.awsRequestId };
}
