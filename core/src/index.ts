export * from "./actor.js";
export * as ApiKey from "./api-key/index.js";
export * as Audit from "./audit/index.js";
export * from "./errors.js";
export * as Project from "./project/index.js";
export * as Secret from "./secret/index.js";
export * as Workspace from "./workspace/index.js";
