import { type CfnElement, Stack } from "aws-cdk-lib";
import type { Template } from "aws-cdk-lib/assertions";
import type { IConstruct } from "constructs";

export type Statement = { Effect: string; Action: string | string[]; Resource: unknown };
type Resource = { Type: string; Properties?: Record<string, unknown> };

/** The logical id of a construct's CloudFormation resource (or of the resource itself). */
export function logicalId(construct: IConstruct): string {
  const element = (construct.node.defaultChild ?? construct) as CfnElement;
  const stack = Stack.of(construct);
  return stack.resolve(stack.getLogicalId(element)) as string;
}

export function resources(template: Template, type: string): Record<string, Resource> {
  return template.findResources(type) as Record<string, Resource>;
}

/** Every statement of the inline policies attached to a role. */
export function roleStatements(template: Template, roleId: string): Statement[] {
  return Object.values(resources(template, "AWS::IAM::Policy"))
    .filter((policy) => JSON.stringify(policy.Properties?.Roles) === JSON.stringify([{ Ref: roleId }]))
    .flatMap(
      (policy) =>
        (policy.Properties?.PolicyDocument as { Statement?: Statement[] } | undefined)?.Statement ?? [],
    );
}

export function actions(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

/** Logical ids a value refers to through Ref or Fn::GetAtt, anywhere inside it. */
export function referencedIds(value: unknown): Set<string> {
  const found = new Set<string>();
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== "object") return;
    for (const [key, child] of Object.entries(node)) {
      if (key === "Ref" && typeof child === "string" && !child.startsWith("AWS::")) found.add(child);
      else if (key === "Fn::GetAtt" && Array.isArray(child) && typeof child[0] === "string")
        found.add(child[0]);
      else visit(child);
    }
  };
  visit(value);
  return found;
}

/** The DynamoDB actions a role may perform, per table logical id. */
export function dynamoAccess(template: Template, roleId: string): Map<string, Set<string>> {
  const access = new Map<string, Set<string>>();
  for (const statement of roleStatements(template, roleId)) {
    const dynamo = actions(statement).filter((action) => action.startsWith("dynamodb:"));
    if (dynamo.length === 0) continue;
    for (const id of referencedIds(statement.Resource)) {
      const set = access.get(id) ?? new Set<string>();
      for (const action of dynamo) set.add(action);
      access.set(id, set);
    }
  }
  return access;
}
