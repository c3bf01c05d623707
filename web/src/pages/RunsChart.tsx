import { FAMILY_COLORS, FAMILY_ORDER, type Family, familyOf } from "../orchestration/states";

type Point = { state: string; time: string };

const HOURS = 24;
const HOUR = 3_600_000;
const FAMILIES_SHOWN: Family[] = [...FAMILY_ORDER, "other"];

/** Runs per hour over the last 24 h, stacked by state family: a hand-drawn SVG, no chart library. */
export function RunsChart({ runs, now }: { runs: Point[]; now: number }) {
  const end = Math.ceil(now / HOUR) * HOUR;
  const start = end - HOURS * HOUR;
  const buckets = Array.from({ length: HOURS }, () => new Map<Family, number>());
  for (const run of runs) {
    const time = Date.parse(run.time);
    if (!(time >= start && time < end)) continue;
    const bucket = buckets[Math.floor((time - start) / HOUR)];
    if (!bucket) continue;
    const family = familyOf(run.state);
    bucket.set(family, (bucket.get(family) ?? 0) + 1);
  }
  const totals = buckets.map((bucket) => [...bucket.values()].reduce((a, b) => a + b, 0));
  const max = Math.max(1, ...totals);
  const width = 480;
  const height = 120;
  const barWidth = width / HOURS;
  const used = FAMILIES_SHOWN.filter((family) => buckets.some((bucket) => bucket.has(family)));
  const hourLabel = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
  return (
    <figure className="chart">
      <svg
        viewBox={`0 0 ${width} ${height + 16}`}
        role="img"
        aria-label={`Runs per hour over the last 24 hours, ${totals.reduce((a, b) => a + b, 0)} in all`}
        data-testid="runs-chart"
      >
        <line x1={0} y1={height} x2={width} y2={height} stroke="#dde1e7" />
        {buckets.map((bucket, index) => {
          let y = height;
          const hour = start + index * HOUR;
          return (
            // biome-ignore lint/suspicious/noArrayIndexKey: the 24 hourly buckets are fixed positions.
            <g key={index}>
              <title>
                {hourLabel.format(hour)}: {totals[index]} runs
                {[...bucket.entries()].map(([family, count]) => `, ${count} ${family}`).join("")}
              </title>
              {FAMILIES_SHOWN.filter((family) => bucket.has(family)).map((family) => {
                const h = ((bucket.get(family) ?? 0) / max) * (height - 4);
                y -= h;
                return (
                  <rect
                    key={family}
                    x={index * barWidth + 1}
                    y={y}
                    width={barWidth - 2}
                    height={h}
                    fill={FAMILY_COLORS[family]}
                  />
                );
              })}
            </g>
          );
        })}
        <text x={0} y={height + 13} fontSize="10" fill="#5b6575">
          {hourLabel.format(start)}
        </text>
        <text x={width} y={height + 13} fontSize="10" fill="#5b6575" textAnchor="end">
          now
        </text>
        <text x={2} y={10} fontSize="10" fill="#5b6575">
          {max} runs/h
        </text>
      </svg>
      <figcaption className="legend small">
        {used.length === 0 && <span className="muted">No runs in the last 24 hours.</span>}
        {used.map((family) => (
          <span key={family}>
            <span className="dot" style={{ background: FAMILY_COLORS[family] }} aria-hidden="true" /> {family}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
