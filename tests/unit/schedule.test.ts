import { describe, expect, it } from "vitest";
import { nextEvents, parseSchedule } from "#core/schedule/schedule.js";
import { idempotencyKey } from "#core/schedule/tick.js";

const times = (schedule: unknown, after: string, n: number) =>
  nextEvents(parseSchedule(schedule), new Date(after), n).map((e) => e.startTime);

const cron = (expr: string, tz: string, extra: Record<string, unknown> = {}) => ({
  type: "Schedule",
  clocks: [{ type: "CronClock", cron: expr, start_date: { dt: "2020-01-01T00:00:00", tz }, ...extra }],
  filters: [],
  not_filters: [],
  or_filters: [],
  adjustments: [],
  __version__: "1.4.1",
});

describe("CronClock", () => {
  it("keeps a daily wall time in New York across the spring DST change", () => {
    expect(times(cron("0 9 * * *", "America/New_York"), "2026-03-07T00:00:00Z", 3)).toEqual([
      "2026-03-07T14:00:00.000Z",
      "2026-03-08T13:00:00.000Z",
      "2026-03-09T13:00:00.000Z",
    ]);
  });

  it("runs a time skipped by the spring change once, an hour later", () => {
    expect(times(cron("30 2 * * *", "America/New_York"), "2026-03-07T12:00:00Z", 2)).toEqual([
      "2026-03-08T07:30:00.000Z",
      "2026-03-09T06:30:00.000Z",
    ]);
  });

  it("fires hourly through the repeated hour of the autumn change, in absolute time", () => {
    expect(times(cron("0 * * * *", "America/New_York"), "2026-11-01T04:30:00Z", 3)).toEqual([
      "2026-11-01T05:00:00.000Z",
      "2026-11-01T06:00:00.000Z",
      "2026-11-01T07:00:00.000Z",
    ]);
  });

  it("is UTC without a start date and respects end_date", () => {
    const schedule = {
      clocks: [{ type: "CronClock", cron: "0 0 * * *", end_date: { dt: "2026-01-02T12:00:00", tz: "UTC" } }],
    };
    expect(times(schedule, "2025-12-31T01:00:00Z", 5)).toEqual([
      "2026-01-01T00:00:00.000Z",
      "2026-01-02T00:00:00.000Z",
    ]);
  });

  it("refuses an invalid cron and day_or = false with both day fields restricted", () => {
    expect(() => parseSchedule(cron("61 * * * *", "UTC"))).toThrow(/Invalid cron/);
    expect(() => parseSchedule(cron("0 0 1 * 1", "UTC", { day_or: false }))).toThrow(/day_or/);
  });
});

describe("IntervalClock", () => {
  const interval = (seconds: number, start: { dt: string; tz: string } | null) => ({
    clocks: [{ type: "IntervalClock", interval: seconds * 1_000_000, start_date: start }],
  });

  it("reads the interval in microseconds and counts from start_date, strictly after the moment", () => {
    expect(
      times(interval(3600, { dt: "2026-01-01T00:15:00", tz: "UTC" }), "2026-05-05T10:15:00Z", 3),
    ).toEqual(["2026-05-05T11:15:00.000Z", "2026-05-05T12:15:00.000Z", "2026-05-05T13:15:00.000Z"]);
  });

  it("starts at start_date when it is in the future", () => {
    expect(times(interval(600, { dt: "2030-01-01T00:00:00", tz: "UTC" }), "2026-05-05T10:15:00Z", 2)).toEqual(
      ["2030-01-01T00:00:00.000Z", "2030-01-01T00:10:00.000Z"],
    );
  });

  it("adds whole days in the start date's zone, keeping the wall time across DST", () => {
    expect(
      times(interval(86_400, { dt: "2026-03-01T08:00:00", tz: "Europe/Paris" }), "2026-03-28T00:00:00Z", 2),
    ).toEqual(["2026-03-28T07:00:00.000Z", "2026-03-29T06:00:00.000Z"]);
  });

  it("defaults to 2019-01-01 UTC and refuses intervals under a minute", () => {
    expect(times(interval(86_400, null), "2026-05-05T10:00:00Z", 1)).toEqual(["2026-05-06T00:00:00.000Z"]);
    expect(() => parseSchedule(interval(30, null))).toThrow(/one minute/);
  });
});

