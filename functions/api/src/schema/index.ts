import { createSchema } from "graphql-yoga";
import { apiKeyResolvers, apiKeyTypeDefs } from "./api-key.js";
import { artifactResolvers, artifactTypeDefs } from "./artifact.js";
import { automationResolvers, automationTypeDefs } from "./automation.js";
import { baseResolvers, baseTypeDefs } from "./base.js";
import { cloudHookResolvers, cloudHookTypeDefs } from "./cloud-hook.js";
import { concurrencyResolvers, concurrencyTypeDefs } from "./concurrency.js";
import { kvResolvers, kvTypeDefs } from "./kv.js";
import { logsResolvers, logsTypeDefs } from "./logs.js";
import { orchestrationResolvers, orchestrationTypeDefs } from "./orchestration.js";
import { checkPermissionTable } from "./permissions.js";
import { projectResolvers, projectTypeDefs } from "./project.js";
import { readResolvers, readTypeDefs } from "./read.js";
import { scalarResolvers } from "./scalars.js";
import { secretResolvers, secretTypeDefs } from "./secret.js";
import { sessionResolvers, sessionTypeDefs } from "./session.js";
import { settingsResolvers, settingsTypeDefs } from "./settings.js";

/** Each domain contributes its type definitions and resolvers; same-named types are merged. */
const modules = [
  { typeDefs: baseTypeDefs, resolvers: { ...baseResolvers, ...scalarResolvers } },
  { typeDefs: readTypeDefs, resolvers: readResolvers },
  { typeDefs: projectTypeDefs, resolvers: projectResolvers },
  { typeDefs: orchestrationTypeDefs, resolvers: orchestrationResolvers },
  { typeDefs: concurrencyTypeDefs, resolvers: concurrencyResolvers },
  { typeDefs: settingsTypeDefs, resolvers: settingsResolvers },
  { typeDefs: kvTypeDefs, resolvers: kvResolvers },
  { typeDefs: logsTypeDefs, resolvers: logsResolvers },
  { typeDefs: apiKeyTypeDefs, resolvers: apiKeyResolvers },
  { typeDefs: sessionTypeDefs, resolvers: sessionResolvers },
  { typeDefs: secretTypeDefs, resolvers: secretResolvers },
  { typeDefs: artifactTypeDefs, resolvers: artifactResolvers },
  { typeDefs: cloudHookTypeDefs, resolvers: cloudHookResolvers },
  { typeDefs: automationTypeDefs, resolvers: automationResolvers },
];

export function buildSchema() {
  const schema = createSchema({
    typeDefs: modules.map((m) => m.typeDefs),
    resolvers: modules.map((m) => m.resolvers),
  });
  checkPermissionTable(schema);
  return schema;
}
