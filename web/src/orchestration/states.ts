/**
 * Prefect 1 state types grouped the way the dashboard shows them: a family per colour, the
 * families a filter offers, and whether a run is still moving (worth polling fast).
 */
export type Family = "scheduled" | "pending" | "running" | "success" | "failed" | "cancelled" | "other";

export const FAMILIES: Record<Exclude<Family, "other">, { label: string; states: string[] }> = {
  scheduled: { label: "Scheduled", states: ["Scheduled", "Retrying", "Paused", "Resume", "Queued"] },
  pending: { label: "Pending", states: ["Pending", "Submitted", "ClientFailed"] },
  running: { label: "Running", states: ["Running", "Cancelling"] },
  success: { label: "Success", states: ["Success", "Cached", "Mapped", "Skipped", "Looped"] },
  failed: { label: "Failed", states: ["Failed", "TriggerFailed", "TimedOut", "ValidationFailed"] },
  cancelled: { label: "Cancelled", states: ["Cancelled"] },
};

export const FAMILY_ORDER = Object.keys(FAMILIES) as Array<keyof typeof FAMILIES>;

/** Every state type the API knows, for the set-state action. */
export const STATE_TYPES = FAMILY_ORDER.flatMap((family) => FAMILIES[family].states);

export const FAMILY_COLORS: Record<Family, string> = {
  scheduled: "#a0a9b8",
  pending: "#d9a23a",
  running: "#2f7be0",
  success: "#2e9d5b",
  failed: "#d0453a",
  cancelled: "#6b5b95",
  other: "#c4c9d2",
};

const byState = new Map<string, Family>(
  FAMILY_ORDER.flatMap((family) => FAMILIES[family].states.map((state) => [state, family] as const)),
);

export function familyOf(state: string | null | undefined): Family {
  return (state && byState.get(state)) || "other";
}

const FINISHED = new Set<Family>(["success", "failed", "cancelled"]);

export function isFinished(state: string | null | undefined): boolean {
  return FINISHED.has(familyOf(state));
}
