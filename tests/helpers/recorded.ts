import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { type OperationDefinitionNode, parse } from "graphql";

/** One request the unmodified Prefect 1.4.1 client sent, exactly as recorded. */
export type RecordedRequest = {
  index: number;
  headers: Record<string, string>;
  query: string;
  variables: string;
  rootFields: string[];
};

/** The tenant id the recording was made with; replaced by the test workspace's id. */
export const RECORDED_TENANT_ID = "11111111-1111-1111-1111-111111111111";

// A copy of ../shared/prefect1/client-requests.jsonl, so the test runs wherever the repository is cloned.
const FILE = resolve(import.meta.dirname, "../fixtures/prefect1/client-requests.jsonl");

export function recordedRequests(): RecordedRequest[] {
  return readFileSync(FILE, "utf8")
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line, index) => {
      const raw = JSON.parse(line) as { headers: Record<string, string>; query: string; variables: string };
      const operation = parse(raw.query).definitions[0] as OperationDefinitionNode;
      const rootFields = operation.selectionSet.selections.map((s) =>
        s.kind === "Field" ? s.name.value : s.kind,
      );
      return { index, ...raw, rootFields };
    });
}
