import { describe, expect, it } from "vitest";
import { generateSecret, hashSecret, SECRET_RE } from "#core/api-key/index.js";
import { parseConfig } from "#core/config.js";
import { deterministicId, isUuid } from "#core/ids.js";
import { slugify } from "#core/workspace/index.js";
import { validateBootstrapKey } from "../../local/src/bootstrap.js";
import { StartupError } from "../../local/src/dynamodb-local.js";

describe("configuration", () => {
  it("has local defaults and reads table names and endpoints from the environment", () => {
    const config = parseConfig({
      DROVER_MAIN_TABLE: "prod-main",
      DROVER_DYNAMODB_ENDPOINT: "http://127.0.0.1:8000",
    });
    expect(config.tables.main).toBe("prod-main");
    expect(config.tables.kv).toBe("drover-local-kv");
    expect(config.dynamoEndpoint).toBe("http://127.0.0.1:8000");
    expect(config.authCacheMs).toBe(2000);
  });

  it("refuses an auth cache longer than a few seconds and a malformed endpoint", () => {
    expect(() => parseConfig({ DROVER_AUTH_CACHE_MS: "60000" })).toThrow(/DROVER_AUTH_CACHE_MS/);
    expect(() => parseConfig({ DROVER_DYNAMODB_ENDPOINT: "not a url" })).toThrow(/DROVER_DYNAMODB_ENDPOINT/);
  });
});

describe("DROVER_BOOTSTRAP_KEY", () => {
  it("accepts 32 to 128 printable ASCII characters without spaces", () => {
    expect(validateBootstrapKey("x".repeat(32))).toBe("x".repeat(32));
    expect(validateBootstrapKey("!~".repeat(64))).toBe("!~".repeat(64));
    expect(validateBootstrapKey(undefined)).toBeUndefined();
  });

  it.each([
    ["too short", "x".repeat(31)],
    ["too long", "x".repeat(129)],
    ["with a space", `${"x".repeat(20)} ${"x".repeat(20)}`],
    ["non-ASCII", `${"x".repeat(32)}é`],
    ["with a tab", `${"x".repeat(32)}\t`],
  ])("stops startup with a clear error when %s", (_, value) => {
    expect(() => validateBootstrapKey(value)).toThrow(StartupError);
    expect(() => validateBootstrapKey(value)).toThrow(/DROVER_BOOTSTRAP_KEY/);
  });
});

describe("ids and secrets", () => {
  it("derives the same UUID from the same parts and different ones otherwise", () => {
    const a = deterministicId("task-run", "fr", "t", 0);
    expect(isUuid(a)).toBe(true);
    expect(deterministicId("task-run", "fr", "t", 0)).toBe(a);
    expect(deterministicId("task-run", "fr", "t", 1)).not.toBe(a);
  });

  it("generates secrets that a key accepts and hashes them irreversibly", () => {
    const secret = generateSecret();
    expect(SECRET_RE.test(secret)).toBe(true);
    expect(secret.startsWith("drv_")).toBe(true);
    expect(hashSecret(secret)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashSecret(secret)).not.toContain(secret.slice(4, 12));
    expect(generateSecret()).not.toBe(secret);
  });

  it("slugifies display names", () => {
    expect(slugify("My Team!")).toBe("my-team");
    expect(slugify("Équipe Données")).toBe("equipe-donnees");
    expect(slugify("***")).toBe("workspace");
  });
});
