import type { Figure, FloorRef } from "./types.js";

/** A floor made of one measured figure. */
export function floorOf(figure: Figure, label = figure.label): FloorRef {
  return { label, value: figure.value, unit: figure.unit };
}

/**
 * The floor of a path that does each of `steps` once per item, one after the other (e.g. a log line
 * is sent to SQS and then batch-written): per-item times add, so the rate is 1 / Σ(1 / rate).
 */
export function serialFloor(label: string, steps: readonly Figure[], unit = steps[0]?.unit ?? ""): FloorRef {
  const secondsPerItem = steps.reduce((sum, step) => sum + 1 / step.value, 0);
  return { label, value: steps.length === 0 ? Number.NaN : 1 / secondsPerItem, unit };
}

/** value / floor, or undefined when there is no usable floor. */
export function ratioToFloor(figure: Figure): number | undefined {
  const floor = figure.floor;
  if (!floor || !Number.isFinite(floor.value) || floor.value === 0) return undefined;
  return figure.value / floor.value;
}
