import { CronExpressionParser } from "cron-parser";
import { DateTime, IANAZone } from "luxon";
import * as rruleModule from "rrule";
import * as z from "zod";
import { ValidationError } from "../errors.js";

// rrule 2.8's main is a UMD bundle: Node's ESM loader sees only its default export (bundlers and
// vitest also see the named ones), so take the classes from whichever the loader gives.
type RRuleModule = typeof rruleModule;
const { RRule, Weekday } = ((rruleModule as unknown as { default?: RRuleModule }).default ??
  rruleModule) as RRuleModule;
type RRule = InstanceType<typeof RRule>;
type RRuleOptions = rruleModule.Options;

/**
 * The clocks of a Prefect 1 schedule, parsed once into typed values. Times are epoch milliseconds;
 * each clock keeps the IANA zone its times are computed in (DST handled by luxon / cron-parser).
 */
type ClockCommon = { parameterDefaults: Record<string, unknown>; labels: string[] | null };
export type Clock = ClockCommon &
  (
    | { kind: "interval"; intervalMs: number; start: DateTime; end: number | null }
    | { kind: "cron"; cron: string; zone: string; start: number | null; end: number | null }
    | { kind: "dates"; dates: Array<{ at: number; zone: string }> }
    | { kind: "rrule"; rule: RRule; zone: string; start: number | null; end: number | null }
  );

/** Prefect serializes Cloud-bound intervals in microseconds and refuses anything under a minute. */
export const MIN_INTERVAL_MS = 60_000;
/** Prefect's IntervalClock default start when none is given. */
const DEFAULT_INTERVAL_START = "2019-01-01T00:00:00";

const labels = z.array(z.string().min(1).max(255)).max(100).nullish();
const parameterDefaults = z.record(z.string(), z.unknown()).nullish();
const dateTimeTz = z.union([z.object({ dt: z.string(), tz: z.string().nullish() }).loose(), z.string()]);

function zoneOf(tz: string | null | undefined): string {
  const zone = tz ?? "UTC";
  if (!IANAZone.isValidZone(zone)) throw new ValidationError(`Unknown timezone "${zone}" in schedule`);
  return zone;
}

/** A DateTimeTZ as Prefect writes it (`{dt: naive local ISO, tz}`), or an ISO string (naive = UTC). */
export function parseDateTimeTz(value: z.infer<typeof dateTimeTz>): DateTime {
  const [text, zone] = typeof value === "string" ? [value, "UTC"] : [value.dt, zoneOf(value.tz)];
  const parsed = DateTime.fromISO(text, { zone, setZone: typeof value === "string" });
  if (!parsed.isValid) throw new ValidationError(`Invalid date "${text}" in schedule`);
  return typeof value === "string" ? parsed : parsed.setZone(zone);
}

const common = { parameter_defaults: parameterDefaults, labels };
const intervalClock = z
  .object({
    type: z.literal("IntervalClock"),
    interval: z.number().positive(),
    start_date: dateTimeTz.nullish(),
    end_date: dateTimeTz.nullish(),
    ...common,
  })
  .loose();
const cronClock = z
  .object({
    type: z.literal("CronClock"),
    cron: z.string().min(1).max(255),
    start_date: dateTimeTz.nullish(),
    end_date: dateTimeTz.nullish(),
    day_or: z.boolean().nullish(),
    ...common,
  })
  .loose();
const datesClock = z
  .object({ type: z.literal("DatesClock"), dates: z.array(dateTimeTz).min(1).max(10_000), ...common })
  .loose();
const rruleClock = z
  .object({
    type: z.literal("RRuleClock"),
    rrule_obj: z.record(z.string(), z.unknown()),
    start_date: dateTimeTz.nullish(),
    end_date: dateTimeTz.nullish(),
    ...common,
  })
  .loose();
const anyClock = z.discriminatedUnion("type", [intervalClock, cronClock, datesClock, rruleClock]);

function commonOf(raw: { parameter_defaults?: unknown; labels?: string[] | null }): ClockCommon {
  return {
    parameterDefaults: (raw.parameter_defaults ?? {}) as Record<string, unknown>,
    labels: raw.labels ?? null,
  };
}

