/**
 * The Prefect 1.4.1 client's GraphQL text, composed the way `prefect.utilities.graphql` composes
 * it (`parse_graphql`, `with_args`, `EnumValue`), so the CLI's queries can be sent from the same
 * Python-shaped dictionaries its source builds: unset options become `null` operands, enum values
 * are bare words, strings are JSON strings.
 */
export class EnumValue {
  constructor(readonly value: string) {}
}

type Argument =
  | EnumValue
  | string
  | number
  | boolean
  | null
  | undefined
  | Argument[]
  | { [key: string]: Argument };

function argument(value: Argument): string {
  if (value instanceof EnumValue) return value.value;
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map(argument).join(", ")}]`;
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{ ${entries.map(([k, v]) => `${k}: ${argument(v)}`).join(", ")} }`;
}

/** `with_args(field, arguments)`: the field with its arguments, the outer braces dropped. */
export function withArgs(field: string, args: Record<string, Argument>): string {
  return `${field}(${argument(args).slice(2, -2)})`;
}

/** A selection: `true` selects a field; an object or enum value nests one. */
export type Selection = { [field: string]: true | Selection | EnumValue };

/** `parse_graphql(document)` for `{ "query": selection }` or `{ "mutation": selection }`. */
export function parseGraphql(document: Selection): string {
  return Object.entries(document)
    .map(([field, value]) =>
      value === true
        ? field
        : value instanceof EnumValue
          ? `${field} {\n${value.value}\n}`
          : `${field} {\n${parseGraphql(value)}\n}`,
    )
    .join("\n");
}
