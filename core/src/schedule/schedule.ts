import { DateTime } from "luxon";
import * as z from "zod";
import { ValidationError } from "../errors.js";
import { type Clock, clockTimes, parseClock } from "./clocks.js";

/** A filter or adjustment on an event's start time, in its clock's zone. */
type TimeFilter = (dt: DateTime) => boolean;
type Adjustment = (dt: DateTime) => DateTime;

export type Schedule = {
  clocks: Clock[];
  filters: TimeFilter[];
  orFilters: TimeFilter[];
  notFilters: TimeFilter[];
  adjustments: Adjustment[];
};

/** One start time of a schedule with the parameters and labels its clock gives the run. */
export type ScheduleEvent = {
  startTime: string;
  parameterDefaults: Record<string, unknown>;
  labels: string[] | null;
};

const FILTERS = "prefect.schedules.filters.";
const ADJUSTMENTS = "prefect.schedules.adjustments.";

const functionReference = z.union([
  z.string(),
  z.object({ fn: z.string(), kwargs: z.record(z.string(), z.unknown()).nullish() }).loose(),
]);

function reference(value: z.infer<typeof functionReference>) {
  return typeof value === "string" ? { fn: value, kwargs: {} } : { fn: value.fn, kwargs: value.kwargs ?? {} };
}

const int = (kwargs: Record<string, unknown>, name: string) => {
  const value = kwargs[name];
  if (typeof value !== "number" || !Number.isInteger(value))
    throw new ValidationError(`Schedule filter argument ${name} must be an integer`);
  return value;
};

/** Prefect's filters that need no datetime arguments; the others are refused with their name. */
function parseFilter(value: z.infer<typeof functionReference>): TimeFilter {
  const { fn, kwargs } = reference(value);
  const name = fn.startsWith(FILTERS) ? fn.slice(FILTERS.length) : fn;
  switch (name) {
    case "is_weekday":
      return (dt) => dt.weekday <= 5;
    case "is_weekend":
      return (dt) => dt.weekday >= 6;
    case "is_month_start":
      return (dt) => dt.day === 1;
    case "is_month_end":
      return (dt) => dt.day === dt.daysInMonth;
    case "is_day_of_week": {
      // Python's weekday(): Monday is 0; luxon's: Monday is 1.
      const day = int(kwargs, "day_of_week");
      return (dt) => dt.weekday - 1 === day;
    }
    case "on_date": {
      const month = int(kwargs, "month");
      const day = int(kwargs, "day");
      return (dt) => dt.month === month && dt.day === day;
    }
    case "between_dates": {
      const start = int(kwargs, "start_mo") * 100 + int(kwargs, "start_day");
      const end = int(kwargs, "end_mo") * 100 + int(kwargs, "end_day");
      return (dt) => {
        const md = dt.month * 100 + dt.day;
        return start <= end ? md >= start && md <= end : md >= start || md <= end;
      };
    }
    default:
      throw new ValidationError(`Schedule filter "${fn}" is not supported yet`);
  }
}

function parseAdjustment(value: z.infer<typeof functionReference>): Adjustment {
  const { fn } = reference(value);
  const name = fn.startsWith(ADJUSTMENTS) ? fn.slice(ADJUSTMENTS.length) : fn;
  if (name === "next_weekday") return (dt) => (dt.weekday <= 5 ? dt : dt.plus({ days: 8 - dt.weekday }));
  throw new ValidationError(`Schedule adjustment "${fn}" is not supported yet`);
}

const filterList = z.array(functionReference).nullish();
const serializedSchedule = z
  .object({
    clocks: z.array(z.unknown()).max(100),
    filters: filterList,
    or_filters: filterList,
    not_filters: filterList,
    adjustments: filterList,
  })
  .loose();

/**
 * The flow group's own format (what Prefect Cloud's `set_flow_group_schedule` takes): cron and
 * interval (seconds) clocks sharing a timezone.
 */
