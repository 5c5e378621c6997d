import { availableParallelism } from "node:os";
import argon2 from "argon2";
import { Semaphore } from "../lib/semaphore.ts";

/** OWASP's argon2id floor (DESIGN §3.5). Changing these makes sign-in rehash stored passwords. */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

// One hash per core at a time: more only wait for a core while holding 19 MiB each, and every libuv thread that
// ever hashed keeps its memory arena (measured: 4 at once on 2 cores cost about 80 MB of resident memory for good).
const hashing = new Semaphore(Math.max(1, Math.min(4, availableParallelism())));

export function hashPassword(password: string): Promise<string> {
  return hashing.run(() => argon2.hash(password.normalize("NFKC"), ARGON2_OPTIONS));
}

/** False for a wrong password and for a hash that cannot be parsed; never throws for either. */
export async function verifyPassword(hash: string, password: string): Promise<boolean> {
  try {
    return await hashing.run(() => argon2.verify(hash, password.normalize("NFKC")));
  } catch {
    return false;
  }
}

export function needsRehash(hash: string): boolean {
  try {
    return argon2.needsRehash(hash, ARGON2_OPTIONS);
  } catch {
    return true;
  }
}

let dummyHash: Promise<string> | undefined;

/** Spends the time of one real verification so an unknown username answers as slowly as a wrong password. */
export async function verifyAgainstDummy(password: string): Promise<void> {
  dummyHash ??= hashPassword("gatehouse-dummy-password-for-timing");
  await verifyPassword(await dummyHash, password);
}
