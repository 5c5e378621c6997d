import { describe, expect, it } from "vitest";
import { readImportFile } from "../../src/services/user-import-file.ts";

/** Reading an import file (docs/domain.md, "Importing users"): delimiters, line numbers, and what stops the file whole. */

function read(text: string | Buffer) {
  return readImportFile({ bytes: Buffer.isBuffer(text) ? text : Buffer.from(text, "utf8"), truncated: false });
}

function linesOf(text: string): number[] {
  const result = read(text);
  if ("fatal" in result) throw new Error(JSON.stringify(result.fatal));
  return result.facts.map((f) => f.line);
}

describe("readImportFile", () => {
  it("takes the delimiter the header line has more of, outside quotes", () => {
    const semicolons = read('"username";"full name";email\nada;Lovelace, Ada;\n');
    expect("rows" in semicolons && semicolons.rows.map((r) => [r.username, r.fullName])).toEqual([["ada", "Lovelace, Ada"]]);
    const commas = read('username,"full;name"\n');
    expect("fatal" in commas && commas.fatal[0]?.message).toContain('unknown column "full;name"');
  });

  it("numbers lines as an editor does, with LF, CRLF or CR line ends, blank lines and values spanning lines", () => {
    expect(linesOf("username\na\nb\n")).toEqual([2, 3]);
    expect(linesOf("username\r\na\r\n\r\nb\r\n")).toEqual([2, 4]);
    expect(linesOf("username\ra\rb")).toEqual([2, 3]);
    expect(linesOf('username,teams\na,"x\r\ny\nz"\nb,\n')).toEqual([2, 5]);
  });

  it("names the columns it does not know, and the columns the header leaves without a name", () => {
    expect(read("username,constructor,,email,\na,b,c,d,e\n")).toMatchObject({
      fatal: [
        { line: 1, field: "header", message: "The header leaves columns 3, 5 without a name: name every column, or remove the empty ones." },
        { line: 1, field: "header", message: expect.stringContaining('unknown column "constructor"') },
      ],
    });
  });

  it("drops a BOM, and reads names of columns trimmed and without regard to case", () => {
    const result = read("\uFEFF  USERNAME  , Full Name \nada,Ada\n");
    expect("rows" in result && result.rows[0]).toMatchObject({ username: "ada", fullName: "Ada", authSource: "local" });
  });

  it("refuses a file cut off at the size limit, bytes that are not UTF-8, and a value whose quote never closes", () => {
    expect(readImportFile({ bytes: Buffer.from("username\na\n"), truncated: true })).toMatchObject({ fatal: [{ line: null, message: expect.stringContaining("larger than 10 MB") }] });
    expect(read(Buffer.from([0x75, 0x0a, 0xff, 0x0a]))).toMatchObject({ fatal: [{ message: expect.stringContaining("not valid UTF-8") }] });
    expect(read('username\n"ada\n')).toMatchObject({ fatal: [{ line: 2, field: "file" }] });
  });

  it("docs/security.md A10, A11: field rules are the user form's, and a row with a bad field is still reported for its others", () => {
    const result = read(`username,full name,teams\n${"é".repeat(64)},"${"n".repeat(129)}",Ops\n`);
    if ("fatal" in result) throw new Error("unexpected");
    expect(result.problems).toEqual([{ line: 2, field: "full name", message: "Full name must be at most 128 characters; this one has 129." }]);
    expect(result.facts[0]).toMatchObject({ username: "é".repeat(64), teamKeys: new Map([["ops", "Ops"]]) });
  });
});
