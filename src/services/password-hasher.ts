import argon2 from "argon2";
import { Semaphore } from "../lib/semaphore.ts";

/** OWASP's argon2id floor (DESIGN §3.5). Changing these makes sign-in rehash stored passwords. */
export const ARGON2_OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

// libuv runs hashes on 4 threads; more at once only queue there while holding 19 MiB each.
const hashing = new Semaphore(4);

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
