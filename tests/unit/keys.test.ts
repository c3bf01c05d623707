import { describe, expect, it } from "vitest";
import { asTenant } from "#core/actor.js";
import { ApiKeyKeys } from "#core/api-key/keys.js";
import { tenantKey } from "#core/dynamo/keys.js";
import { UnauthenticatedError } from "#core/errors.js";
import { FlowKeys, padVersion } from "#core/flow/keys.js";
import { FlowRunKeys } from "#core/flow-run/keys.js";
import { ProjectKeys } from "#core/project/keys.js";
import { padMapIndex, TaskRunKeys } from "#core/task-run/keys.js";
import { WorkspaceKeys } from "#core/workspace/keys.js";

const T = "11111111-1111-1111-1111-111111111111";

describe("storage keys", () => {
  it("puts every tenant-owned partition key under the tenant's prefix", () => {
    const keys = [
      WorkspaceKeys.item(T).pk,
      ProjectKeys.item(T, "p").pk,
      ProjectKeys.nameLock(T, "n").pk,
      ProjectKeys.listPartition(T),
      ApiKeyKeys.listPartition(T),
      FlowKeys.flow(T, "f").pk,
      FlowKeys.group(T, "g").pk,
      FlowKeys.task(T, "task").pk,
      FlowKeys.nameLock(T, "p", "n").pk,
      FlowRunKeys.run(T, "r").pk,
      TaskRunKeys.run(T, "tr").pk,
      FlowRunKeys.ready(T, ["gpu"], "2026-01-01T00:00:00.000Z", "r").ready_pk,
      FlowRunKeys.readySet(T, "s").pk,
    ];
    for (const key of keys) expect(key.startsWith(`${T}#`)).toBe(true);
  });

  it("resolves an API key by its hash alone (the lookup that finds the tenant)", () => {
    expect(ApiKeyKeys.item("abc")).toEqual({ pk: "apikey#abc", sk: "apikey" });
  });

  it("orders versions and map indexes numerically as strings", () => {
    expect(padVersion(10) > padVersion(9)).toBe(true);
    expect(padMapIndex(10) > padMapIndex(9)).toBe(true);
    expect(padMapIndex(0) > padMapIndex(-1)).toBe(true);
  });

  it("derives tenant keys from context and refuses to build one without a tenant", () => {
    expect(asTenant(T, () => tenantKey("project", "x"))).toBe(`${T}#project#x`);
    expect(() => tenantKey("project", "x")).toThrow(UnauthenticatedError);
  });
});
