type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  description?: string;
  default?: unknown;
  pattern?: string;
};

/** CommonMark's code spans, the only markup the descriptions use: `text` in backticks shows as code. */
export type Prose = { text: string; code: boolean }[];
function prose(text: string): Prose {
  return text.split("`").map((part, i) => ({ text: part, code: i % 2 === 1 })).filter((p) => p.text !== "");
}

interface FieldView {
  name: string;
  type: string;
  required: boolean;
  description: string;
}

export interface OperationView {
  anchor: string;
  method: string;
  path: string;
  summary: string;
  description: Prose;
  access: string;
  parameters: (FieldView & { where: string })[];
  body: FieldView[];
  responses: { status: string; description: Prose; fields: FieldView[] }[];
}

/** "string", "integer or null", `"read" | "read/write"`: a schema's type in a few words. */
function typeWords(schema: JsonSchema | undefined): string {
  if (!schema) return "any";
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (schema.const !== undefined) return JSON.stringify(schema.const);
  if (schema.anyOf) return [...new Set(schema.anyOf.map(typeWords))].join(" or ");
  if (schema.type === "array") return `array of ${typeWords(schema.items)}`;
  if (Array.isArray(schema.type)) return schema.type.join(" or ");
  return schema.type ?? "any";
}

function fieldsOf(schema: JsonSchema | undefined): FieldView[] {
  if (!schema?.properties) return [];
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, field]) => ({
    name,
    type: typeWords(field),
    required: required.has(name),
    description: field.description ?? "",
  }));
}

type Document = ReturnType<typeof import("./openapi.ts").openApiDocument>;
type OperationObject = {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: unknown[];
  "x-gatehouse-access"?: string;
  parameters?: { name: string; in: string; required: boolean; description?: string; schema: JsonSchema }[];
  /** JSON for every operation but a file upload (the CSV import), whose body is described in its own words. */
  requestBody?: { content: { "application/json"?: { schema: JsonSchema } } };
  responses: Record<string, { description: string; content?: { "application/json": { schema: JsonSchema & { $ref?: string } } } }>;
};

/** The view model of /api/v1/docs: each tag's operations with their inputs and answers, from the OpenAPI document itself. */
export function apiDocsView(document: Document) {
  const sections = new Map<string, OperationView[]>(document.tags.map((t) => [t.name, []]));
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, raw] of Object.entries(methods)) {
      const op = raw as OperationObject;
      sections.get(op.tags[0] ?? "Other")?.push({
        anchor: op.operationId,
        method: method.toUpperCase(),
        path: `/api/v1${path}`,
        summary: op.summary,
        description: prose(op.description ?? ""),
        access: op.security.length === 0 ? "No token needed." : op["x-gatehouse-access"] ? "An administrator's token." : "Any valid token.",
        parameters: (op.parameters ?? []).map((p) => ({
          where: p.in,
          name: p.name,
          type: typeWords(p.schema),
          required: p.required,
          description: p.description ?? "",
        })),
        body: fieldsOf(op.requestBody?.content["application/json"]?.schema),
        responses: Object.entries(op.responses).map(([status, r]) => {
          const schema = r.content?.["application/json"].schema;
          const listed = schema?.properties?.data?.items;
          return { status, description: prose(r.description), fields: schema?.$ref ? [] : fieldsOf(listed ?? schema) };
        }),
      });
    }
  }
  return {
    info: { ...document.info, description: prose(document.info.description) },
    server: document.servers[0]?.url ?? "",
    sections: [...sections].map(([name, operations]) => ({ name, anchor: name.toLowerCase().replace(/[^a-z0-9]+/g, "-"), operations })),
  };
}
