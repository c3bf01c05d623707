import { FAMILY_COLORS, familyOf } from "../orchestration/states";

/** A state's name on its family's colour. */
export function StateBadge({ state, title }: { state: string | null | undefined; title?: string | null }) {
  const family = familyOf(state);
  return (
    <span
      className={`state state-${family}`}
      style={{ borderColor: FAMILY_COLORS[family] }}
      title={title ?? undefined}
      data-state={state ?? ""}
    >
      <span className="dot" style={{ background: FAMILY_COLORS[family] }} aria-hidden="true" />
      {state ?? "—"}
    </span>
  );
}
