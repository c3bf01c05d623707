import { afterEach, describe, expect, it } from "vitest";
import { asTenant } from "#core/actor.js";
import { configure, parseConfig, useConfig } from "#core/config.js";
import { inStorageShare, inWorkspaceShare } from "#core/limits/fairness.js";
import { RateLimitedError } from "#core/limits/index.js";

/** A run that stays in flight until released. */
function held() {
  let release = () => {};
  const done = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { run: () => done, release };
}

const previous = useConfig();
afterEach(() => configure(previous));

describe("a workspace's share of the process", () => {
  it("runs a workspace's requests up to its bound, queues the next, refuses beyond the queue, and never holds another workspace", async () => {
    configure(
      parseConfig({ DROVER_WORKSPACE_CONCURRENT_REQUESTS: "2", DROVER_WORKSPACE_QUEUED_REQUESTS: "1" }),
    );
    const first = held();
    const second = held();
    const started: string[] = [];
    const track = (name: string, run: () => Promise<void>) => () => {
      started.push(name);
      return run();
    };
    const a1 = inWorkspaceShare("A", track("a1", first.run));
    const a2 = inWorkspaceShare("A", track("a2", second.run));
    const a3 = inWorkspaceShare(
      "A",
      track("a3", async () => {}),
    );
    await expect(
      inWorkspaceShare(
        "A",
        track("a4", async () => {}),
      ),
    ).rejects.toBeInstanceOf(RateLimitedError);
    // Another workspace is not behind A's line.
    await inWorkspaceShare(
      "B",
      track("b1", async () => {}),
    );
    expect(started).toEqual(["a1", "a2", "b1"]);
    first.release();
    await a1;
    await a3;
    expect(started).toEqual(["a1", "a2", "b1", "a3"]);
    second.release();
    await a2;
  });

  it("bounds a workspace's storage calls in flight, not the system's or another workspace's", async () => {
    configure(parseConfig({ DROVER_WORKSPACE_STORAGE_CONCURRENCY: "1" }));
    const call = held();
    const order: string[] = [];
    const a1 = asTenant("A", () =>
      inStorageShare(() => {
        order.push("a1");
        return call.run();
      }),
    );
    const a2 = asTenant("A", () => inStorageShare(async () => order.push("a2")));
    await asTenant("B", () => inStorageShare(async () => order.push("b1")));
    await inStorageShare(async () => order.push("system"));
    expect(order).toEqual(["a1", "b1", "system"]);
    call.release();
    await Promise.all([a1, a2]);
    expect(order).toEqual(["a1", "b1", "system", "a2"]);
  });
});
