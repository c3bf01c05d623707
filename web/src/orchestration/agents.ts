export type AgentRow = {
  id: string;
  name: string | null;
  type: string | null;
  labels: string[] | null;
  core_version: string | null;
  last_queried: string | null;
  created: string;
};

export const AGENTS = /* GraphQL */ `
  query Agents {
    agent {
      id
      name
      type
      labels
      core_version
      last_queried
      created
    }
  }
`;

/** Agents poll every ~10 s: healthy if heard from within a minute, stale within an hour. */
export function agentHealth(lastQueried: string | null, now = Date.now()): "healthy" | "stale" | "silent" {
  if (!lastQueried) return "silent";
  const age = now - Date.parse(lastQueried);
  return age < 60_000 ? "healthy" : age < 3_600_000 ? "stale" : "silent";
}
