import { z } from "zod";
import type { Operation } from "./operation.ts";
import { ErrorView } from "./schemas.ts";

type JsonSchema = Record<string, unknown>;

/** A zod schema as JSON Schema 2020-12, the dialect of OpenAPI 3.1: requests as they are sent, responses as they are sent back. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: "draft-2020-12", unrepresentable: "any", override: describeAbsentOr }) as JsonSchema;
  return rest;
}

/**
 * A PATCH field (undefined or a value) is described as the value alone, without the "" default a form field
 * has: leaving it out of the body means "unchanged", which `required` already says.
 */
function describeAbsentOr({ zodSchema, jsonSchema }: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  type Def = { type?: string; innerType?: { _zod: { def: Def } }; options?: { _zod: { def: Def } }[] };
  const outer = (zodSchema as { _zod?: { def?: Def } })._zod?.def;
  const def = outer?.type === "optional" ? outer.innerType?._zod.def : undefined;
  if (def?.type !== "union" || def.options?.[0]?._zod.def.type !== "undefined") return;
  const [, value] = (jsonSchema.anyOf as JsonSchema[] | undefined) ?? [];
  delete jsonSchema.anyOf;
  const { default: _default, ...described } = value ?? {};
  Object.assign(jsonSchema, described, jsonSchema.description ? { description: jsonSchema.description } : {});
}

function isOptional(schema: z.ZodType): boolean {
  return schema.safeParse(undefined).success;
}

function parametersOf(schema: z.ZodType | undefined, where: "path" | "query") {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => {
    const { description, ...fieldSchema } = jsonSchema(field, "input");
    return {
      name,
      in: where,
      required: where === "path" || !isOptional(field),
      ...(description ? { description } : {}),
      schema: fieldSchema,
    };
  });
}

const ERROR_CONTENT = { "application/json": { schema: { $ref: "#/components/schemas/Error" } } };

/** The answers any operation may give besides its own, by what the operation takes and who may call it. */
function standardErrors(op: Operation) {
  const errors: Record<string, { description: string; content: typeof ERROR_CONTENT }> = {};
  const error = (status: number, description: string) => {
    errors[String(status)] = { description, content: ERROR_CONTENT };
  };
  if (op.access === "public") return errors;
  error(400, "Bad input (code `validation_failed`, or `bad_request` for a body that is not JSON): `error.fields` names each field and what is wrong with it. Unknown query parameters and body fields are bad input too.");
  error(401, "No token, or one that is unknown, revoked or expired (code `unauthorized`, with a `WWW-Authenticate: Bearer` challenge).");
  error(
    403,
    op.access === "admin"
      ? "The token's account is not an administrator (code `forbidden`), or is an administrator without 2FA while General settings require it (code `two_factor_required`)."
      : "The token's account may not do this (code `forbidden`), or is an administrator without 2FA while General settings require it (code `two_factor_required`).",
  );
  if (op.params || op.path === "/access") error(404, "No such record, or one this account cannot see (code `not_found`).");
  if (op.rawBody) {
    error(413, `The body is larger than ${op.rawBody.maxBytes / (1024 * 1024)} MB (code \`too_large\`).`);
    error(415, `The body was not sent as \`${op.rawBody.mediaType}\` (code \`unsupported_media_type\`).`);
  } else if (op.method !== "get") {
    error(413, "The body is larger than 100 kB (code `too_large`).");
    error(415, "The body was not sent as JSON (code `unsupported_media_type`).");
  }
  error(503, "The database is unavailable or busy (code `unavailable`); nothing was changed. Try again in a moment.");
  return errors;
}

export interface ApiInfo {
  title: string;
  version: string;
  description: string;
}

/** The OpenAPI 3.1 document of the operations, built from the same definitions that route them. */
export function openApiDocument(operations: readonly Operation[], info: ApiInfo, serverUrl: string) {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = [...new Set(operations.map((op) => op.tag))];
  for (const op of operations) {
    const path = op.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const parameters = [...parametersOf(op.params, "path"), ...parametersOf(op.query, "query")];
    const responses: Record<string, unknown> = {};
    for (const [status, response] of Object.entries(op.responses)) {
      const content = response.schema ? { "application/json": { schema: jsonSchema(response.schema, "output") } } : Number(status) >= 400 ? ERROR_CONTENT : undefined;
      responses[status] = { description: response.description, ...(content ? { content } : {}) };
    }
    for (const [status, standard] of Object.entries(standardErrors(op))) {
      const own = responses[status] as { description: string } | undefined;
      responses[status] = own ? { ...standard, description: `${own.description} ${standard.description}` } : standard;
    }
    paths[path] ??= {};
    paths[path][op.method] = {
      operationId: op.operationId,
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      tags: [op.tag],
      security: op.access === "public" ? [] : [{ bearerAuth: [] }],
      ...(op.access === "admin" ? { "x-gatehouse-access": "administrators" } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.rawBody
        ? { requestBody: { required: true, description: op.rawBody.description, content: { [op.rawBody.mediaType]: { schema: { type: "string" } } } } }
        : op.body
          ? { requestBody: { required: true, content: { "application/json": { schema: jsonSchema(op.body, "input") } } } }
          : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info,
    servers: [{ url: serverUrl }],
    tags: tags.map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", description: "A personal API token, created on the Profile page. It acts with its owner's rights." },
      },
      schemas: { Error: jsonSchema(ErrorView, "output") },
    },
  };
}
