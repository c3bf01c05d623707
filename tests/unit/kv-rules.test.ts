import { describe, expect, it } from "vitest";
import { DroverError } from "#core/errors.js";
import { KvKeys } from "#core/kv/keys.js";
import {
  DEFAULT_MAX_PAIRS,
  decodeClientValue,
  MAX_KEY_LENGTH,
  MAX_VALUE_BYTES,
  serializeValue,
  validateExpectedVersion,
  validateKey,
  validateMaxPairs,
} from "#core/kv/rules.js";

const TENANT = "3f1c2b9e-5d7a-4e11-8f0c-6a2b4c8d9e01";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    return error instanceof DroverError ? error.code : "not a DroverError";
  }
}

describe("KV keys (storage)", () => {
  it("puts each pair in its own partition under the tenant's prefix", () => {
    expect(KvKeys.pair(TENANT, "a/b")).toEqual({ pk: `${TENANT}#kv#a/b`, sk: "pair" });
    expect(KvKeys.listing(TENANT, "a/b")).toEqual({ pk: `${TENANT}#kv-keys`, sk: "a/b" });
    expect(KvKeys.idLookup(TENANT, "x")).toEqual({ pk: `${TENANT}#kv-id#x`, sk: "id" });
    expect(KvKeys.meta(TENANT)).toEqual({ pk: `${TENANT}#kv-meta`, sk: "meta" });
  });

  it("keeps a key containing # unambiguous (fixed-shape prefix)", () => {
    expect(KvKeys.pair(TENANT, "x#kv#y").pk).toBe(`${TENANT}#kv#x#kv#y`);
    expect(KvKeys.pair(TENANT, "x#kv#y").pk).not.toBe(KvKeys.pair(TENANT, "x").pk);
  });
});

describe("KV key rules", () => {
  it("accepts unicode, slashes, punctuation, emoji and inner spaces", () => {
    for (const key of [
      "foo",
      "a/b/c",
      "/leading/slash/",
      "café",
      "日本語/キー",
      "x.y:z@w+v",
      "🚀",
      "👨‍👩‍👧",
      "a b",
    ]) {
      expect(validateKey(key)).toBe(key);
    }
  });

  it("refuses empty keys, control characters, line breaks, tabs and outer spaces", () => {
    for (const key of ["", "a\nb", "a\tb", "a\u0000b", " lead", "trail ", "a\u200Bb"]) {
      expect(
        codeOf(() => validateKey(key)),
        JSON.stringify(key),
      ).toBe("BAD_USER_INPUT");
    }
    expect(codeOf(() => validateKey(42))).toBe("BAD_USER_INPUT");
  });

  it(`limits keys to ${MAX_KEY_LENGTH} characters, counted in code points`, () => {
    expect(validateKey("k".repeat(MAX_KEY_LENGTH))).toHaveLength(MAX_KEY_LENGTH);
    expect(validateKey("🚀".repeat(MAX_KEY_LENGTH))).toBeTruthy();
    expect(codeOf(() => validateKey("k".repeat(MAX_KEY_LENGTH + 1)))).toBe("BAD_USER_INPUT");
  });
});

describe("KV value rules", () => {
  it("stores values as compact JSON and accepts null", () => {
    expect(serializeValue({ a: [1, 2] })).toBe('{"a":[1,2]}');
    expect(serializeValue(null)).toBe("null");
    expect(codeOf(() => serializeValue(undefined))).toBe("BAD_USER_INPUT");
  });

  it(`accepts ${MAX_VALUE_BYTES} bytes and refuses one more with PAYLOAD_TOO_LARGE`, () => {
    const fits = "x".repeat(MAX_VALUE_BYTES - 2); // plus the two quotes
    expect(serializeValue(fits)).toHaveLength(MAX_VALUE_BYTES);
    expect(codeOf(() => serializeValue(`${fits}x`))).toBe("PAYLOAD_TOO_LARGE");
    // Bytes, not characters: 3,400 three-byte characters are over the limit.
    expect(codeOf(() => serializeValue("€".repeat(3400)))).toBe("PAYLOAD_TOO_LARGE");
  });

  it("decodes a string holding a JSON object, array or string, as the Prefect CLI sends them", () => {
    expect(decodeClientValue('{"a": 1}')).toEqual({ a: 1 });
    expect(decodeClientValue("[1, 2]")).toEqual([1, 2]);
    expect(decodeClientValue('"bar"')).toBe("bar");
    expect(decodeClientValue({ x: [1, 2] })).toEqual({ x: [1, 2] });
  });

  it("keeps plain strings, including number- and date-like watermarks, as strings", () => {
    for (const value of ["bar", "2024-01-01", "12345", "true", "null", "{not json", ""]) {
      expect(decodeClientValue(value)).toBe(value);
    }
  });
});

describe("KV settings rules", () => {
  it("validates the per-workspace cap and the compare-and-set version", () => {
    expect(DEFAULT_MAX_PAIRS).toBe(1000);
    expect(validateMaxPairs(0)).toBe(0);
    expect(codeOf(() => validateMaxPairs(-1))).toBe("BAD_USER_INPUT");
    expect(codeOf(() => validateMaxPairs(1.5))).toBe("BAD_USER_INPUT");
    expect(validateExpectedVersion(null)).toBeUndefined();
    expect(validateExpectedVersion(3)).toBe(3);
    expect(codeOf(() => validateExpectedVersion(-1))).toBe("BAD_USER_INPUT");
  });
});
