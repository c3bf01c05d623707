import { describe, expect, it } from "vitest";
import * as z from "zod";
import { assertStorable, formatIssues, storable, storableIssue } from "#core/storable.js";
import { MAX_NESTING, nestingDepth } from "../../functions/api/src/armor.js";
import { searchParamsProblem } from "../../functions/api/src/request-shape.js";

function nested(levels: number, list = false): unknown {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = list ? [value] : { a: value };
  return value;
}

describe("storableIssue", () => {
  it("accepts what DynamoDB stores natively: 31 levels, safe integers, small fractions, empty strings", () => {
    for (const value of [
      nested(31),
      nested(31, true),
      2 ** 53 - 1,
      -(2 ** 53 - 1),
      1e-130,
      0,
      -0,
      0.1,
      "",
      [],
      {},
    ]) {
      expect(storableIssue({ v: value }, { as: "native", maxDepth: 32 })).toBeUndefined();
    }
  });

  it("refuses numbers the document client or DynamoDB refuse, naming their path", () => {
    for (const [value, shown] of [
      [1e300, "1e+300"],
      [2 ** 53, "9007199254740992"],
      [1e20, "100000000000000000000"],
      [1e-131, "1e-131"],
      [5e-324, "5e-324"],
      [Number.NaN, "NaN"],
      [Number.POSITIVE_INFINITY, "Infinity"],
    ] as const) {
      const issue = storableIssue({ a: { b: [0, 1, 2, value] } }, { as: "native" });
      expect(issue?.path).toEqual(["a", "b", 3]);
      expect(issue?.message).toContain(`number ${shown}`);
    }
  });

  it("refuses 32 levels of nesting in an attribute and an empty map key", () => {
    expect(storableIssue(nested(32), { as: "native" })?.message).toMatch(/deeper than 31 levels/);
    expect(storableIssue({ a: [{ "": 1 }] }, { as: "native" })).toEqual({
      path: ["a", 0],
      message: "an object key is empty (cannot be stored)",
    });
  });

  it("lets JSON text hold any finite number and an empty key, but not more than 64 levels", () => {
    expect(storableIssue({ a: 1e300, "": 2 ** 60 }, { as: "json" })).toBeUndefined();
    expect(storableIssue(nested(64), { as: "json" })).toBeUndefined();
    expect(storableIssue(nested(65), { as: "json" })?.message).toMatch(/deeper than 64/);
    expect(storableIssue(Number.POSITIVE_INFINITY, { as: "json" })?.message).toMatch(/not a finite number/);
  });

  it("refuses a value nested 100,000 deep quickly and without overflowing the stack", () => {
    const deep = nested(100_000, true);
    const started = performance.now();
    expect(storableIssue(deep, { as: "json" })?.message).toMatch(/deeper than 64/);
    expect(performance.now() - started).toBeLessThan(100);
  });

  it("bounds the size as compact JSON bytes", () => {
    expect(storableIssue({ a: "x".repeat(100) }, { as: "native", maxBytes: 50 })?.message).toMatch(
      /larger than 50 bytes/,
    );
    expect(storableIssue({ a: "x".repeat(10) }, { as: "native", maxBytes: 50 })).toBeUndefined();
  });

  it("names the field and the path in BAD_USER_INPUT, also through zod", () => {
    expect(() => assertStorable({ a: { "b c": [1e300] } }, "parameters", { as: "native" })).toThrow(
      /^parameters\.a\["b c"\]\[0\]: number 1e\+300 is outside what can be stored/,
    );
    const schema = z.object({
      context: z.record(z.string(), z.unknown()).superRefine(storable({ as: "native" })),
    });
    const parsed = schema.safeParse({ context: { x: [{ "": 1 }] } });
    expect(parsed.success).toBe(false);
    if (!parsed.success)
      expect(formatIssues(parsed.error)).toBe("context.x[0]: an object key is empty (cannot be stored)");
  });
});

describe("request shapes checked before parsing", () => {
  it("measures a query's nesting, ignoring brackets in strings, block strings and comments", () => {
    expect(nestingDepth("{ a { b(x: [1]) } }")).toBe(4);
    expect(nestingDepth('{ a(s: "{{{{[[[") # {{{{\n }')).toBe(2);
    expect(nestingDepth('{ a(s: """ {{{ \\""" {{ """) }')).toBe(2);
    expect(nestingDepth(`{${"a{".repeat(3_000)}b${"}".repeat(3_000)}}`, MAX_NESTING)).toBeGreaterThan(
      MAX_NESTING,
    );
  });

  it("refuses variables and extensions that are not JSON objects", () => {
    expect(searchParamsProblem("query=%7Ba%7D&variables=%7Bnot")).toMatch(/"variables" is not valid JSON/);
    expect(searchParamsProblem("query=%7Ba%7D&variables=%5B1%5D")).toMatch(/must be a JSON object/);
    expect(searchParamsProblem("query=%7Ba%7D&extensions=3")).toMatch(/"extensions" must be a JSON object/);
    expect(searchParamsProblem("query=%7Ba%7D&variables=%7B%22x%22%3A1%7D")).toBeUndefined();
  });
});
