import type { Figure } from "./types.js";

/**
 * Figures from whatever a measuring function returns, so a benchmark module need not know the
 * runner's types: a `Figure[]` is taken as is; otherwise every finite number in a plain object or
 * array becomes a figure keyed by its path (`bundles.api.bytes`), its unit read from the last
 * name: `…bytes`/`…Bytes` → bytes, `…ms`/`…Ms` → ms, `…PerSecond` → /s, else none.
 */
export function figuresFrom(prefix: string, value: unknown): Figure[] {
  if (Array.isArray(value) && value.length > 0 && value.every(isFigure)) return value;
  const figures: Figure[] = [];
  walk([prefix], value, figures);
  return figures;
}

function isFigure(value: unknown): value is Figure {
  if (typeof value !== "object" || value === null) return false;
  const figure = value as Record<string, unknown>;
  return (
    typeof figure.key === "string" &&
    typeof figure.label === "string" &&
    typeof figure.value === "number" &&
    typeof figure.unit === "string"
  );
}

function walk(path: string[], value: unknown, out: Figure[]): void {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return;
    const key = path.join(".");
    out.push({ key, label: path.slice(1).join(" ") || key, value, unit: unitOf(path.at(-1) ?? "") });
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((element, index) => {
      walk([...path, nameOf(element) ?? String(index)], element, out);
    });
    return;
  }
  if (typeof value === "object" && value !== null) {
    for (const [name, element] of Object.entries(value)) {
      if (name !== "name") walk([...path, name], element, out);
    }
  }
}

/** Array elements named by a `name` field (e.g. `[{ name: "api", bytes: 1 }]`) keep their name. */
function nameOf(element: unknown): string | undefined {
  if (typeof element !== "object" || element === null) return undefined;
  const name = (element as Record<string, unknown>).name;
  return typeof name === "string" ? name : undefined;
}

function unitOf(name: string): string {
  if (/bytes$/i.test(name)) return "bytes";
  if (/(^|[a-z_])(ms|Ms|_ms)$/.test(name) || /millis/i.test(name)) return "ms";
  if (/PerSecond$|_per_s(ec(ond)?)?$/i.test(name)) return "/s";
  return "";
}
