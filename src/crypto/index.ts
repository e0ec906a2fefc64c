export * from "./keys.ts";
export * from "./seal.ts";
export * from "./keyfile.ts";
