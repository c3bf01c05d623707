import { DroverError, ValidationError } from "../errors.js";
import { assertStorable } from "../storable.js";

/**
 * The limits of the key-value store, pure so they can be tested without a database.
 * Values: at most 10,000 bytes as compact UTF-8 JSON. The Prefect client refuses values whose
 * `json.dumps` is longer than 10,000 characters before sending; that form is never shorter than
 * ours, so whatever the client lets through is accepted here.
 */
export const MAX_VALUE_BYTES = 10_000;
/** Code points; at most 4 bytes each, so a key always fits a DynamoDB sort key (1,024 bytes). */
export const MAX_KEY_LENGTH = 256;
export const DEFAULT_MAX_PAIRS = 1000;
export const MAX_PAIRS_LIMIT = 100_000;

// Letters, marks, digits, punctuation, symbols (so `/`, `.`, `:`, emoji) and inner spaces; the
// zero-width joiner keeps composed emoji whole. No control, format or other whitespace characters.
const KEY_CHARACTERS = /^[\p{L}\p{M}\p{N}\p{P}\p{S} \u200D]+$/u;

export class ValueTooLargeError extends DroverError {
  constructor(bytes: number) {
    super(
      "PAYLOAD_TOO_LARGE",
      `Value is ${bytes} bytes as JSON; the limit is ${MAX_VALUE_BYTES} bytes (10 KB).`,
    );
  }
}

export class KvVersionConflictError extends DroverError {
  constructor(message: string) {
    super("VERSION_LOCKING_ERROR", message);
  }
}

/** Throws BAD_USER_INPUT unless `key` is a valid key. */
export function validateKey(key: unknown): string {
  if (typeof key !== "string") throw new ValidationError("Key must be a string.");
  if (key.length === 0) throw new ValidationError("Key must not be empty.");
  const length = [...key].length;
  if (length > MAX_KEY_LENGTH) {
    throw new ValidationError(`Key is ${length} characters long; the limit is ${MAX_KEY_LENGTH}.`);
  }
  if (!KEY_CHARACTERS.test(key)) {
    throw new ValidationError(
      "Key contains a character that is not allowed: use letters, digits, punctuation, symbols and spaces (no control characters, tabs or line breaks).",
    );
  }
  if (key.trim() !== key) throw new ValidationError("Key must not begin or end with a space.");
  return key;
}

/** The stored form of a value (compact JSON), enforcing the size limit. */
export function serializeValue(value: unknown): string {
  if (value === undefined) throw new ValidationError("A value is required (JSON; null is allowed).");
  // Stored as JSON text: any finite number is fine; the depth is bounded before JSON.stringify
  // (which recurses) sees it, and the size is counted on the way (no 10 MB string to measure).
  assertStorable(value, "value", { as: "json" });
  const json = JSON.stringify(value);
  const bytes = Buffer.byteLength(json, "utf8");
  if (bytes > MAX_VALUE_BYTES) throw new ValueTooLargeError(bytes);
  return json;
}

/**
 * The Prefect wire convention for `set_key_value`: the CLI (and GraphQL literals as Prefect Cloud
 * documented them, `value: "\"bar\""`) send JSON text in a string, and the client expects the
 * JSON value back. A string holding a JSON object, array or string is decoded; any other string is
 * a plain string (`2024-01-01` or `12345` watermarks stay strings, not numbers).
 */
export function decodeClientValue(value: unknown): unknown {
  if (typeof value !== "string") return value;
  const text = value.trim();
  const first = text[0];
  if (first !== "{" && first !== "[" && first !== '"') return value;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return value;
  }
}

export function validateMaxPairs(maxPairs: unknown): number {
  if (
    typeof maxPairs !== "number" ||
    !Number.isInteger(maxPairs) ||
    maxPairs < 0 ||
    maxPairs > MAX_PAIRS_LIMIT
  ) {
    throw new ValidationError(`max_pairs must be an integer from 0 to ${MAX_PAIRS_LIMIT}.`);
  }
  return maxPairs;
}

export function validateExpectedVersion(version: unknown): number | undefined {
  if (version === undefined || version === null) return undefined;
  if (typeof version !== "number" || !Number.isSafeInteger(version) || version < 0) {
    throw new ValidationError(
      "expected_version must be a non-negative integer (0 = the key must not exist).",
    );
  }
  return version;
}
