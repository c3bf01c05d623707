import { LRUCache } from "lru-cache";

/**
 * The response header by which the API says that every request of this credential is refused for
 * that many milliseconds (its workspace's request or read bucket is empty: `RateLimitedError.
 * workspaceWaitMs`). Admission within that time is certain to fail, so an edge in front of the API
 * may refuse such requests without reading or parsing them (`ThrottleDoor`).
 */
export const THROTTLED_FOR_MS_HEADER = "x-drover-throttled-ms";

/** Credentials held at once: a flood comes from few keys; forgetting one only costs a full refusal. */
const MAX_HELD = 10_000;

/**
 * Remembers, per route and credential, until when the API refuses every request (from the
 * THROTTLED_FOR_MS_HEADER of its last answer), so the local HTTP server answers a client that
 * ignores Retry-After with the same 429 before reading its body. A refusal spends no tokens, so
 * holding the door for exactly the wait the bucket named admits exactly what the bucket would.
 */
export class ThrottleDoor {
  private readonly holds = new LRUCache<string, { until: number; message: string }>({ max: MAX_HELD });

  /**
   * Whether `credential` on `route` is still refused at `now`: for how many more milliseconds, and
   * the message the API refused it with; undefined when it may come in.
   */
  held(route: string, credential: string, now = Date.now()): { ms: number; message: string } | undefined {
    const key = `${route}\n${credential}`;
    const found = this.holds.get(key);
    if (found === undefined) return undefined;
    if (found.until <= now) {
      this.holds.delete(key);
      return undefined;
    }
    return { ms: found.until - now, message: found.message };
  }

  /**
   * Notes a refusal's THROTTLED_FOR_MS_HEADER value (absent or malformed: nothing held) and its
   * message, which the door repeats.
   */
  note(route: string, credential: string, throttledForMs: unknown, message: string, now = Date.now()): void {
    const ms = Number(throttledForMs);
    if (!Number.isFinite(ms) || ms <= 0) return;
    this.holds.set(`${route}\n${credential}`, { until: now + Math.min(ms, 3_600_000), message });
  }
}
