import { describe, expect, it } from "vitest";
import { ValidationError } from "#core/errors.js";
import {
  matches,
  matchesComparison,
  paginate,
  pinnedValue,
  pinnedValues,
  sortItems,
} from "#core/query/where.js";

const item = { id: "a", name: "etl-daily", version: 3, archived: false, labels: null };

describe("where: comparison operators", () => {
  it.each([
    [{ _eq: "etl-daily" }, true],
    [{ _eq: "other" }, false],
    [{ _neq: "other" }, true],
    [{ _in: ["x", "etl-daily"] }, true],
    [{ _nin: ["etl-daily"] }, false],
    [{ _like: "etl-%" }, true],
    [{ _like: "ETL-%" }, false],
    [{ _ilike: "ETL-%" }, true],
    [{ _like: "etl_daily" }, true],
    [{ _gt: "etl" }, true],
    [{ _lt: "etl" }, false],
  ])("name %j → %s", (comparison, expected) => {
    expect(matchesComparison(item.name, comparison)).toBe(expected);
  });

  it("compares timestamps as times, whatever their precision and zone", () => {
    // A stored millisecond timestamp and the same instant with microseconds and an offset.
    expect(matchesComparison("2026-11-21T16:50:05.374Z", { _eq: "2026-11-21T18:50:05.374000+02:00" })).toBe(
      true,
    );
    expect(matchesComparison("2026-11-21T16:50:05.374Z", { _lte: "2026-11-21T16:50:05.374000Z" })).toBe(true);
    // `--watch` asks for lines after the last one seen: the next microsecond is after it.
    expect(matchesComparison("2026-11-21T16:50:05.374713Z", { _gt: "2026-11-21T16:50:05.374712Z" })).toBe(
      true,
    );
    expect(matchesComparison("2026-11-21T16:50:05.374712Z", { _gt: "2026-11-21T16:50:05.374712Z" })).toBe(
      false,
    );
  });

  it("compares numbers numerically, not as strings", () => {
    expect(matchesComparison(10, { _gt: 9 })).toBe(true);
    expect(matchesComparison(3, { _gte: 3, _lte: 3 })).toBe(true);
    expect(matchesComparison(3, { _lt: 3 })).toBe(false);
  });

  it("treats null and missing values per _is_null and never matches them with _eq", () => {
    expect(matchesComparison(null, { _is_null: true })).toBe(true);
    expect(matchesComparison(undefined, { _is_null: false })).toBe(false);
    expect(matchesComparison(null, { _eq: "x" })).toBe(false);
    expect(matchesComparison(null, { _neq: "x" })).toBe(true);
  });

  it("rejects an unknown operator with a validation error", () => {
    expect(() => matchesComparison("x", { _regex: "x" } as never)).toThrow(ValidationError);
  });
});

describe("where: boolean combinators", () => {
  it("accepts _and as a list, as a single object, and with empty elements", async () => {
    expect(await matches(item, { _and: [{ name: { _eq: "etl-daily" } }, {}] })).toBe(true);
    expect(await matches(item, { _and: { name: { _eq: "etl-daily" }, version: { _eq: 3 } } })).toBe(true);
    expect(await matches(item, { _and: [{ name: { _eq: "etl-daily" } }, { version: { _eq: 4 } }] })).toBe(
      false,
    );
  });

  it("matches _or when any alternative matches, and _not inverts", async () => {
    expect(await matches(item, { _or: [{ name: { _eq: "x" } }, { version: { _gte: 3 } }] })).toBe(true);
    expect(await matches(item, { _or: [{ name: { _eq: "x" } }, { version: { _gt: 3 } }] })).toBe(false);
    expect(await matches(item, { _not: { archived: { _eq: false } } })).toBe(false);
  });

  it("delegates relationship fields to the resolver", async () => {
    const resolver = async (_: unknown, field: string, condition: unknown) =>
      field === "project" ? JSON.stringify(condition).includes("p1") : undefined;
    expect(await matches(item, { project: { name: { _eq: "p1" } } }, resolver)).toBe(true);
    expect(await matches(item, { project: { name: { _eq: "p2" } } }, resolver)).toBe(false);
  });
});

describe("order_by, limit, offset", () => {
  const rows = [
    { n: "b", v: 2 },
    { n: "a", v: null },
    { n: "c", v: 1 },
  ];

  it("sorts ascending with nulls last and descending with nulls first", () => {
    expect(sortItems(rows, { v: "asc" }).map((r) => r.n)).toEqual(["c", "b", "a"]);
    expect(sortItems(rows, [{ v: "desc" }]).map((r) => r.n)).toEqual(["a", "b", "c"]);
    expect(sortItems(rows, { v: "asc_nulls_first" }).map((r) => r.n)).toEqual(["a", "c", "b"]);
  });

  it("applies offset then limit and refuses negative values", () => {
    expect(paginate([1, 2, 3, 4], 2, 1)).toEqual([2, 3]);
    expect(() => paginate([1], -1, 0)).toThrow(ValidationError);
  });
});

describe("index selection helpers", () => {
  it("finds a column pinned by _eq at the top level or inside _and", () => {
    expect(pinnedValue({ name: { _eq: "x" } }, "name")).toBe("x");
    expect(pinnedValue({ _and: [{}, { name: { _eq: "y" } }] }, "name")).toBe("y");
    expect(pinnedValue({ _or: [{ name: { _eq: "z" } }] }, "name")).toBeUndefined();
  });

  it("finds the values a column is restricted to by _in", () => {
    expect(pinnedValues({ id: { _in: ["a", "b"] } }, "id")).toEqual(["a", "b"]);
    expect(pinnedValues({ id: { _gt: "a" } }, "id")).toBeUndefined();
  });
});
