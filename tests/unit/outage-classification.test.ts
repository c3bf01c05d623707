import {
  ConditionalCheckFailedException,
  InternalServerError,
  ProvisionedThroughputExceededException,
  RequestLimitExceeded,
  ResourceNotFoundException,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import { describe, expect, it } from "vitest";
import {
  asCallerError,
  isStorageUnavailable,
  NotFoundError,
  RetryableError,
  ValidationError,
} from "#core/errors.js";

const meta = (httpStatusCode?: number) => ({ $metadata: { httpStatusCode } });

function named(name: string, extra: Record<string, unknown> = {}) {
  return Object.assign(new Error(`${name} happened`), { name, ...extra });
}

describe("isStorageUnavailable", () => {
  it("recognises throttling and service failures from DynamoDB and SQS", () => {
    const retryable = [
      new ProvisionedThroughputExceededException({ message: "slow down", ...meta(400) }),
      new RequestLimitExceeded({ message: "account limit", ...meta(400) }),
      new InternalServerError({ message: "oops", ...meta(500) }),
      named("ThrottlingException", meta(400)),
      named("ServiceUnavailable", meta(503)),
      named("RequestThrottled", meta(403)),
      named("AWS.SimpleQueueService.ServiceUnavailable"),
      named("TimeoutError"),
      named("SomethingNew", meta(503)),
      named("SlowDown", meta(429)),
    ];
    for (const error of retryable) expect(isStorageUnavailable(error), error.name).toBe(true);
  });

  it("recognises refused, reset and timed-out connections, also when wrapped", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
    expect(isStorageUnavailable(refused)).toBe(true);
    expect(isStorageUnavailable(Object.assign(new Error("reset"), { code: "ECONNRESET" }))).toBe(true);
    expect(isStorageUnavailable(new Error("outer", { cause: refused }))).toBe(true);
    expect(isStorageUnavailable(new AggregateError([refused], "all addresses failed"))).toBe(true);
  });

  it("treats a transaction cancelled only for throttling or conflicts as retryable, not a failed condition", () => {
    const cancelled = (codes: string[]) =>
      new TransactionCanceledException({
        message: "cancelled",
        ...meta(400),
        CancellationReasons: codes.map((Code) => ({ Code })),
      });
    expect(isStorageUnavailable(cancelled(["None", "ThrottlingError"]))).toBe(true);
    expect(isStorageUnavailable(cancelled(["TransactionConflict"]))).toBe(true);
    expect(isStorageUnavailable(cancelled(["ConditionalCheckFailed", "ThrottlingError"]))).toBe(false);
  });

  it("leaves bugs, misconfiguration and domain errors alone", () => {
    const not = [
      new ConditionalCheckFailedException({ message: "condition", ...meta(400) }),
      new ResourceNotFoundException({ message: "no table", ...meta(400) }),
      named("ValidationException", meta(400)),
      named("AccessDeniedException", meta(400)),
      new TypeError("x is undefined"),
      new ValidationError("bad"),
      new NotFoundError("missing"),
      "a string",
      undefined,
    ];
    for (const error of not) expect(isStorageUnavailable(error)).toBe(false);
    expect(isStorageUnavailable(new RetryableError("queue said retry"))).toBe(true);
  });
});

describe("asCallerError", () => {
  it("keeps domain errors, turns unavailable storage into API_ERROR, and returns nothing for bugs", () => {
    const domain = new ValidationError("bad");
    expect(asCallerError(domain)).toBe(domain);
    const unavailable = asCallerError(
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
    );
    expect(unavailable?.code).toBe("API_ERROR");
    expect(unavailable?.message).not.toContain("ECONNREFUSED");
    expect(asCallerError(new TypeError("bug"))).toBeUndefined();
  });
});
