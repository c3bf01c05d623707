/**
 * ISO 8601 timestamps as Drover stores and compares them: UTC, `Z`, with microseconds where the
 * caller gave them (Prefect's log handler sends `2026-11-21T16:50:05.374712+00:00`; Postgres kept
 * microseconds, so lines in one millisecond keep their order and `--watch`'s "newer than the last
 * line" skips none).
 */
const ISO_RE =
  /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

/**
 * `value` in UTC with six fraction digits (`2026-11-21T16:50:05.374712Z`), or undefined when it is
 * not an ISO 8601 date or timestamp in the years 0 to 9999. Without a zone it is UTC (as Postgres
 * reads a timestamptz on a UTC server), never local time; a date alone is its midnight.
 */
export function isoMicros(value: string): string | undefined {
  const match = ISO_RE.exec(value.trim());
  if (!match) return undefined;
  const [, date, time = "00:00", fraction = "", given = "Z"] = match;
  // `+02`, `+0200` and `+02:00` alike, as Date.parse wants them.
  const zone = /^[+-]/.test(given) ? `${given.slice(0, 3)}:${given.slice(3).replace(":", "") || "00"}` : "Z";
  const digits = fraction.padEnd(6, "0");
  const seconds = time.length === 5 ? `${time}:00` : time;
  const ms = Date.parse(`${date}T${seconds}.${digits.slice(0, 3)}${zone}`);
  if (Number.isNaN(ms)) return undefined;
  const year = new Date(ms).getUTCFullYear();
  if (year < 0 || year > 9999) return undefined;
  return `${new Date(ms).toISOString().slice(0, -1)}${digits.slice(3, 6)}Z`;
}

/**
 * Orders two stored or given timestamps as times (a stored `...05.374Z` and a given
 * `...05.374000+00:00` are equal), or undefined when either is not a timestamp.
 */
export function compareTimes(a: string, b: string): number | undefined {
  const x = isoMicros(a);
  const y = isoMicros(b);
  if (x === undefined || y === undefined) return undefined;
  return x < y ? -1 : x > y ? 1 : 0;
}
