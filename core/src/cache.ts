import { LRUCache } from "lru-cache";

/**
 * Every in-process cache of Drover is one of these: least-recently-used, bounded by entries AND by
 * bytes (an estimate: `sizeOf` counts the key and what the value holds), with an optional time to
 * live. A cache that only counted entries could still be filled with a few thousand huge keys
 * (query texts, credentials); one that only counted bytes could hold millions of tiny entries.
 * `cacheStats()` reports each live cache's size against its bounds (tests, operators).
 */
export type BoundedCacheOptions<K, V> = {
  /** Stable name in `cacheStats()` (several live caches may share one, e.g. per handler). */
  name: string;
  maxEntries: number;
  maxBytes: number;
  /** Estimated bytes of an entry (key included); at least 1. Entries larger than maxBytes are not kept. */
  sizeOf: (value: V, key: K) => number;
  /** Entries older than this are never returned (not refreshed by reads). */
  ttlMs?: number;
};

type Key = NonNullable<unknown>;

export type BoundedCache<K extends Key, V extends Key> = LRUCache<K, V> & { readonly cacheName: string };

export type CacheStats = {
  name: string;
  entries: number;
  bytes: number;
  maxEntries: number;
  maxBytes: number;
  ttlMs: number | null;
};

/** Estimated heap bytes of a string (V8 keeps one-byte strings at 1 byte a character, others at 2). */
export function stringBytes(value: string): number {
  return 16 + value.length * 2;
}

/** What the stats read of a cache, whatever its key and value types. */
type Measured = {
  readonly size: number;
  readonly calculatedSize: number;
  readonly max: number;
  readonly maxSize: number;
};
type Registered = { name: string; ttlMs: number | null; ref: WeakRef<Measured> };
/** Weak, so a cache dropped with its owner (e.g. a test's handler) drops out of the stats. */
const live = new Set<Registered>();

export function boundedCache<K extends Key, V extends Key>(
  options: BoundedCacheOptions<K, V>,
): BoundedCache<K, V> {
  if (!(options.maxEntries >= 1) || !(options.maxBytes >= 1)) {
    throw new Error(`cache ${options.name}: maxEntries and maxBytes must be at least 1`);
  }
  const cache = new LRUCache<K, V>({
    max: options.maxEntries,
    maxSize: options.maxBytes,
    // An entry bigger than the whole cache is simply not stored (lru-cache's maxEntrySize).
    maxEntrySize: options.maxBytes,
    sizeCalculation: (value, key) => Math.max(1, Math.ceil(options.sizeOf(value, key))),
    ...(options.ttlMs !== undefined && options.ttlMs > 0 ? { ttl: options.ttlMs, ttlAutopurge: false } : {}),
  }) as BoundedCache<K, V>;
  Object.defineProperty(cache, "cacheName", { value: options.name, enumerable: false });
  for (const entry of live) if (!entry.ref.deref()) live.delete(entry);
  live.add({
    name: options.name,
    ttlMs: options.ttlMs ?? null,
    ref: new WeakRef<Measured>(cache),
  });
  return cache;
}

/** Each live bounded cache's entries and estimated bytes, with its bounds (expired entries count until purged). */
export function cacheStats(): CacheStats[] {
  const stats: CacheStats[] = [];
  for (const entry of live) {
    const cache = entry.ref.deref();
    if (!cache) {
      live.delete(entry);
      continue;
    }
    stats.push({
      name: entry.name,
      entries: cache.size,
      bytes: cache.calculatedSize,
      maxEntries: cache.max,
      maxBytes: cache.maxSize,
      ttlMs: entry.ttlMs,
    });
  }
  return stats;
}
