import express, { type Request, type RequestHandler, type Response, type Router } from "express";
import { z } from "zod";
import { AppError, ForbiddenError } from "../../errors.ts";
import { jsonBody } from "../../middleware/json-body.ts";
import { input, validate } from "../../middleware/validate.ts";

/** Who may call an operation: anyone, any valid token, or a token whose owner is an administrator. */
export type Access = "public" | "token" | "admin";
type Method = "get" | "post" | "put" | "patch" | "delete";

export interface ApiResponse {
  description: string;
  schema?: z.ZodType;
}

type Parsed<T> = T extends z.ZodType ? z.output<T> : undefined;

export interface OperationSpec<P extends z.ZodType | undefined, Q extends z.ZodType | undefined, B extends z.ZodType | undefined> {
  method: Method;
  /** Express style, under /api/v1: "/users/:id". */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  /**
   * A body that is a file rather than JSON (a CSV import): read as raw bytes up to `maxBytes`, refused with 415
   * unless sent as `mediaType`, and with 413 and `tooLarge` beyond the limit. `body` then checks the bytes.
   */
  rawBody?: { mediaType: string; maxBytes: number; tooLarge: string; description: string };
  /** The answers besides the errors every operation may give (400, 401, 403, 404: added to the document). */
  responses: Record<number, ApiResponse>;
  handler: (req: Request, res: Response, input: { params: Parsed<P>; query: Parsed<Q>; body: Parsed<B> }) => Promise<void>;
}

/**
 * One operation of the REST API: the route and its OpenAPI description come from this one definition, so the
 * document cannot drift from what the server accepts. The schemas' own types are erased once it is defined.
 */
export type Operation = Omit<OperationSpec<z.ZodType | undefined, z.ZodType | undefined, z.ZodType | undefined>, "handler"> & {
  handler: (req: Request, res: Response, input: { params: unknown; query: unknown; body: unknown }) => Promise<void>;
};

export function operation<P extends z.ZodType | undefined = undefined, Q extends z.ZodType | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  spec: OperationSpec<P, Q, B>,
): Operation {
  return spec as unknown as Operation;
}

const requireAdministrator: RequestHandler = (req, _res, next) => {
  if (!req.user?.isAdmin) return next(new ForbiddenError("Only administrators can do that; this token acts for an account that is not an administrator."));
  next();
};

/** A body sent as a form (or anything but JSON) is refused outright rather than read with the form parser's rules. */
const requireJsonBody: RequestHandler = (req, _res, next) => {
  const carriesContent = req.get("transfer-encoding") !== undefined || Number(req.get("content-length") ?? 0) > 0;
  if (carriesContent && !req.is("application/json"))
    return next(new AppError(415, "unsupported_media_type", "Send the request body as JSON, with Content-Type: application/json."));
  next();
};

/** The raw bytes of a file body; an absent body is an empty file, which the operation then refuses in its own words. */
function readRawBody(spec: NonNullable<Operation["rawBody"]>): RequestHandler[] {
  const requireMediaType: RequestHandler = (req, _res, next) => {
    const carriesContent = req.get("transfer-encoding") !== undefined || Number(req.get("content-length") ?? 0) > 0;
    if (carriesContent && !req.is(spec.mediaType))
      return next(new AppError(415, "unsupported_media_type", `Send the file as the request body, with Content-Type: ${spec.mediaType}.`));
    next();
  };
  const read = express.raw({ type: () => true, limit: spec.maxBytes });
  const readBytes: RequestHandler = (req, res, next) =>
    read(req, res, (error?: unknown) => {
      if ((error as { type?: string } | undefined)?.type === "entity.too.large") return next(new AppError(413, "too_large", spec.tooLarge));
      if (error) return next(error);
      if (!Buffer.isBuffer(req.body)) req.body = Buffer.alloc(0);
      next();
    });
  return [requireMediaType, readBytes];
}

/** Operations that take no body still refuse fields: a typo must not pass silently. */
const NoBody = z.strictObject({});

export function mountOperations(router: Router, operations: readonly Operation[], requireToken: RequestHandler): void {
  for (const op of operations) {
    const chain: RequestHandler[] = [];
    if (op.access !== "public") chain.push(requireToken);
    if (op.access === "admin") chain.push(requireAdministrator);
    // Read only once the caller is known: an anonymous request gets its 401 without the server parsing its body.
    if (op.rawBody) chain.push(...readRawBody(op.rawBody));
    else chain.push(jsonBody, requireJsonBody);
    const takesBody = op.method !== "get";
    chain.push(validate({ params: op.params, query: op.query ?? NoBody, body: op.body ?? (takesBody ? NoBody : undefined) }, "request"));
    chain.push(async (req, res) => {
      const { params, query, body } = input(res);
      await op.handler(req, res, { params, query, body });
    });
    router[op.method](op.path, ...chain);
  }
}

/**
 * A whole number from 1 to `max` in the query string, said as digits with no sign, spaces or leading zeros: what
 * other spellings would mean is not guessed at, the caller is told what to send.
 */
export function wholeNumberParam(max: number, problem: string) {
  return z
    .string()
    .regex(new RegExp(`^[1-9][0-9]{0,${String(max).length - 1}}$`), problem)
    .transform(Number)
    .refine((n) => n <= max, problem);
}

/** ?page=&perPage= on every list: 50 a page by default, at most 200. */
export const pagingFields = {
  page: wholeNumberParam(1_000_000, "page must be a whole number from 1 to 1000000.")
    .optional()
    .transform((n) => n ?? 1)
    .meta({ description: "The page to return, from 1.", default: "1" }),
  perPage: wholeNumberParam(200, "perPage must be a whole number from 1 to 200.")
    .optional()
    .transform((n) => n ?? 50)
    .meta({ description: "Items per page, 1 to 200.", default: "50" }),
};

export const PageQuery = z.strictObject(pagingFields);
export type Paging = { page: number; perPage: number };

export function pageWindow(paging: Paging): { limit: number; offset: number } {
  return { limit: paging.perPage, offset: (paging.page - 1) * paging.perPage };
}

export const PagingView = z.object({
  page: z.number().int(),
  perPage: z.number().int(),
  total: z.number().int().meta({ description: "Items in the whole list." }),
  pageCount: z.number().int(),
});

/** The envelope of every list: `data` and `paging`. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), paging: PagingView });
}

export function sendPage<T extends z.ZodType>(res: Response, item: T, items: unknown[], total: number, paging: Paging): void {
  const body = { data: items, paging: { page: paging.page, perPage: paging.perPage, total, pageCount: Math.max(1, Math.ceil(total / paging.perPage)) } };
  res.status(200).json(pageOf(item).parse(body));
}

/** Answers with `value` shaped by `schema`: fields the schema does not name never leave the server. */
export function send<T extends z.ZodType>(res: Response, status: number, schema: T, value: z.input<T>): void {
  res.status(status).json(schema.parse(value));
}
