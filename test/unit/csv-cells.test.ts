import { describe, expect, it } from "vitest";
import { csvCell, csvLine } from "../../src/lib/csv-cells.ts";

/** The one CSV writer of every download (docs/security.md X1). */
describe("csvCell", () => {
  it.each([
    ["plain", "plain"],
    ['=HYPERLINK("http://x","y")', `"'=HYPERLINK(""http://x"",""y"")"`],
    ["@SUM(1)", "'@SUM(1)"],
    ["+44 20 1234", "'+44 20 1234"],
    ["-2+3", "'-2+3"],
    ["\tcmd", "'\tcmd"],
    ["\rcmd", `"'\rcmd"`],
    ["a, b", '"a, b"'],
    ['say "hi"', '"say ""hi"""'],
    ["two\nlines", '"two\nlines"'],
    ["a=b", "a=b"],
    ["", ""],
  ])("%j → %j", (value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it("writes nothing for null and undefined, text for numbers and booleans, JSON for objects", () => {
    expect(csvCell(null)).toBe("");
    expect(csvCell(undefined)).toBe("");
    expect(csvCell(-1)).toBe("'-1");
    expect(csvCell(42)).toBe("42");
    expect(csvCell(true)).toBe("true");
    expect(csvCell({ a: 1 })).toBe('"{""a"":1}"');
  });

  it("ends a line with CRLF", () => {
    expect(csvLine(["a", "=b", 3])).toBe("a,'=b,3\r\n");
  });
});