const groupSchedule = z
  .object({
    timezone: z.string().nullish(),
    cron_clocks: z
      .array(
        z
          .object({
            cron: z.string(),
            parameter_defaults: z.unknown().optional(),
            labels: z.unknown().optional(),
          })
          .loose(),
      )
      .nullish(),
    interval_clocks: z
      .array(
        z
          .object({
            interval: z.number().positive(),
            parameter_defaults: z.unknown().optional(),
            labels: z.unknown().optional(),
          })
          .loose(),
      )
      .nullish(),
  })
  .loose();

function fromGroupFormat(value: z.infer<typeof groupSchedule>): unknown {
  const tz = value.timezone ?? "UTC";
  const localNow = DateTime.fromISO("2019-01-01T00:00:00", { zone: "UTC" }).toISO({ includeOffset: false });
  const start = { dt: localNow, tz };
  return {
    clocks: [
      ...(value.cron_clocks ?? []).map((c) => ({ ...c, type: "CronClock", start_date: start })),
      ...(value.interval_clocks ?? []).map((c) => ({
        ...c,
        type: "IntervalClock",
        interval: c.interval * 1_000_000,
        start_date: start,
      })),
    ],
  };
}

/**
 * Parses a schedule as stored: a serialized Prefect 1 `Schedule` (from the flow JSON), or the flow
 * group's `{timezone, cron_clocks, interval_clocks}`. Anything it cannot honour exactly is refused.
 */
export function parseSchedule(value: unknown): Schedule {
  let raw = value;
  if (raw && typeof raw === "object" && !("clocks" in raw)) {
    const group = groupSchedule.safeParse(raw);
    if (!group.success || (!group.data.cron_clocks && !group.data.interval_clocks))
      throw new ValidationError("A schedule needs clocks (or cron_clocks / interval_clocks)");
    raw = fromGroupFormat(group.data);
  }
  const parsed = serializedSchedule.safeParse(raw);
  if (!parsed.success)
    throw new ValidationError(
      `Invalid schedule: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  return {
    clocks: parsed.data.clocks.map(parseClock),
    filters: (parsed.data.filters ?? []).map(parseFilter),
    orFilters: (parsed.data.or_filters ?? []).map(parseFilter),
    notFilters: (parsed.data.not_filters ?? []).map(parseFilter),
    adjustments: (parsed.data.adjustments ?? []).map(parseAdjustment),
  };
}

/** Candidates looked at before giving up on filters that reject everything (Prefect 1 uses 10,000). */
const MAX_CANDIDATES = 10_000;

function passes(schedule: Schedule, dt: DateTime): boolean {
  return (
    schedule.filters.every((f) => f(dt)) &&
    (schedule.orFilters.length === 0 || schedule.orFilters.some((f) => f(dt))) &&
    !schedule.notFilters.some((f) => f(dt))
  );
}

/**
 * The next `n` events strictly after `after`, merged across clocks in time order (clocks firing at
 * the same instant each give an event), filtered then adjusted as Prefect 1 does.
 */
export function nextEvents(schedule: Schedule, after: Date, n: number): ScheduleEvent[] {
  const iterators = schedule.clocks.map((clock) => clockTimes(clock, after.getTime()));
  const heads = iterators.map((it) => it.next());
  const events: ScheduleEvent[] = [];
  for (let seen = 0; events.length < n && seen < MAX_CANDIDATES; seen++) {
    let best = -1;
    heads.forEach((head, i) => {
      const current = heads[best];
      if (!head.done && (best < 0 || (current && !current.done && head.value.at < current.value.at)))
        best = i;
    });
    const head = heads[best];
    const clock = schedule.clocks[best];
    const iterator = iterators[best];
    if (!head || head.done || !clock || !iterator) break;
    heads[best] = iterator.next();
    let dt: DateTime = DateTime.fromMillis(head.value.at, { zone: head.value.zone });
    if (!passes(schedule, dt)) continue;
    for (const adjust of schedule.adjustments) dt = adjust(dt);
    events.push({
      startTime: new Date(dt.toMillis()).toISOString(),
      parameterDefaults: clock.parameterDefaults,
      labels: clock.labels,
    });
  }
  return events;
}
