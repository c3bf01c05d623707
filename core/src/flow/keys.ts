import { key } from "../dynamo/keys.js";

/** Zero-padded so that string order is numeric order in sort keys. */
export function padVersion(version: number): string {
  return version.toString().padStart(10, "0");
}

/**
 * Flow and flow group items in the main table (each entity its own partition).
 * - flow group:           pk `<t>#flow-group#<id>`   sk `flow-group`
 *   by project and name:  gsi2pk `<t>#project#<projectId>#flow-groups`  gsi2sk `<name>`
 * - flow (one version):   pk `<t>#flow#<id>`         sk `flow`
 *   versions of a group:  gsi1pk `<t>#flow-group#<groupId>#flows`  gsi1sk `<version padded>`
 *   by project and name:  gsi2pk `<t>#project#<projectId>#flows`   gsi2sk `<name>#<version padded>`
 * - task of a flow:       pk `<t>#flow#<flowId>`     sk `task#<taskId>`
 */
export const FlowKeys = {
  group: (t: string, id: string) => ({ pk: key(t, "flow-group", id), sk: "flow-group" }),
  groupByName: (t: string, projectId: string, name: string) => ({
    gsi2pk: key(t, "project", projectId, "flow-groups"),
    gsi2sk: name,
  }),
  flow: (t: string, id: string) => ({ pk: key(t, "flow", id), sk: "flow" }),
  versionOfGroup: (t: string, groupId: string, version: number) => ({
    gsi1pk: key(t, "flow-group", groupId, "flows"),
    gsi1sk: padVersion(version),
  }),
  byProjectAndName: (t: string, projectId: string, name: string, version: number) => ({
    gsi2pk: key(t, "project", projectId, "flows"),
    gsi2sk: key(name, padVersion(version)),
  }),
  task: (t: string, flowId: string, taskId: string) => ({
    pk: key(t, "flow", flowId),
    sk: key("task", taskId),
  }),
};
