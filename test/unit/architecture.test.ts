import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

/**
 * The layering of src/ (README "Layout"), checked on the source itself: routes reach the database only through
 * services, and no file of src/ depends on itself through a chain of imports. Every import counts, type-only ones
 * too: `import`, `import type`, `export … from`, `export * from`, `import("…")` and `typeof import("…")`.
 * Paths here are relative to the repository, with forward slashes ("src/routes/setup/index.ts").
 */

/** The files of a tree, by path: the real src/ or, in the self-checks, a few files written inline. */
interface SourceTree {
  /** The source files, sorted. */
  files: string[];
  read(file: string): string;
}

interface Edge {
  from: string;
  to: string;
  specifier: string;
  line: number;
}

interface ImportGraph {
  files: string[];
  edges: Map<string, Edge[]>;
  /** Relative specifiers that name no file of the tree (the checks would miss what they import). */
  unresolved: string[];
}

const SOURCE_FILE = /\.(ts|mts|cts|tsx|js|mjs|cjs)$/;

function diskTree(root: string, dir: string): SourceTree {
  const files: string[] = [];
  const walk = (at: string): void => {
    for (const name of readdirSync(path.join(root, at)).sort()) {
      const child = `${at}/${name}`;
      if (statSync(path.join(root, child)).isDirectory()) walk(child);
      else if (SOURCE_FILE.test(name) && !/\.d\.[mc]?ts$/.test(name)) files.push(child);
    }
  };
  walk(dir);
  return { files: files.sort(), read: (file) => readFileSync(path.join(root, file), "utf8") };
}

