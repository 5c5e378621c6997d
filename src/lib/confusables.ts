import confusables from "unhomoglyph/data.json" with { type: "json" };

/**
 * Unicode's confusables.txt (UTS #39, "Confusable Detection"), as the unhomoglyph package ships it (version 13.0.0 of
 * the data, pinned in package.json): each character that looks like another, mapped to the prototype it looks like
 * ("а" U+0430 to "a", "m" to "rn", "1" to "l"). Stored skeletons depend on this table: a new version of it needs a
 * migration that computes them again (migrations/20261204110000_add_username_skeletons.ts is the model).
 */
const PROTOTYPES: ReadonlyMap<string, string> = new Map(Object.entries(confusables as Record<string, string>));

/**
 * The skeleton of UTS #39 §4: NFD, each character replaced by its prototype, NFD again. Two strings that look alike
 * have the same skeleton. It is for comparing only, never for showing: "admin" becomes "adrnin".
 */
export function skeleton(value: string): string {
  let mapped = "";
  for (const character of value.normalize("NFD")) mapped += PROTOTYPES.get(character) ?? character;
  return mapped.normalize("NFD");
}

function codePoint(character: string): string {
  return `U+${(character.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/**
 * The characters of `value` outside ASCII that stand for other ones (their skeleton is not themselves), as "U+0430",
 * each once, in order: what tells a look-alike name from the one it imitates, for a message.
 */
export function lookalikeCharacters(value: string): string[] {
  const found = new Set<string>();
  for (const character of value) {
    if (character.codePointAt(0)! < 0x80) continue;
    if (skeleton(character) !== character.normalize("NFD")) found.add(codePoint(character));
  }
  return [...found];
}
