import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { mainTable, useDynamo } from "#core/dynamo/client.js";
import { NotFoundError, ValidationError } from "#core/errors.js";
import { ApiKey, asTenant, Project, UnauthenticatedError, UniquenessError, Workspace } from "#core/index.js";
import { find } from "#core/query/engine.js";
import "#core/query/models.js";
import { useTestTables } from "../helpers/storage.js";

const findProjects = (args: Parameters<typeof find>[1]) => find("project", args);

beforeAll(async () => {
  await useTestTables("core");
});

describe("workspaces", () => {
  it("creates a workspace with a unique slug and finds it by id and slug", async () => {
    const w = await Workspace.create({ name: "Acme Data", slug: "acme-data" });
    expect(await Workspace.fromId(w.id)).toEqual(w);
    expect(await Workspace.fromSlug("acme-data")).toEqual(w);
    await expect(Workspace.create({ name: "Other", slug: "acme-data" })).rejects.toThrow(UniquenessError);
  });

  it("refuses an invalid slug and an empty name", async () => {
    await expect(Workspace.create({ name: "x", slug: "-bad-" })).rejects.toThrow(ValidationError);
    await expect(Workspace.create({ name: "  " })).rejects.toThrow(ValidationError);
  });
});

describe("API keys", () => {
  it("stores only a hash, resolves the secret to its tenant, and lists name and prefix only", async () => {
    const w = await Workspace.create({ name: "Keys One" });
    const created = await asTenant(w.id, () => ApiKey.create({ name: "ci" }));
    expect(created.secret.startsWith(created.prefix)).toBe(true);
    const principal = await ApiKey.authenticate(created.secret);
    expect(principal.tenantId).toBe(w.id);

    const scan = await useDynamo().send(new ScanCommand({ TableName: mainTable() }));
    expect(JSON.stringify(scan.Items)).not.toContain(created.secret);

    const listed = await asTenant(w.id, () => ApiKey.list());
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ id: created.id, name: "ci", prefix: created.prefix, revoked_at: null });
    expect(JSON.stringify(listed)).not.toContain(created.secret);
  });

  it("rejects unknown, revoked and expired keys with UNAUTHENTICATED", async () => {
    const w = await Workspace.create({ name: "Keys Two" });
    await expect(ApiKey.authenticate("drv_this-key-does-not-exist-0000000000000")).rejects.toThrow(
      UnauthenticatedError,
    );
    await expect(ApiKey.authenticate("short")).rejects.toThrow(/UNAUTHENTICATED/);

    const revoked = await asTenant(w.id, () => ApiKey.create({ name: "to revoke" }));
    await asTenant(w.id, () => ApiKey.revoke(revoked.id));
    await expect(ApiKey.authenticate(revoked.secret)).rejects.toThrow(/revoked/);

    const expiring = await asTenant(w.id, () => ApiKey.create({ name: "to expire" }));
    await asTenant(w.id, () => ApiKey.expire(expiring.id));
    await expect(ApiKey.authenticate(expiring.secret)).rejects.toThrow(/expired/);
  });

  it("refuses an expiry in the past and a malformed expiry", async () => {
    const w = await Workspace.create({ name: "Keys Three" });
    await asTenant(w.id, async () => {
      await expect(ApiKey.create({ name: "old", expires_at: "2000-01-01T00:00:00Z" })).rejects.toThrow(
        ValidationError,
      );
      await expect(ApiKey.create({ name: "bad", expires_at: "tomorrow" })).rejects.toThrow(ValidationError);
    });
  });

  it("cannot revoke another workspace's key", async () => {
    const a = await Workspace.create({ name: "Keys Four A" });
    const b = await Workspace.create({ name: "Keys Four B" });
    const keyOfA = await asTenant(a.id, () => ApiKey.create({ name: "a's key" }));
    await expect(asTenant(b.id, () => ApiKey.revoke(keyOfA.id))).rejects.toThrow(NotFoundError);
    expect((await ApiKey.authenticate(keyOfA.secret)).tenantId).toBe(a.id);
  });
});

describe("projects", () => {
  it("enforces unique names per workspace but allows the same name in another workspace", async () => {
    const a = await Workspace.create({ name: "Projects A" });
    const b = await Workspace.create({ name: "Projects B" });
    const p = await asTenant(a.id, () => Project.create({ name: "etl" }));
    await expect(asTenant(a.id, () => Project.create({ name: "etl" }))).rejects.toThrow(
      "Uniqueness violation.",
    );
    const q = await asTenant(b.id, () => Project.create({ name: "etl" }));
    expect(q.id).not.toBe(p.id);
    expect(await asTenant(b.id, () => Project.fromId(p.id))).toBeUndefined();
    expect((await asTenant(a.id, () => findProjects({}))).map((x) => x.id)).toEqual([p.id]);
  });

  it("answers where/order_by/limit/offset reads", async () => {
    const w = await Workspace.create({ name: "Projects C" });
    await asTenant(w.id, async () => {
      for (const name of ["b", "a", "c"]) await Project.create({ name });
      expect((await findProjects({ order_by: [{ name: "desc" }] })).map((p) => p.name)).toEqual([
        "c",
        "b",
        "a",
      ]);
      expect(
        (await findProjects({ where: { name: { _in: ["a", "c"] } } })).map((p) => p.name).sort(),
      ).toEqual(["a", "c"]);
      expect(
        (await findProjects({ order_by: { name: "asc" }, limit: 1, offset: 1 })).map((p) => p.name),
      ).toEqual(["b"]);
      const a = (await findProjects({ where: { name: { _eq: "a" } } }))[0];
      expect((await findProjects({ where: { id: { _eq: a?.id } } })).map((p) => p.name)).toEqual(["a"]);
    });
  });
});
