import { StateBadge } from "../components/StateBadge";
import { Time } from "../components/Time";
import { FAMILY_COLORS, familyOf } from "../orchestration/states";
import type { RunState } from "./FlowRun";

/**
 * A run's states in order: a bar with one segment per state, as long as the state lasted (the
 * last one up to now while the run is unfinished), and the list of states with their messages.
 */
export function StatesTimeline({ states, finished }: { states: RunState[]; finished: boolean }) {
  if (states.length === 0) return <p className="muted">No state history.</p>;
  const times = states.map((state) => Date.parse(state.timestamp));
  const first = times[0] ?? 0;
  const lastTime = times[times.length - 1] ?? first;
  const end = finished ? lastTime : Math.max(Date.now(), lastTime);
  const span = Math.max(end - first, 1);
  const minWidth = 100 / Math.max(states.length * 4, 40);
  let x = 0;
  const segments = states.map((state, index) => {
    const from = times[index] ?? first;
    const to = times[index + 1] ?? end;
    const width = Math.max(((to - from) / span) * 100, minWidth);
    const segment = { state, x, width };
    x += width;
    return segment;
  });
  const scale = 100 / Math.max(x, 100);
  return (
    <>
      <svg
        className="timeline"
        viewBox="0 0 100 6"
        preserveAspectRatio="none"
        role="img"
        aria-label={`States: ${states.map((state) => state.state).join(", ")}`}
      >
        {segments.map(({ state, x: left, width }) => (
          <rect
            key={state.id}
            x={left * scale}
            y={0}
            width={width * scale}
            height={6}
            fill={FAMILY_COLORS[familyOf(state.state)]}
          >
            <title>{state.state}</title>
          </rect>
        ))}
      </svg>
      <ol className="states" data-testid="states">
        {states.map((state) => (
          <li key={state.id}>
            <StateBadge state={state.state} />{" "}
            <span className="muted small">
              <Time iso={state.timestamp} />
            </span>
            {state.message && <span className="state-message"> {state.message}</span>}
          </li>
        ))}
      </ol>
    </>
  );
}