/** Every module specifier a file names, with its line. */
function specifiers(file: string, text: string): { specifier: string; line: number }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: { specifier: string; line: number }[] = [];
  const add = (node: ts.Node | undefined) => {
    if (node && ts.isStringLiteralLike(node)) {
      found.push({ specifier: node.text, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/**
 * The file of the tree a relative specifier names: "../x.ts", "./dir/index.ts", and also "./x", "./dir" and
 * "./x.js" (which TypeScript maps to x.ts). Package names and "node:" modules: undefined (not files of src/).
 */
function resolveSpecifier(tree: Set<string>, from: string, specifier: string): string | "unresolved" | undefined {
  if (!specifier.startsWith("./") && !specifier.startsWith("../")) return undefined;
  const base = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier.replace(/[?#].*$/, "")));
  const candidates = [base];
  const js = /\.([mc]?)js$/.exec(base);
  if (js) candidates.push(`${base.slice(0, -js[0].length)}.${js[1]}ts`);
  candidates.push(`${base}.ts`, `${base}.mts`, `${base}.js`, `${base}/index.ts`, `${base}/index.js`);
  return candidates.find((candidate) => tree.has(candidate)) ?? "unresolved";
}

function importGraph(tree: SourceTree): ImportGraph {
  const known = new Set(tree.files);
  const edges = new Map<string, Edge[]>();
  const unresolved: string[] = [];
  for (const file of tree.files) {
    const out: Edge[] = [];
    for (const { specifier, line } of specifiers(file, tree.read(file))) {
      const target = resolveSpecifier(known, file, specifier);
      if (target === "unresolved") unresolved.push(`${file}:${line} imports "${specifier}", which is no file of the tree`);
      else if (target) out.push({ from: file, to: target, specifier, line });
    }
    edges.set(file, out);
  }
  return { files: tree.files, edges, unresolved };
}

/** Route files importing repository files: one entry per pair of files, with the lines of the imports. */
function routesToRepositories(graph: ImportGraph): string[] {
  const pairs = new Map<string, number[]>();
  for (const edge of [...graph.edges.values()].flat()) {
    if (!edge.from.startsWith("src/routes/") || !edge.to.startsWith("src/repositories/")) continue;
    const key = `${edge.from} → ${edge.to}`;
    pairs.set(key, [...(pairs.get(key) ?? []), edge.line]);
  }
  return [...pairs].map(([key, lines]) => `${key} (line ${lines.join(", ")})`);
}

/** The strongly connected components (Tarjan) of more than one file, or of one file that imports itself. */
function cyclicComponents(graph: ImportGraph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter += 1;
    stack.push(v);
    onStack.add(v);
    for (const { to: w } of graph.edges.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v) as number, index.get(w) as number));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string | undefined;
    do {
      w = stack.pop() as string;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    const importsItself = (graph.edges.get(v) ?? []).some((e) => e.to === v);
    if (component.length > 1 || importsItself) components.push(component.sort());
  };
  for (const file of graph.files) if (!index.has(file)) connect(file);
  return components.sort((a, b) => (a[0] as string).localeCompare(b[0] as string));
}

/** A shortest chain of imports from the component's first file back to it. */
function shortestCycle(graph: ImportGraph, component: string[]): string[] {
  const members = new Set(component);
  const start = component[0] as string;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i] as string;
    for (const { to } of graph.edges.get(v) ?? []) {
      if (!members.has(to)) continue;
      if (to === start) {
        const chain = [start];
        for (let at = v; at !== start; at = cameFrom.get(at) as string) chain.splice(1, 0, at);
        return [...chain, start];
      }
      if (!cameFrom.has(to) && to !== start) {
        cameFrom.set(to, v);
        queue.push(to);
      }
    }
  }
  return [start];
}

/** Each cycle: a shortest one through it, its files, and every import among them (each may need cutting). */
function describeCycles(graph: ImportGraph): string[] {
  return cyclicComponents(graph).map((component) => {
    const members = new Set(component);
    const inside = component.flatMap((f) => (graph.edges.get(f) ?? []).filter((e) => members.has(e.to)));
    return [
      `cycle: ${shortestCycle(graph, component).join(" → ")}`,
      `  its ${component.length} files: ${component.join(", ")}`,
      "  the imports among them:",
      ...inside.map((e) => `    ${e.from}:${e.line} → ${e.to} ("${e.specifier}")`),
    ].join("\n");
  });
}

function inlineTree(sources: Record<string, string>): SourceTree {
  return { files: Object.keys(sources).sort(), read: (file) => sources[file] ?? "" };
}

describe("the import checker itself", () => {
  const graph = importGraph(
    inlineTree({
      "src/routes/a.ts": [
        `import type { Row } from "../repositories/rows.ts";`,
        `// import { commented } from "../repositories/commented.ts";`,
        `const text = 'import { inString } from "../repositories/strings.ts"';`,
        `export { helper } from "./dir/index.ts";`,
        `import express from "express";`,
        `import { readFile } from "node:fs/promises";`,
      ].join("\n"),
      "src/routes/dir/index.ts": `export * from "../../repositories/more.ts";\nexport type { T } from "../../services/b";`,
      "src/routes/lazy.ts": `type Doc = ReturnType<typeof import("../repositories/docs.ts").load>;\nconst m = await import("../services/c.js");`,
      "src/repositories/rows.ts": "export type Row = { id: number };",
      "src/repositories/more.ts": "export const more = 1;",
      "src/repositories/docs.ts": "export function load() {}",
      "src/repositories/commented.ts": "",
      "src/repositories/strings.ts": "",
      "src/services/b.ts": `import type { C } from "./c.ts";\nexport type T = C;`,
      "src/services/c.ts": `import { type T } from "./b.ts";\nexport type C = T;`,
      "src/services/self.ts": `export * from "./self.ts";`,
      "src/services/broken.ts": `import { gone } from "./gone.ts";`,
    }),
  );

  it("sees import type, export … from, export *, import() and typeof import(), but not comments or strings", () => {
    expect(routesToRepositories(graph)).toEqual([
      "src/routes/a.ts → src/repositories/rows.ts (line 1)",
      "src/routes/dir/index.ts → src/repositories/more.ts (line 1)",
      "src/routes/lazy.ts → src/repositories/docs.ts (line 1)",
    ]);
    expect((graph.edges.get("src/routes/a.ts") ?? []).map((e) => e.to)).toEqual(["src/repositories/rows.ts", "src/routes/dir/index.ts"]);
    expect((graph.edges.get("src/routes/lazy.ts") ?? []).map((e) => e.to)).toEqual(["src/repositories/docs.ts", "src/services/c.ts"]);
  });

  it("finds a cycle of type-only imports and a file that imports itself, and names their files", () => {
    expect(cyclicComponents(graph)).toEqual([["src/services/b.ts", "src/services/c.ts"], ["src/services/self.ts"]]);
    const [pair, self] = describeCycles(graph);
    expect(pair).toContain("cycle: src/services/b.ts → src/services/c.ts → src/services/b.ts");
    expect(pair).toContain(`src/services/c.ts:1 → src/services/b.ts ("./b.ts")`);
    expect(self).toContain("cycle: src/services/self.ts → src/services/self.ts");
  });

  it("reports a relative import that names no file", () => {
    expect(graph.unresolved).toEqual([`src/services/broken.ts:1 imports "./gone.ts", which is no file of the tree`]);
  });
});

describe("the architecture of src/", () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const graph = importGraph(diskTree(root, "src"));

  it("reads every import of src/ (every relative import names a file)", () => {
    expect(graph.files).toContain("src/app.ts");
    expect([...graph.edges.values()].flat().length).toBeGreaterThan(graph.files.length);
    expect(graph.unresolved.length, `relative imports that name no file:\n${graph.unresolved.join("\n")}\n`).toBe(0);
  });

  it("no file under src/routes/ imports a file under src/repositories/ (routes go through services)", () => {
    const offending = routesToRepositories(graph);
    expect(
      offending.length,
      `${offending.length} import(s) from src/routes/ into src/repositories/ (a route calls a service, which calls the repository):\n${offending.map((o) => `  ${o}`).join("\n")}\n`,
    ).toBe(0);
  });

  it("src/ has no import cycles, type-only imports included", () => {
    const cycles = describeCycles(graph);
    expect(cycles.length, `${cycles.length} import cycle(s) among the files of src/:\n${cycles.join("\n")}\n`).toBe(0);
  });
});
