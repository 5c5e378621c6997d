import { describe, expect, it } from "vitest";
import { lookalikeCharacters, skeleton } from "../../src/lib/confusables.ts";
import { nameKey, nameSkeleton } from "../../src/lib/fields.ts";

describe("skeleton (UTS #39 §4: NFD, each character to its prototype in confusables.txt, NFD)", () => {
  it("maps letters of other scripts to the Latin ones they look like", () => {
    expect(skeleton("\u0430dmin")).toBe(skeleton("admin")); // Cyrillic а
    expect(skeleton("\u03b1dmin")).toBe(skeleton("admin")); // Greek α
    expect(skeleton("p\u0430yp\u0430l")).toBe(skeleton("paypal"));
    expect(skeleton("\u0455\u0435rv\u0456c\u0435")).toBe(skeleton("service")); // Cyrillic ѕ е і
  });

  it("maps the look-alikes within Latin and the digits: rn and m, 1 and l, 0 and O", () => {
    expect(skeleton("rn")).toBe(skeleton("m"));
    expect(skeleton("user1")).toBe(skeleton("userl"));
    expect(skeleton("b0b")).toBe(skeleton("bOb"));
  });

  it("treats a composed and a decomposed accent as one", () => {
    expect(skeleton("jos\u00e9")).toBe(skeleton("jose\u0301"));
  });

  it("keeps names that look different apart", () => {
    const names = ["alice", "bob", "carol", "admin", "administrator", "member1", "member2", "member11", "ops", "0ps-team"];
    expect(new Set(names.map(skeleton)).size).toBe(names.length);
  });

  it("reads characters outside the Basic Multilingual Plane whole", () => {
    expect(skeleton("\u{1d41a}dmin")).toBe(skeleton("admin")); // MATHEMATICAL BOLD SMALL A
  });
});

describe("nameSkeleton", () => {
  it("is the skeleton of the name's key: case, width and spaces count for nothing, look-alikes are one", () => {
    for (const variant of ["admin", "ADMIN", " Admin ", "ａｄｍｉｎ", "\u0430dmin", "\u0410DMIN", "\u03b1dmin"])
      expect(nameSkeleton(variant), variant).toBe(nameSkeleton("admin"));
    expect(nameKey("\u0430dmin")).not.toBe(nameKey("admin"));
  });
});

describe("lookalikeCharacters", () => {
  it("names by code point the characters outside ASCII that stand for others", () => {
    expect(lookalikeCharacters("\u0430dmin")).toEqual(["U+0430"]);
    expect(lookalikeCharacters("p\u0430yp\u0430l")).toEqual(["U+0430"]);
    expect(lookalikeCharacters("\u{1d41a}dm\u0456n")).toEqual(["U+1D41A", "U+0456"]);
    expect(lookalikeCharacters("admin")).toEqual([]);
    expect(lookalikeCharacters("jos\u00e9")).toEqual([]);
  });
});
