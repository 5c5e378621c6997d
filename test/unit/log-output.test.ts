import { EventEmitter } from "node:events";
import { describe, expect, it } from "vitest";
import { BoundedLogOutput } from "../../src/lib/logger.ts";

/** A stdout whose reader has stopped: it keeps what it is given (writableLength) until the test lets it drain. */
class StalledStdout extends EventEmitter {
  readonly lines: string[] = [];
  writableLength = 0;
  write(line: string): boolean {
    this.lines.push(line);
    this.writableLength += line.length;
    return this.writableLength < 16;
  }
  drain(): void {
    this.writableLength = 0;
    this.emit("drain");
  }
}

/** Like pino's transport: says "full" only by write's answer. */
class FullTransport extends EventEmitter {
  readonly lines: string[] = [];
  full = false;
  write(line: string): boolean {
    this.lines.push(line);
    return !this.full;
  }
}

describe("BoundedLogOutput (docs/security.md §4, logging never stops the server)", () => {
  it("drops lines past its buffer without waiting, counts them, and reports the count once the target drains", () => {
    const stdout = new StalledStdout();
    const output = new BoundedLogOutput(stdout, 100);
    const reports: number[] = [];
    output.onRecovered = (dropped) => reports.push(dropped);
    for (let i = 0; i < 30; i++) expect(output.write(`line ${String(i).padStart(2, "0")}\n`)).toBe(true);
    // 100 bytes hold twelve 8-byte lines; the other 18 are dropped, none is retried.
    expect(stdout.lines).toHaveLength(12);
    expect(output.droppedLines).toBe(18);
    expect(reports).toEqual([]);
    stdout.drain();
    expect(reports).toEqual([18]);
    expect(output.droppedLines).toBe(0);
    output.write("after\n");
    expect(stdout.lines.at(-1)).toBe("after\n");
  });

  it("once it has dropped a line, writes nothing more until the target has drained (no lines out of order)", () => {
    const stdout = new StalledStdout();
    const output = new BoundedLogOutput(stdout, 20);
    output.write("a".repeat(15));
    output.write("b".repeat(10));
    stdout.writableLength = 0;
    output.write("c");
    expect(stdout.lines).toEqual(["a".repeat(15)]);
    expect(output.droppedLines).toBe(2);
  });

  it("on a transport, keeps the line that filled it and drops the next ones until 'drain'", () => {
    const transport = new FullTransport();
    const output = new BoundedLogOutput(transport, 1_000);
    const reports: number[] = [];
    output.onRecovered = (dropped) => reports.push(dropped);
    output.write("one\n");
    transport.full = true;
    output.write("two\n");
    output.write("three\n");
    output.write("four\n");
    expect(transport.lines).toEqual(["one\n", "two\n"]);
    transport.full = false;
    transport.emit("drain");
    expect(reports).toEqual([2]);
    output.write("five\n");
    expect(transport.lines.at(-1)).toBe("five\n");
  });

  it("writes nothing once the reader is gone for good", () => {
    const stdout = new StalledStdout();
    const output = new BoundedLogOutput(stdout, 100);
    output.markBroken();
    output.write("lost\n");
    expect(stdout.lines).toEqual([]);
  });
});
