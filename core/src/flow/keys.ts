import { key } from "../dynamo/keys.js";

/** Zero-padded so that string order is numeric order in sort keys. */
export function padVersion(version: number): string {
  return version.toString().padStart(10, "0");
}

/**
 * Flow registration items in the main table (each entity its own partition).
 * - flow group:              pk `<t>#flow-group#<id>`          sk `flow-group`
 *   the tenant's groups:     gsi3pk `<t>#flow-groups`           gsi3sk `<created>#<id>`
 * - name → version group:    pk `<t>#project#<projectId>#flow-name`  sk `<name>`
 * - flow (one version):      pk `<t>#flow#<id>`                sk `flow`
 *   versions of a group:     gsi1pk `<t>#flow-group#<groupId>#flows`  gsi1sk `<version padded>`
 *   flows with a name:       gsi2pk `<t>#flow-name#<name>`      gsi2sk `<created>#<id>`
 *   the tenant's flows:      gsi3pk `<t>#flows`                 gsi3sk `<created>#<id>`
 * - edge of a flow:          pk `<t>#flow#<flowId>`            sk `edge#<upstreamTaskId>#<downstreamTaskId>#<key>`
 * - task:                    pk `<t>#task#<id>`                sk `task`
 *   tasks of a flow:         gsi1pk `<t>#flow#<flowId>#tasks`  gsi1sk `<slug>`
 */
export const FlowKeys = {
  group: (t: string, id: string) => ({ pk: key(t, "flow-group", id), sk: "flow-group" }),
  groupsOfTenant: (t: string, created: string, id: string) => ({
    gsi3pk: key(t, "flow-groups"),
    gsi3sk: key(created, id),
  }),
  nameLock: (t: string, projectId: string, name: string) => ({
    pk: key(t, "project", projectId, "flow-name"),
    sk: name,
  }),
  flow: (t: string, id: string) => ({ pk: key(t, "flow", id), sk: "flow" }),
  versionOfGroup: (t: string, groupId: string, version: number) => ({
    gsi1pk: key(t, "flow-group", groupId, "flows"),
    gsi1sk: padVersion(version),
  }),
  byName: (t: string, name: string, created: string, id: string) => ({
    gsi2pk: key(t, "flow-name", name),
    gsi2sk: key(created, id),
  }),
  ofTenant: (t: string, created: string, id: string) => ({
    gsi3pk: key(t, "flows"),
    gsi3sk: key(created, id),
  }),
  edge: (t: string, flowId: string, upstream: string, downstream: string, edgeKey: string) => ({
    pk: key(t, "flow", flowId),
    sk: key("edge", upstream, downstream, edgeKey),
  }),
  task: (t: string, id: string) => ({ pk: key(t, "task", id), sk: "task" }),
  taskOfFlow: (t: string, flowId: string, slug: string) => ({
    gsi1pk: key(t, "flow", flowId, "tasks"),
    gsi1sk: slug,
  }),
};
