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
  | "QUERY_TOO_COMPLEX";

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
