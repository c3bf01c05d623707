import { beforeAll, describe, expect, it } from "vitest";
import { withActor } from "#core/actor.js";
import { DroverError } from "#core/errors.js";
import { asTenant, Workspace } from "#core/index.js";
import * as KeyValue from "#core/kv/index.js";
import { useTestTables } from "../helpers/storage.js";

beforeAll(async () => {
  await useTestTables("kv");
});

async function workspace(name: string) {
  return Workspace.create({ name });
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return error instanceof DroverError ? error.code : String(error);
  }
}

describe("KV store (core)", () => {
  it("creates at version 1, overwrites with version + 1 keeping the id, and records who and when", async () => {
    const w = await workspace("KV basics");
    const keyA = "6a9e0f3c-1b2d-4e5f-8a7b-9c0d1e2f3a4b";
    const keyB = "7b0f1a4d-2c3e-4f60-9b8c-0d1e2f3a4b5c";
    const first = await withActor({ type: "tenant", tenantId: w.id, apiKeyId: keyA }, () =>
      KeyValue.set({ key: "watermark", value: "2024-01-01" }),
    );
    expect(first.created).toBe(true);
    expect(first.pair).toMatchObject({ key: "watermark", value: "2024-01-01", version: 1, created_by: keyA });
    const second = await withActor({ type: "tenant", tenantId: w.id, apiKeyId: keyB }, () =>
      KeyValue.set({ key: "watermark", value: { day: "2024-01-02" } }),
    );
    expect(second.created).toBe(false);
    expect(second.pair).toMatchObject({
      id: first.pair.id,
      version: 2,
      value: { day: "2024-01-02" },
      created_by: keyA,
      updated_by: keyB,
      created: first.pair.created,
    });
    expect(second.pair.updated >= first.pair.updated).toBe(true);
    expect(await asTenant(w.id, () => KeyValue.get("watermark"))).toEqual(second.pair);
  });

  it("lists keys in order with prefix search, order_by, limit and offset", async () => {
    const w = await workspace("KV listing");
    await asTenant(w.id, async () => {
      for (const key of ["b/2", "a/1", "b/1", "c", "b/3"]) await KeyValue.set({ key, value: key });
      const keys = (await KeyValue.find({}, ["key"])).map((p) => p.key);
      expect(keys).toEqual(["a/1", "b/1", "b/2", "b/3", "c"]);
      const prefixed = await KeyValue.find({ where: { key: { _like: "b/%" } }, order_by: [{ key: "desc" }] });
      expect(prefixed.map((p) => [p.key, p.value])).toEqual([
        ["b/3", "b/3"],
        ["b/2", "b/2"],
        ["b/1", "b/1"],
      ]);
      const page = await KeyValue.find({ order_by: [{ key: "asc" }], limit: 2, offset: 1 });
      expect(page.map((p) => p.key)).toEqual(["b/1", "b/2"]);
      expect((await KeyValue.list({ prefix: "b/", limit: 2 })).map((p) => p.key)).toEqual(["b/1", "b/2"]);
      const one = await KeyValue.find({ where: { key: { _eq: "c" } } });
      expect(one).toHaveLength(1);
      expect(await KeyValue.find({ where: { id: { _eq: one[0]?.id } } })).toEqual(one);
    });
  });

  it("deletes by key and by id, and answers NOT_FOUND for a missing key or id", async () => {
    const w = await workspace("KV delete");
    await asTenant(w.id, async () => {
      const { pair } = await KeyValue.set({ key: "gone", value: 1 });
      await KeyValue.removeById(pair.id);
      expect(await KeyValue.get("gone")).toBeUndefined();
      expect(await codeOf(KeyValue.removeById(pair.id))).toBe("NOT_FOUND");
      expect(await codeOf(KeyValue.remove("gone"))).toBe("NOT_FOUND");
      const again = await KeyValue.set({ key: "gone", value: 2 });
      expect(again.pair.id).not.toBe(pair.id);
      expect(again.pair.version).toBe(1);
      await KeyValue.remove("gone");
      expect((await KeyValue.settings()).pair_count).toBe(0);
    });
  });

  it("compare-and-set: writes at the expected version and fails with VERSION_LOCKING_ERROR otherwise", async () => {
    const w = await workspace("KV cas");
    await asTenant(w.id, async () => {
      expect((await KeyValue.set({ key: "k", value: 1, expectedVersion: 0 })).pair.version).toBe(1);
      expect(await codeOf(KeyValue.set({ key: "k", value: 2, expectedVersion: 0 }))).toBe(
        "VERSION_LOCKING_ERROR",
      );
      expect((await KeyValue.set({ key: "k", value: 2, expectedVersion: 1 })).pair.version).toBe(2);
      await expect(KeyValue.set({ key: "k", value: 3, expectedVersion: 1 })).rejects.toThrow(
        /at version 2, not the expected version 1/,
      );
      expect(await codeOf(KeyValue.set({ key: "absent", value: 1, expectedVersion: 3 }))).toBe(
        "VERSION_LOCKING_ERROR",
      );
      expect((await KeyValue.get("k"))?.value).toBe(2);
    });
  });

  it("concurrent writers to one key: every write gets a distinct version and the last one wins", async () => {
    const w = await workspace("KV concurrent writers");
    await asTenant(w.id, async () => {
      const writers = 24;
      const results = await Promise.all(
        Array.from({ length: writers }, (_, i) => KeyValue.set({ key: "counter", value: i })),
      );
      const versions = results.map((r) => r.pair.version).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: writers }, (_, i) => i + 1));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.pair.id)).size).toBe(1);
      const last = results.find((r) => r.pair.version === writers);
      const stored = await KeyValue.get("counter");
      expect(stored?.version).toBe(writers);
      expect(stored?.value).toBe(last?.pair.value);
      expect((await KeyValue.settings()).pair_count).toBe(1);
    });
  });

  it("concurrent compare-and-set on one version: exactly one wins, the others conflict", async () => {
    const w = await workspace("KV concurrent cas");
    await asTenant(w.id, async () => {
      await KeyValue.set({ key: "lock", value: "free" });
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          codeOf(KeyValue.set({ key: "lock", value: i, expectedVersion: 1 })),
        ),
      );
      expect(outcomes.filter((o) => o === undefined)).toHaveLength(1);
      expect(outcomes.filter((o) => o === "VERSION_LOCKING_ERROR")).toHaveLength(11);
      expect((await KeyValue.get("lock"))?.version).toBe(2);
    });
  });

  it("enforces the per-workspace cap, configurable per workspace, against concurrent creators", async () => {
    const w = await workspace("KV cap");
    await asTenant(w.id, async () => {
      expect(await KeyValue.settings()).toEqual({ max_pairs: 1000, pair_count: 0 });
      await KeyValue.setMaxPairs(5);
      const outcomes = await Promise.all(
        Array.from({ length: 32 }, (_, i) => codeOf(KeyValue.set({ key: `k${i}`, value: i }))),
      );
      expect(outcomes.filter((o) => o === undefined)).toHaveLength(5);
      expect(outcomes.filter((o) => o === "LIMIT_EXCEEDED")).toHaveLength(27);
      expect(await KeyValue.settings()).toEqual({ max_pairs: 5, pair_count: 5 });
      expect(await KeyValue.find({}, ["key"])).toHaveLength(5);
      // Existing keys can still be overwritten at the cap; deleting one frees a slot.
      const existing = (await KeyValue.find({}, ["key"]))[0]?.key as string;
      expect((await KeyValue.set({ key: existing, value: "again" })).pair.version).toBe(2);
      await expect(KeyValue.set({ key: "one-more", value: 1 })).rejects.toThrow(/limit is 5/);
      await KeyValue.remove(existing);
      expect((await KeyValue.set({ key: "one-more", value: 1 })).created).toBe(true);
    });
    // Another workspace keeps the default cap.
    const other = await workspace("KV cap other");
    expect(await asTenant(other.id, () => KeyValue.settings())).toEqual({ max_pairs: 1000, pair_count: 0 });
  });

  it("refuses values over 10 KB and invalid keys before writing anything", async () => {
    const w = await workspace("KV limits");
    await asTenant(w.id, async () => {
      expect(await codeOf(KeyValue.set({ key: "big", value: "x".repeat(10_001) }))).toBe("PAYLOAD_TOO_LARGE");
      expect(await codeOf(KeyValue.set({ key: "bad\nkey", value: 1 }))).toBe("BAD_USER_INPUT");
      expect(await KeyValue.settings()).toEqual({ max_pairs: 1000, pair_count: 0 });
    });
  });

  it("isolates workspaces: same key, separate values; ids of one are unknown to the other", async () => {
    const a = await workspace("KV iso A");
    const b = await workspace("KV iso B");
    const inA = await asTenant(a.id, () => KeyValue.set({ key: "shared", value: "a" }));
    await asTenant(b.id, () => KeyValue.set({ key: "shared", value: "b" }));
    expect((await asTenant(a.id, () => KeyValue.get("shared")))?.value).toBe("a");
    expect((await asTenant(b.id, () => KeyValue.get("shared")))?.value).toBe("b");
    expect(await asTenant(b.id, () => KeyValue.fromId(inA.pair.id))).toBeUndefined();
    expect(await codeOf(asTenant(b.id, () => KeyValue.removeById(inA.pair.id)))).toBe("NOT_FOUND");
    expect((await asTenant(b.id, () => KeyValue.find({}))).map((p) => p.value)).toEqual(["b"]);
    expect(await codeOf(KeyValue.get("shared"))).toBe("UNAUTHENTICATED");
  });
});
