import { describe, expect, it } from "vitest";
import { boundedCache, cacheStats, stringBytes } from "#core/cache.js";

const statsOf = (name: string) => cacheStats().filter((s) => s.name === name);

describe("boundedCache", () => {
  it("keeps at most maxEntries, dropping the least recently used first", () => {
    const cache = boundedCache<string, number>({
      name: "unit.entries",
      maxEntries: 3,
      maxBytes: 1_000_000,
      sizeOf: () => 1,
    });
    for (let i = 0; i < 3; i++) cache.set(`k${i}`, i);
    expect(cache.get("k0")).toBe(0); // k0 is now the most recently used
    cache.set("k3", 3);
    expect([...cache.keys()].sort()).toEqual(["k0", "k2", "k3"]);
    for (let i = 4; i < 1000; i++) cache.set(`k${i}`, i);
    expect(cache.size).toBe(3);
  });

  it("keeps at most maxBytes by its size estimate, and never stores an entry larger than that", () => {
    const cache = boundedCache<string, string>({
      name: "unit.bytes",
      maxEntries: 1000,
      maxBytes: 10_000,
      sizeOf: (value, key) => stringBytes(key) + stringBytes(value),
    });
    for (let i = 0; i < 100; i++) cache.set(`key-${i}`, "x".repeat(1000));
    const [stats] = statsOf("unit.bytes");
    expect(stats?.bytes).toBeLessThanOrEqual(10_000);
    expect(stats?.entries).toBeLessThan(10);
    expect(stats?.entries).toBeGreaterThan(0);
    cache.set("huge", "x".repeat(20_000));
    expect(cache.get("huge")).toBeUndefined();
    expect(cache.calculatedSize).toBeLessThanOrEqual(10_000);
  });

  it("forgets entries after ttlMs", async () => {
    const cache = boundedCache<string, number>({
      name: "unit.ttl",
      maxEntries: 10,
      maxBytes: 1000,
      ttlMs: 30,
      sizeOf: () => 1,
    });
    cache.set("a", 1);
    expect(cache.get("a")).toBe(1);
    const deadline = Date.now() + 5000;
    while (cache.get("a") !== undefined && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(cache.get("a")).toBeUndefined();
  });

  it("reports each live cache with its bounds", () => {
    const cache = boundedCache<string, number>({
      name: "unit.stats",
      maxEntries: 7,
      maxBytes: 700,
      ttlMs: 1000,
      sizeOf: () => 10,
    });
    cache.set("a", 1);
    cache.set("b", 2);
    expect(statsOf("unit.stats")).toEqual([
      { name: "unit.stats", entries: 2, bytes: 20, maxEntries: 7, maxBytes: 700, ttlMs: 1000 },
    ]);
  });

  it("refuses bounds below 1", () => {
    expect(() => boundedCache({ name: "unit.bad", maxEntries: 0, maxBytes: 10, sizeOf: () => 1 })).toThrow(
      /at least 1/,
    );
  });
});
