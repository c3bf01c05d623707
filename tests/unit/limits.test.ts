import { describe, expect, it } from "vitest";
import { parseConfig } from "#core/config.js";
import { TokenBucket } from "#core/limits/index.js";
import { createApi } from "../../functions/api/src/yoga.js";
import { knownQueries } from "../helpers/known-queries.js";

describe("token bucket", () => {
  it("admits a burst, then the sustained rate, and says how long to wait", () => {
    const bucket = new TokenBucket(10, 5, 0);
    for (let i = 0; i < 5; i++) expect(bucket.take(1, 0)).toBe(0);
    expect(bucket.take(1, 0)).toBe(100); // one token every 100 ms
    expect(bucket.take(1, 50)).toBe(50);
    expect(bucket.take(1, 100)).toBe(0);
    expect(bucket.take(1, 100)).toBeGreaterThan(0);
    expect(bucket.full(100 + 500)).toBe(true);
  });

  it("lets a batch larger than the bucket through when full, leaving it in debt", () => {
    const bucket = new TokenBucket(100, 50, 0);
    expect(bucket.take(80, 0)).toBe(0);
    // 30 tokens of debt, then 50 needed: 800 ms at 100/s.
    expect(bucket.take(80, 0)).toBe(800);
    expect(bucket.take(80, 800)).toBe(0);
  });

  it("takes a cost known afterwards into debt, and take(0) refuses until it is paid back", () => {
    const bucket = new TokenBucket(100, 100, 0);
    expect(bucket.take(0, 0)).toBe(0);
    bucket.spend(300, 0); // 200 in debt: 2 s at 100/s
    expect(bucket.take(0, 0)).toBe(2000);
    expect(bucket.take(0, 1500)).toBe(500);
    expect(bucket.take(0, 2000)).toBe(0);
  });

  it("never counts time backwards", () => {
    const bucket = new TokenBucket(1, 1, 1000);
    expect(bucket.take(1, 1000)).toBe(0);
    expect(bucket.take(1, 0)).toBe(1000);
  });
});

describe("query limits accept what the real clients send", () => {
  const limits = parseConfig({}).limits;
  it("documents the defaults", () => {
    expect(limits).toMatchObject({
      maxQueryDepth: 8,
      maxQueryAliases: 15,
      maxQueryTokens: 5000,
      maxQueryDirectives: 20,
      maxQueryCost: 3000,
      requestsPerSecond: 1000,
      requestBurst: 2000,
      logLinesPerSecond: 5000,
      logLinesBurst: 50_000,
      maxReadsPerRequest: 15_000,
      readUnitsPerSecond: 50_000,
      readUnitsBurst: 100_000,
    });
  });

  const api = createApi();
  const queries = knownQueries();
  it("covers the recorded Prefect 1.4.1 session, the CLI and the dashboard", () => {
    expect(queries.filter((q) => q.source.startsWith("recorded")).length).toBeGreaterThan(50);
    expect(queries.filter((q) => q.source.startsWith("cli")).length).toBe(3);
    expect(
      queries.filter((q) => q.source.endsWith(".tsx") || q.source.endsWith(".ts")).length,
    ).toBeGreaterThan(10);
  });

  it.each(queries.map((q) => [q.source, q.query]))("%s passes parse and validation", (_source, query) => {
    const { parse, validate, schema } = api.getEnveloped({ request: {}, params: { query } } as never);
    const errors = validate(schema, parse(query));
    expect(errors.map((e: Error) => e.message)).toEqual([]);
  });

  it("GraphiQL's introspection query passes", async () => {
    const { getIntrospectionQuery } = await import("graphql");
    const query = getIntrospectionQuery({
      descriptions: true,
      specifiedByUrl: true,
      inputValueDeprecation: true,
    });
    const { parse, validate, schema } = api.getEnveloped({ request: {}, params: { query } } as never);
    expect(validate(schema, parse(query))).toEqual([]);
  });
});
