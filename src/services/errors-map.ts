import { ConflictError } from "../errors.ts";

/** Postgres error codes that a service turns into messages a person can act on. */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === "23505";
}

export function isForeignKeyViolation(error: unknown): boolean {
  return (error as { code?: string } | null)?.code === "23503";
}

/**
 * Runs `work`; a foreign-key violation (a row it refers to was deleted by a concurrent transaction after it was
 * read) becomes the error `whenGone` builds, after the failed transaction has ended.
 */
export async function onForeignKeyViolation<T>(work: () => Promise<T>, whenGone: () => Promise<Error>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw await whenGone();
    throw error;
  }
}

/**
 * A name already taken (docs/domain.md, "Teams, systems and system groups": unique after trim, NFKC and case folding), naming the one it clashes with.
 * `existing` is the stored spelling of the other record's name, when it could be read.
 */
export function nameTakenError(noun: "team" | "group" | "system", typed: string, existing: string | undefined): ConflictError {
  const clash = existing ?? typed;
  return new ConflictError(`A ${noun} named "${clash}" already exists.`, {
    name: `The name is already used by another ${noun}: "${clash}" already exists (names are compared without regard to case, character width or spaces at the ends).`,
  });
}
