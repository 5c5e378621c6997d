/** The accounts table, by what is done with it; each function is defined once, in the file named for its part. */
export * from "./accounts.ts";
export * from "./directory.ts";
export * from "./email-and-two-factor.ts";
export * from "./list.ts";
export { userFromJson, userJsonSql } from "./rows.ts";
export * from "./bulk.ts";