function validCron(cron: string, zone: string, dayOr: boolean): string {
  try {
    CronExpressionParser.parse(cron, { tz: zone });
  } catch (error) {
    throw new ValidationError(`Invalid cron "${cron}": ${(error as Error).message}`);
  }
  const fields = cron.trim().split(/\s+/);
  // cron-parser (like croniter's default) ORs day-of-month and day-of-week when both are restricted.
  if (!dayOr && fields.length === 5 && fields[2] !== "*" && fields[4] !== "*")
    throw new ValidationError(`CronClock with day_or = false is not supported yet (cron "${cron}")`);
  return cron;
}

export function parseClock(value: unknown): Clock {
  const parsed = anyClock.safeParse(value);
  if (!parsed.success) {
    const type = (value as { type?: unknown } | null)?.type;
    throw new ValidationError(
      typeof type === "string" && !["IntervalClock", "CronClock", "DatesClock", "RRuleClock"].includes(type)
        ? `Unsupported clock type "${type}"`
        : `Invalid clock: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const clock = parsed.data;
  const endDate = clock.type === "DatesClock" ? null : clock.end_date;
  const end = endDate ? parseDateTimeTz(endDate).toMillis() : null;
  switch (clock.type) {
    case "IntervalClock": {
      const intervalMs = Math.round(clock.interval / 1000);
      if (intervalMs < MIN_INTERVAL_MS) throw new ValidationError("Interval can not be less than one minute");
      const start = clock.start_date
        ? parseDateTimeTz(clock.start_date)
        : DateTime.fromISO(DEFAULT_INTERVAL_START, { zone: "UTC" });
      return { kind: "interval", intervalMs, start, end, ...commonOf(clock) };
    }
    case "CronClock": {
      const start = clock.start_date ? parseDateTimeTz(clock.start_date) : null;
      const zone = start?.zoneName ?? "UTC";
      return {
        kind: "cron",
        cron: validCron(clock.cron, zone, clock.day_or ?? true),
        zone,
        start: start?.toMillis() ?? null,
        end,
        ...commonOf(clock),
      };
    }
    case "DatesClock":
      return {
        kind: "dates",
        dates: clock.dates
          .map(parseDateTimeTz)
          .map((d) => ({ at: d.toMillis(), zone: d.zoneName ?? "UTC" }))
          .sort((a, b) => a.at - b.at),
        ...commonOf(clock),
      };
    case "RRuleClock": {
      const { rule, zone } = parseRRule(clock.rrule_obj);
      const start = clock.start_date ? parseDateTimeTz(clock.start_date).toMillis() : null;
      return { kind: "rrule", rule, zone, start, end, ...commonOf(clock) };
    }
  }
}

const intList = z.array(z.number().int()).nullish();
const rruleObject = z
  .object({
    type: z.literal("rrule"),
    _freq: z.number().int().min(0).max(6),
    _dtstart: dateTimeTz.nullish(),
    _interval: z.number().int().positive().nullish(),
    _wkst: z.number().int().min(0).max(6).nullish(),
    _count: z.number().int().positive().nullish(),
    _until: dateTimeTz.nullish(),
    _bysetpos: intList,
    _bymonth: intList,
    _bymonthday: intList,
    _byyearday: intList,
    _byeaster: intList,
    _byweekday: z
      .array(z.object({ weekday: z.number().int().min(0).max(6), n: z.number().int().nullish() }))
      .nullish(),
    _byweekno: intList,
    _byhour: intList,
    _byminute: intList,
    _bysecond: intList,
  })
  .loose();

/** A local wall time as a "floating" Date (its UTC fields are the local fields), as rrule wants. */
function floating(dt: DateTime): Date {
  return new Date(Date.UTC(dt.year, dt.month - 1, dt.day, dt.hour, dt.minute, dt.second, dt.millisecond));
}

/** dateutil's rrule as Prefect serializes it; occurrences are computed in local wall time of its dtstart zone. */
function parseRRule(value: Record<string, unknown>): { rule: RRule; zone: string } {
  if (value.type === "rruleset")
    throw new ValidationError("RRuleClock with an rruleset is not supported yet");
  const parsed = rruleObject.safeParse(value);
  if (!parsed.success)
    throw new ValidationError(
      `Invalid rrule: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  const r = parsed.data;
  if (r._byeaster?.length) throw new ValidationError("rrule byeaster is not supported");
  const dtstart = r._dtstart
    ? parseDateTimeTz(r._dtstart)
    : DateTime.fromISO(DEFAULT_INTERVAL_START, { zone: "UTC" });
  const zone = dtstart.zoneName ?? "UTC";
  const options: Partial<RRuleOptions> = {
    freq: r._freq,
    dtstart: floating(dtstart),
    interval: r._interval ?? 1,
    wkst: r._wkst ?? 0,
    count: r._count ?? null,
    until: r._until ? floating(parseDateTimeTz(r._until).setZone(zone)) : null,
    bysetpos: r._bysetpos ?? null,
    bymonth: r._bymonth ?? null,
    bymonthday: r._bymonthday ?? null,
    byyearday: r._byyearday ?? null,
    byweekno: r._byweekno ?? null,
    byweekday: r._byweekday?.map((w) => new Weekday(w.weekday, w.n ?? undefined)) ?? null,
    byhour: r._byhour ?? null,
    byminute: r._byminute ?? null,
    bysecond: r._bysecond ?? null,
  };
  return { rule: new RRule(options), zone };
}

/** The clock's start times strictly after `after`, ascending, lazily. */
export function* clockTimes(clock: Clock, after: number): Generator<{ at: number; zone: string }> {
  switch (clock.kind) {
    case "interval":
      yield* intervalTimes(clock, after);
      return;
    case "cron": {
      const from = Math.max(after, (clock.start ?? Number.NEGATIVE_INFINITY) - 1);
      const iterator = CronExpressionParser.parse(clock.cron, {
        currentDate: new Date(from),
        tz: clock.zone,
      });
      while (true) {
        const at = iterator.next().getTime();
        if (clock.end !== null && at > clock.end) return;
        if (at > after) yield { at, zone: clock.zone };
      }
    }
    case "dates":
      for (const date of clock.dates) if (date.at > after) yield date;
      return;
    case "rrule": {
      let cursor = floating(
        DateTime.fromMillis(Math.max(after, (clock.start ?? 0) - 1), { zone: clock.zone }),
      );
      while (true) {
        const next = clock.rule.after(cursor, false);
        if (!next) return;
        cursor = next;
        const local = DateTime.fromObject(
          {
            year: next.getUTCFullYear(),
            month: next.getUTCMonth() + 1,
            day: next.getUTCDate(),
            hour: next.getUTCHours(),
            minute: next.getUTCMinutes(),
            second: next.getUTCSeconds(),
          },
          { zone: clock.zone },
        );
        const at = local.toMillis();
        if (clock.end !== null && at > clock.end) return;
        if (at > after) yield { at, zone: clock.zone };
      }
    }
  }
}

/**
 * Interval clocks as Prefect 1 counts them: intervals of whole days (and their remainder) are added
 * in the start date's zone, so a daily clock keeps its wall time across DST; shorter ones are UTC.
 */
function* intervalTimes(
  clock: Extract<Clock, { kind: "interval" }>,
  after: number,
): Generator<{ at: number; zone: string }> {
  const days = Math.floor(clock.intervalMs / 86_400_000);
  const rest = clock.intervalMs % 86_400_000;
  const zone = clock.start.zoneName ?? "UTC";
  const at = (k: number) =>
    clock.start
      .plus({ days: days * k })
      .plus({ milliseconds: rest * k })
      .toMillis();
  let k = Math.max(0, Math.ceil((after - clock.start.toMillis()) / clock.intervalMs));
  while (k > 0 && at(k - 1) > after) k--;
  while (at(k) <= after) k++;
  for (; ; k++) {
    const next = at(k);
    if (clock.end !== null && next > clock.end) return;
    yield { at: next, zone };
  }
}
