import { key } from "../dynamo/keys.js";

/**
 * Agent items in the main table.
 * - agent:                 pk `<t>#agent#<id>`   sk `agent`
 *   the tenant's agents:   gsi3pk `<t>#agents`   gsi3sk `<created ISO>#<id>`
 */
export const AgentKeys = {
  agent: (t: string, id: string) => ({ pk: key(t, "agent", id), sk: "agent" }),
  ofTenant: (t: string, created: string, id: string) => ({
    gsi3pk: key(t, "agents"),
    gsi3sk: key(created, id),
  }),
};
