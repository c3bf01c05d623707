import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { splitSharedDatabase } from "../../local/src/dynamodb-local.js";

/**
 * A data folder from before the logs table had a DynamoDB Local database of its own is split at
 * start: the shared file becomes the main database and a copy of it the logs database, SQLite's
 * side files moving with each. A start killed at any step leaves a folder the next start finishes.
 */
const SHARED = "shared-local-instance.db";
const MAIN = "local_us-east-1.db";
const LOGS = "logs_us-east-1.db";

const folders: string[] = [];
afterEach(() => {
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

function oldFolder(): string {
  const folder = mkdtempSync(join(tmpdir(), "drover-split-"));
  folders.push(folder);
  writeFileSync(join(folder, SHARED), "database");
  writeFileSync(join(folder, `${SHARED}-journal`), "journal");
  return folder;
}

function contents(folder: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(folder)
      .sort()
      .map((name) => [name, readFileSync(join(folder, name), "utf8")]),
  );
}

const SPLIT = {
  [LOGS]: "database",
  [`${LOGS}-journal`]: "journal",
  [MAIN]: "database",
  [`${MAIN}-journal`]: "journal",
};

describe("splitSharedDatabase", () => {
  it("gives the main and the logs database each the shared file and its journal", () => {
    const folder = oldFolder();
    splitSharedDatabase(folder);
    expect(contents(folder)).toEqual(SPLIT);
  });

  it("changes nothing in a folder already split, or a new one", () => {
    const folder = oldFolder();
    splitSharedDatabase(folder);
    writeFileSync(join(folder, MAIN), "main, written since");
    splitSharedDatabase(folder);
    expect(contents(folder)).toEqual({ ...SPLIT, [MAIN]: "main, written since" });

    const fresh = mkdtempSync(join(tmpdir(), "drover-split-"));
    folders.push(fresh);
    splitSharedDatabase(fresh);
    expect(contents(fresh)).toEqual({});
  });

  it("finishes a split killed while copying (partial copies are redone)", () => {
    const folder = oldFolder();
    writeFileSync(join(folder, `${LOGS}.partial`), "data");
    writeFileSync(join(folder, `${LOGS}-journal`), "jour");
    splitSharedDatabase(folder);
    expect(contents(folder)).toEqual(SPLIT);
  });

  it("finishes a split killed while moving the shared file to the main database", () => {
    const folder = oldFolder();
    writeFileSync(join(folder, LOGS), "database");
    writeFileSync(join(folder, `${LOGS}-journal`), "journal");
    // The journal moved; the database itself had not.
    renameSync(join(folder, `${SHARED}-journal`), join(folder, `${MAIN}-journal`));
    splitSharedDatabase(folder);
    expect(contents(folder)).toEqual(SPLIT);
  });
});
