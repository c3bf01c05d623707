import { describe, expect, it } from "vitest";
import { MESSAGE_BUDGET_BYTES, packMessages, SQS_MAX_BYTES, sendBatches } from "#core/log/message.js";
import { timeWindow } from "#core/log/read.js";
import {
  MAX_MESSAGE_BYTES,
  normalizeLevel,
  normalizeTimestamp,
  prepare,
  TRUNCATION_MARKER,
  truncateMessage,
} from "#core/log/record.js";

const TENANT = "3f1c2b9e-5d7a-4e11-8f0c-6a2b4c8d9e01";
const RUN = "a6d0e4f2-1b3c-4d5e-8f70-9a1b2c3d4e5f";
const NOW = "2026-11-21T16:00:00.000Z";

const line = (message: string, extra: Record<string, unknown> = {}) => ({
  flow_run_id: RUN,
  timestamp: "2026-11-21T16:50:05.374712+00:00",
  name: "prefect.CloudFlowRunner",
  level: "INFO",
  message,
  ...extra,
});

describe("log line preparation", () => {
  it("normalises the client's timestamps to UTC microseconds, taking a zoneless one as UTC", () => {
    expect(normalizeTimestamp("2026-11-21T16:50:05.374712+00:00")).toBe("2026-11-21T16:50:05.374712Z");
    expect(normalizeTimestamp("2026-11-21T18:50:05+02:00")).toBe("2026-11-21T16:50:05.000000Z");
    expect(normalizeTimestamp("2026-11-21T18:50:05.5+0200")).toBe("2026-11-21T16:50:05.500000Z");
    expect(normalizeTimestamp("2026-11-21T16:50:05")).toBe("2026-11-21T16:50:05.000000Z");
    // Lines within one millisecond sort as the client stamped them.
    const a = normalizeTimestamp("2026-11-21T16:50:05.374009+00:00") ?? "";
    const b = normalizeTimestamp("2026-11-21T16:50:05.374010+00:00") ?? "";
    expect(a < b).toBe(true);
    expect(normalizeTimestamp("1969-12-31T23:59:59Z")).toBeUndefined();
    expect(normalizeTimestamp("1")).toBeUndefined();
    expect(normalizeTimestamp("yesterday")).toBeUndefined();
  });

  it("accepts the Python level names in any case, INFO by default, and refuses others", () => {
    expect(normalizeLevel("warning")).toBe("WARNING");
    expect(normalizeLevel("WARN")).toBe("WARNING");
    expect(normalizeLevel(undefined)).toBe("INFO");
    expect(normalizeLevel("LOUD")).toBeUndefined();
  });

  it("gives a resent batch the same ids, even with newer lines around it", () => {
    const first = prepare(TENANT, [line("a"), line("b")], NOW).records.map((r) => r.id);
    const resent = prepare(
      TENANT,
      [line("z", { timestamp: NOW }), line("a"), line("b")],
      "2026-11-21T16:00:05Z",
    );
    expect(resent.records.slice(1).map((r) => r.id)).toEqual(first);
  });

  it("gives identical lines of one batch distinct ids, and other tenants other ids", () => {
    const ids = prepare(TENANT, [line("a"), line("a")], NOW).records.map((r) => r.id);
    expect(new Set(ids).size).toBe(2);
    const other = prepare("11111111-1111-1111-1111-111111111111", [line("a")], NOW).records[0]?.id;
    expect(ids).not.toContain(other);
  });

  it("reports every invalid line with its index and field", () => {
    const { errors } = prepare(TENANT, [line("ok"), { message: "x" }, line("x", { level: "LOUD" })], NOW);
    expect(errors).toEqual([
      expect.stringMatching(/^logs\[1\]\.flow_run_id: /),
      'logs[2].level: "LOUD" is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL',
    ]);
  });

  it("truncates a message over the storable size on a character boundary, with a marker", () => {
    const text = "é".repeat(MAX_MESSAGE_BYTES);
    const cut = truncateMessage(text);
    expect(cut).toContain(`${TRUNCATION_MARKER}: the message was ${MAX_MESSAGE_BYTES * 2} bytes`);
    expect(cut).not.toContain("\uFFFD");
    expect(Buffer.byteLength(cut)).toBeLessThan(MAX_MESSAGE_BYTES + 200);
    expect(truncateMessage("short")).toBe("short");
  });

  it("replaces an oversize info with a marker and characters SQS refuses", () => {
    const [record] = prepare(TENANT, [line("\uFFFF", { info: { blob: "x".repeat(40_000) } })], NOW).records;
    expect(record?.info).toEqual({ [TRUNCATION_MARKER]: expect.stringMatching(/^info was \d+ bytes/) });
    expect(record?.message).toBe("\uFFFD");
  });
});

