import type { Measurement } from "./measure.js";
import type { Figure } from "./types.js";

/**
 * A throughput figure from a measurement: items per second (operations per second when each
 * operation handles one item), with its latency percentiles per operation and its error count.
 */
export function throughputFigure(
  key: string,
  label: string,
  measurement: Measurement,
  unit = "ops/s",
  extra: Partial<Pick<Figure, "floor" | "note">> = {},
): Figure {
  const notes = [extra.note, measurement.firstError && `first error: ${measurement.firstError}`].filter(
    (note): note is string => Boolean(note),
  );
  return {
    key,
    label,
    value: measurement.itemsPerSecond,
    unit,
    latencyMs: measurement.latencyMs,
    errors: measurement.errors,
    ...(extra.floor ? { floor: extra.floor } : {}),
    ...(notes.length > 0 ? { note: notes.join("; ") } : {}),
  };
}
