import { describe, expect, it } from "vitest";
import { ValidationError } from "#core/errors.js";
import { likePrefix } from "#core/kv/index.js";
import { likeMatch, MAX_LIKE_PATTERN, matchesComparison } from "#core/query/where.js";

describe("_like / _ilike: SQL LIKE semantics without backtracking regular expressions", () => {
  it.each([
    ["etl-daily", "etl-%", true],
    ["etl-daily", "%daily", true],
    ["etl-daily", "%-%", true],
    ["etl-daily", "etl_daily", true],
    ["etl-daily", "etl__daily", false],
    ["etl-daily", "etl-daily", true],
    ["etl-daily", "etl-dail", false],
    ["etl-daily", "%", true],
    ["", "%", true],
    ["", "", true],
    ["", "_", false],
    ["a", "", false],
    ["abc", "a%%%c", true],
    ["abcbc", "%bc", true],
    ["abcbd", "%bc", false],
    ["mississippi", "%iss%ppi", true],
    ["mississippi", "m%s_s%i", true],
    ["mississippi", "m%x%", false],
    ["line1\nline2", "line1%2", true], // % spans newlines, as in Postgres
    ["a.b", "a.b", true],
    ["axb", "a.b", false], // regular-expression characters are literal
    ["a(b)*", "a(b)*", true],
    ["😀x", "_x", true], // _ is one character, not one UTF-16 unit
  ])("%j LIKE %j → %s", (value, pattern, expected) => {
    expect(likeMatch(value, pattern)).toBe(expected);
  });

  it("treats a backslash as the escape character, as Postgres does", () => {
    expect(likeMatch("100%", "100\\%")).toBe(true);
    expect(likeMatch("1000", "100\\%")).toBe(false);
    expect(likeMatch("a_b", "a\\_b")).toBe(true);
    expect(likeMatch("axb", "a\\_b")).toBe(false);
    expect(likeMatch("a\\b", "a\\\\b")).toBe(true);
    expect(likeMatch("ab", "\\a\\b")).toBe(true);
    expect(() => likeMatch("a\\", "a\\")).toThrow(ValidationError);
    expect(() => matchesComparison("x", { _like: "x\\" })).toThrow(/escape character/);
  });

  it("_ilike ignores case on both sides; _like does not", () => {
    expect(matchesComparison("ETL-Daily", { _ilike: "etl-%DAILY" })).toBe(true);
    expect(matchesComparison("ETL-Daily", { _like: "etl-%DAILY" })).toBe(false);
    expect(likeMatch("Straße", "STRASSE", { caseInsensitive: true })).toBe(false);
    expect(likeMatch("ÉCOLE", "école", { caseInsensitive: true })).toBe(true);
  });

  it("answers the pathological pattern in at most value × pattern steps (the regex took 11–14 s)", () => {
    const pattern = "%a%a%a%a%a%a%a%b";
    for (const length of [64, 1000, 10_000]) {
      const value = "a".repeat(length);
      const steps = { count: 0 };
      expect(likeMatch(value, pattern, { steps })).toBe(false);
      expect(steps.count).toBeLessThanOrEqual((length + 1) * (pattern.length + 1));
      const hit = { count: 0 };
      expect(likeMatch(`${value}b`, pattern, { steps: hit })).toBe(true);
      expect(hit.count).toBeLessThanOrEqual((length + 2) * (pattern.length + 1));
    }
    // A backtracking regex's cost grows like length^7 here; this one's is linear in the value.
    const s1 = { count: 0 };
    const s2 = { count: 0 };
    likeMatch("a".repeat(1000), pattern, { steps: s1 });
    likeMatch("a".repeat(2000), pattern, { steps: s2 });
    expect(s2.count).toBeLessThanOrEqual(2 * s1.count + pattern.length);
  });

  it("refuses a pattern longer than the limit with BAD_USER_INPUT", () => {
    expect(() => matchesComparison("x", { _like: "%".repeat(MAX_LIKE_PATTERN + 1) })).toThrow(
      ValidationError,
    );
    expect(matchesComparison("x", { _like: "%".repeat(MAX_LIKE_PATTERN) })).toBe(true);
  });

  it("KV's key-prefix narrowing stops at an escape, so escaped patterns still find their keys", () => {
    expect(likePrefix({ key: { _like: "list/%" } })).toBe("list/");
    expect(likePrefix({ key: { _like: "a\\_b%" } })).toBe("a");
    expect(likeMatch("a_b/1", "a\\_b%")).toBe(true);
  });
});