describe("packing lines into SQS messages", () => {
  const records = (count: number, size: number) =>
    prepare(
      TENANT,
      Array.from({ length: count }, (_, i) => line(`${i} ${"x".repeat(size)}`)),
      NOW,
    ).records;

  it("puts a 100-line batch in one message", () => {
    const bodies = packMessages(TENANT, records(100, 200));
    expect(bodies).toHaveLength(1);
    expect(JSON.parse(bodies[0] ?? "").logs).toHaveLength(100);
  });

  it("keeps every message under the limit and every line, in order", () => {
    const all = records(60, 60_000);
    const bodies = packMessages(TENANT, all);
    for (const body of bodies) expect(Buffer.byteLength(body)).toBeLessThanOrEqual(MESSAGE_BUDGET_BYTES);
    expect(bodies.flatMap((b) => JSON.parse(b).logs.map((l: { id: string }) => l.id))).toEqual(
      all.map((r) => r.id),
    );
  });

  it("cuts a line that escaping makes larger than one message", () => {
    const [record] = prepare(TENANT, [line("\u0001".repeat(150_000))], NOW).records;
    const bodies = packMessages(TENANT, record ? [record] : []);
    expect(bodies).toHaveLength(1);
    expect(Buffer.byteLength(bodies[0] ?? "")).toBeLessThanOrEqual(MESSAGE_BUDGET_BYTES);
    expect(JSON.parse(bodies[0] ?? "").logs[0].message).toContain(TRUNCATION_MARKER);
  });

  it("groups messages into SendMessageBatch calls of at most 10 entries and 256 KB", () => {
    const small = Array.from({ length: 25 }, () => "x".repeat(1000));
    expect(sendBatches(small).map((b) => b.length)).toEqual([10, 10, 5]);
    const large = Array.from({ length: 5 }, () => "x".repeat(100_000));
    const batches = sendBatches(large);
    for (const batch of batches)
      expect(batch.reduce((sum, b) => sum + Buffer.byteLength(b), 0)).toBeLessThanOrEqual(SQS_MAX_BYTES);
    expect(batches.flat()).toHaveLength(5);
  });
});

describe("the time window of a logs query", () => {
  it("takes the client's --watch bounds from _and", () => {
    expect(
      timeWindow({
        _and: [
          { timestamp: { _lte: "2026-11-21T16:50:07.548Z" } },
          { timestamp: { _gt: "2026-11-21T16:50:04.217Z" } },
        ],
      }),
    ).toEqual({ from: "2026-11-21T16:50:04.217000Z", through: "2026-11-21T16:50:07.548000Z" });
  });

  it("keeps the narrowest bounds and ignores _or and _not", () => {
    expect(
      timeWindow({
        timestamp: { _gte: "2026-11-21T10:00:00Z" },
        _and: [{ timestamp: { _gte: "2026-11-21T11:00:00Z" } }],
        _or: [{ timestamp: { _lt: "2026-11-21T12:00:00Z" } }],
        _not: { timestamp: { _gt: "2026-11-21T13:00:00Z" } },
      }),
    ).toEqual({ from: "2026-11-21T11:00:00.000000Z" });
  });
});
