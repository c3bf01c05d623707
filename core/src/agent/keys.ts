import { key } from "../dynamo/keys.js";

/** Partitions of the agents' entries in the `watch` index (the scheduler reads each once a tick). */
export const AGENT_WATCH_SHARDS = 4;

function shardOf(id: string): number {
  return Number.parseInt(id.replace(/-/g, "").slice(-4), 16) % AGENT_WATCH_SHARDS || 0;
}

/**
 * Agent items in the main table.
 * - agent:                 pk `<t>#agent#<id>`   sk `agent`
 *   the tenant's agents:   gsi3pk `<t>#agents`   gsi3sk `<created ISO>#<id>`
 *   silence watch:         watch_pk `agent-watch#<shard>`   watch_sk `<since ISO>#<t>#<id>`
 *     (while the agent is not known silent; `since` is a time at or before its last poll. A poll
 *     never moves it, so polls write no index; the scheduler moves it up to the last poll, or
 *     marks the agent silent and removes it: core/src/agent/silence.ts)
 */
export const AgentKeys = {
  watch: (t: string, id: string, since: string) => ({
    watch_pk: AgentKeys.watchPartition(shardOf(id)),
    watch_sk: key(since, t, id),
  }),
  watchPartition: (shard: number) => key("agent-watch", shard),
  agent: (t: string, id: string) => ({ pk: key(t, "agent", id), sk: "agent" }),
  ofTenant: (t: string, created: string, id: string) => ({
    gsi3pk: key(t, "agents"),
    gsi3sk: key(created, id),
  }),
};
