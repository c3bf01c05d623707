/**
 * Domain errors. Every error a caller can cause is one of these classes, each with a stable
 * `code` that the API exposes as `extensions.code`. Anything else is a bug and is masked.
 */
export type ErrorCode =
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "BAD_USER_INPUT"
  | "NOT_FOUND"
  | "CONFLICT"
  | "VERSION_LOCKING_ERROR"
  | "LIMIT_EXCEEDED"
  | "PAYLOAD_TOO_LARGE"
  | "API_ERROR"
  | "RATE_LIMITED"
  | "QUERY_TOO_COMPLEX"
  /** The deployment lacks what the operation needs (e.g. no key for secrets): an operator's fix. */
  | "FAILED_PRECONDITION";

export class DroverError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

export class UnauthenticatedError extends DroverError {
  constructor(message = "UNAUTHENTICATED: missing, invalid, expired or revoked API key") {
    super("UNAUTHENTICATED", message.startsWith("UNAUTHENTICATED") ? message : `UNAUTHENTICATED: ${message}`);
  }
}

export class ForbiddenError extends DroverError {
  constructor(message: string) {
    super("FORBIDDEN", message);
  }
}

export class ValidationError extends DroverError {
  constructor(message: string) {
    super("BAD_USER_INPUT", message);
  }
}

export class NotFoundError extends DroverError {
  constructor(message: string) {
    super("NOT_FOUND", message);
  }
}

/** The Prefect client matches this message text exactly for duplicate names. */
export class UniquenessError extends DroverError {
  constructor(message = "Uniqueness violation.") {
    super("CONFLICT", message);
  }
}

/**
 * A workspace holds as much of something as it may (key-value pairs, stored flow runs): not
 * retryable as such (HTTP 200 with a GraphQL error; the Prefect client raises it, never retries).
 */
export class LimitExceededError extends DroverError {
  constructor(message: string) {
    super("LIMIT_EXCEEDED", message);
  }
}

/** A transient failure the caller may retry (the Prefect client retries API_ERROR). */
export class RetryableError extends DroverError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("API_ERROR", message, options);
  }
}

/**
 * AWS error names that mean "storage is throttled or briefly unavailable, the same request may
 * succeed later" (DynamoDB, SQS, and the SDK's own timeouts), as the SDK's retry strategy
 * classifies them. Anything else an AWS call throws (ValidationException, ConditionalCheckFailed,
 * ResourceNotFound, AccessDenied...) is not retryable: a bug or a misconfiguration.
 */
const UNAVAILABLE_NAMES = new Set([
  // Throttling (DynamoDB, SQS, KMS behind SQS).
  "ProvisionedThroughputExceededException",
  "ThrottlingException",
  "Throttling",
  "RequestLimitExceeded",
  "RequestThrottled",
  "RequestThrottledException",
  "TooManyRequestsException",
  "LimitExceededException",
  "KmsThrottled",
  "TransactionInProgressException",
  "TransactionConflictException",
  // The service's own failures.
  "InternalServerError",
  "InternalFailure",
  "InternalError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "AWS.SimpleQueueService.ServiceUnavailable",
  // The SDK's request and connection timeouts.
  "TimeoutError",
  "RequestTimeout",
  "RequestTimeoutException",
]);

/** Node socket errors: the endpoint refused, reset, timed out or could not be reached. */
const UNAVAILABLE_SOCKET_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "ENOTFOUND",
  "UND_ERR_SOCKET",
  "UND_ERR_CONNECT_TIMEOUT",
]);

/** Reasons DynamoDB gives inside TransactionCanceledException that mean "retry later". */
const UNAVAILABLE_CANCELLATION_CODES = new Set([
  "ThrottlingError",
  "ProvisionedThroughputExceeded",
  "TransactionConflict",
  "RequestLimitExceeded",
]);

type AwsLikeError = {
  name?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
  $metadata?: { httpStatusCode?: number };
  CancellationReasons?: Array<{ Code?: string } | undefined>;
};

/**
 * Whether `error` (or what caused it) says storage or the queue is unavailable or throttled:
 * a connection refused or timed out, a 5xx or 429 from DynamoDB or SQS, a throughput or request
 * limit, or a transaction cancelled only for such reasons. Those are answered as retryable
 * (HTTP 503, API_ERROR) instead of "Unexpected error.".
 */
export function isStorageUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== "object" || error === null || depth > 8) return false;
  if (error instanceof DroverError) return error instanceof RetryableError;
  const e = error as AwsLikeError;
  if (typeof e.name === "string" && UNAVAILABLE_NAMES.has(e.name)) return true;
  if (typeof e.code === "string" && UNAVAILABLE_SOCKET_CODES.has(e.code)) return true;
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && (status === 429 || (status >= 500 && status <= 599))) return true;
  if (e.name === "TransactionCanceledException" && Array.isArray(e.CancellationReasons)) {
    const codes = e.CancellationReasons.map((r) => r?.Code ?? "None").filter((code) => code !== "None");
    if (codes.length > 0 && codes.every((code) => UNAVAILABLE_CANCELLATION_CODES.has(code))) return true;
  }
  if (Array.isArray(e.errors) && e.errors.some((inner) => isStorageUnavailable(inner, depth + 1)))
    return true;
  return isStorageUnavailable(e.cause, depth + 1);
}

/** The message a caller sees while storage is unavailable: no internals, says what to do. */
export const UNAVAILABLE_MESSAGE =
  "API_ERROR: storage is temporarily unavailable or throttled; retry the request shortly.";

/** Seconds a REST caller is told to wait before retrying (`Retry-After`). */
export const RETRY_AFTER_SECONDS = 2;

/** `error` as the DroverError a caller may see, when it is one or storage was unavailable. */
export function asCallerError(error: unknown): DroverError | undefined {
  if (error instanceof DroverError) return error;
  if (isStorageUnavailable(error)) return new RetryableError(UNAVAILABLE_MESSAGE, { cause: error });
  return undefined;
}