describe("several clocks", () => {
  const schedule = {
    clocks: [
      { type: "CronClock", cron: "0 * * * *", parameter_defaults: { x: 1 }, labels: ["a"] },
      { type: "CronClock", cron: "0 */2 * * *", parameter_defaults: { x: 2 }, labels: null },
      { type: "DatesClock", dates: [{ dt: "2026-05-05T10:30:00", tz: "UTC" }] },
    ],
  };

  it("merges clocks in time order and gives each clock firing at the same instant its own event", () => {
    const events = nextEvents(parseSchedule(schedule), new Date("2026-05-05T09:30:00Z"), 4);
    expect(events).toEqual([
      { startTime: "2026-05-05T10:00:00.000Z", parameterDefaults: { x: 1 }, labels: ["a"] },
      { startTime: "2026-05-05T10:00:00.000Z", parameterDefaults: { x: 2 }, labels: null },
      { startTime: "2026-05-05T10:30:00.000Z", parameterDefaults: {}, labels: null },
      { startTime: "2026-05-05T11:00:00.000Z", parameterDefaults: { x: 1 }, labels: ["a"] },
    ]);
    const [first, second] = events;
    if (!first || !second) throw new Error("missing events");
    expect(idempotencyKey("g", first)).not.toBe(idempotencyKey("g", second));
    expect(idempotencyKey("g", first)).toBe(idempotencyKey("g", { ...first, labels: ["a"] }));
    expect(idempotencyKey("g", first)).not.toBe(idempotencyKey("h", first));
  });
});

describe("filters, adjustments and formats", () => {
  it("applies is_weekday and refuses filters it cannot honour", () => {
    const daily = cron("0 12 * * *", "UTC");
    expect(
      times(
        { ...daily, filters: [{ fn: "prefect.schedules.filters.is_weekday", kwargs: {} }] },
        "2026-11-20T13:00:00Z",
        2,
      ),
    ).toEqual(["2026-11-23T12:00:00.000Z", "2026-11-24T12:00:00.000Z"]);
    expect(
      times({ ...daily, not_filters: ["prefect.schedules.filters.is_weekday"] }, "2026-11-20T13:00:00Z", 2),
    ).toEqual(["2026-11-21T12:00:00.000Z", "2026-11-22T12:00:00.000Z"]);
    expect(() =>
      parseSchedule({
        ...daily,
        filters: [{ fn: "prefect.schedules.filters.at_time", kwargs: { t: "10:00" } }],
      }),
    ).toThrow(/at_time" is not supported/);
  });

  it("moves weekend times to Monday with next_weekday", () => {
    const daily = cron("0 12 * * *", "UTC", {});
    expect(
      times(
        { ...daily, adjustments: ["prefect.schedules.adjustments.next_weekday"] },
        "2026-11-20T13:00:00Z",
        3,
      ),
    ).toEqual(["2026-11-23T12:00:00.000Z", "2026-11-23T12:00:00.000Z", "2026-11-23T12:00:00.000Z"]);
  });

  it("reads the flow group's format: cron and interval (seconds) clocks in one timezone", () => {
    const events = nextEvents(
      parseSchedule({
        timezone: "America/New_York",
        cron_clocks: [{ cron: "0 9 * * *", parameter_defaults: { who: "cron" } }],
        interval_clocks: [{ interval: 86_400 * 7, labels: ["weekly"] }],
      }),
      new Date("2026-03-07T00:00:00Z"),
      5,
    );
    // The weekly interval counts from 2019-01-01 (a Tuesday) at midnight New York time.
    expect(events.map((e) => e.startTime)).toEqual([
      "2026-03-07T14:00:00.000Z",
      "2026-03-08T13:00:00.000Z",
      "2026-03-09T13:00:00.000Z",
      "2026-03-10T04:00:00.000Z",
      "2026-03-10T13:00:00.000Z",
    ]);
    expect(events[0]?.parameterDefaults).toEqual({ who: "cron" });
    expect(events[3]?.labels).toEqual(["weekly"]);
  });

  it("computes an RRuleClock in its dtstart's zone across DST", () => {
    const schedule = {
      clocks: [
        {
          type: "RRuleClock",
          rrule_obj: {
            type: "rrule",
            _freq: 2, // WEEKLY
            _dtstart: { dt: "2026-01-05T09:00:00", tz: "America/New_York" },
            _interval: 1,
            _byweekday: [{ weekday: 0, n: null }],
          },
        },
      ],
    };
    expect(times(schedule, "2026-03-01T00:00:00Z", 2)).toEqual([
      "2026-03-02T14:00:00.000Z",
      "2026-03-09T13:00:00.000Z",
    ]);
  });

  it("refuses unknown clock types", () => {
    expect(() => parseSchedule({ clocks: [{ type: "LunarClock" }] })).toThrow(/Unsupported clock type/);
  });
});
