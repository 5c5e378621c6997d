/**
 * A LIKE pattern matching `search` anywhere in a lower-cased column: NFKC and lower-case like the stored keys
 * (so "ｐｒｏｄ" finds "prod"), with LIKE's own wildcards escaped so that "%" and "_" match only themselves.
 */
export function containsPattern(search: string): string {
  const key = search.normalize("NFKC").toLowerCase();
  return `%${key.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
