/**
 * What `test/docs/architecture.test.ts` reads out of the source to hold the documents to it:
 * string literals with their `${...}` parts as placeholders (the store keys are built as
 * templates), import specifiers, comments, and the tables and headings of a markdown file.
 * Parsed with the TypeScript compiler, not with regular expressions over the text, so that a
 * key in a comment is not taken for one in use, and a key built in several lines, from a
 * module constant or in a conditional, still is.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

/** The placeholder a literal's `${...}` part becomes (and a document's `<name>`). */
export const HOLE = '<>';

/** A string literal of the source, its `${...}` parts replaced by {@link HOLE}. */
export interface SourceLiteral {
  file: string;
  line: number;
  text: string;
}

/** Every `.ts` file under `dir`, as paths relative to `root` with `/` separators. */
export function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  const walk = (abs: string) => {
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      const p = join(abs, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) out.push(relative(root, p).split('\\').join('/'));
    }
  };
  walk(join(root, dir));
  return out.sort();
}

function parse(file: string, text: string): ts.SourceFile {
  return ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
}

/**
 * Names bound to known strings anywhere in a file: `const NAME = 'text'` (a key prefix kept
 * in a constant), `const NAME = cond ? 'a' : 'b'`, and parameters typed as a union of string
 * literals (`which: 'un' | 're'`). A name also bound to anything else is left unknown.
 */
function stringConstants(sf: ts.SourceFile): Map<string, string[]> {
  const out = new Map<string, string[] | null>();
  const bind = (name: string, texts: string[] | null) => {
    const had = out.get(name);
    out.set(name, had === undefined ? texts : had === null || texts === null ? null : [...new Set([...had, ...texts])]);
  };
  const literalTexts = (e: ts.Node | undefined): string[] | null => {
    if (e === undefined) return null;
    if (ts.isParenthesizedExpression(e)) return literalTexts(e.expression);
    if (ts.isStringLiteralLike(e)) return [e.text];
    if (ts.isLiteralTypeNode(e) && ts.isStringLiteral(e.literal)) return [e.literal.text];
    const parts = ts.isConditionalExpression(e) ? [e.whenTrue, e.whenFalse] : ts.isUnionTypeNode(e) ? [...e.types] : undefined;
    if (!parts) return null;
    const texts = parts.map(literalTexts);
    return texts.every((t) => t !== null) ? texts.flat() : null;
  };
  const visit = (n: ts.Node): void => {
    if (ts.isVariableDeclaration(n) && ts.isIdentifier(n.name)) {
      const isConst = ts.isVariableDeclarationList(n.parent) && (n.parent.flags & ts.NodeFlags.Const) !== 0;
      bind(n.name.text, isConst ? literalTexts(n.initializer) : null);
    } else if (ts.isParameter(n) && ts.isIdentifier(n.name)) bind(n.name.text, literalTexts(n.type));
    ts.forEachChild(n, visit);
  };
  visit(sf);
  const known = new Map<string, string[]>();
  for (const [name, texts] of out) if (texts !== null) known.set(name, texts);
  return known;
}

/**
 * The texts a template part may put in a key: the strings a name is bound to (see
 * {@link stringConstants}), each branch of a conditional between literals
 * (`packed ? 'bq' : 'bc'`), or else a placeholder.
 */
function partTexts(expr: ts.Expression, consts: Map<string, string[]>): string[] {
  if (ts.isParenthesizedExpression(expr)) return partTexts(expr.expression, consts);
  if (ts.isStringLiteralLike(expr)) return [expr.text];
  if (ts.isIdentifier(expr) && consts.has(expr.text)) return consts.get(expr.text)!;
  if (ts.isConditionalExpression(expr)) {
    const a = partTexts(expr.whenTrue, consts);
    const b = partTexts(expr.whenFalse, consts);
    if (!a.includes(HOLE) && !b.includes(HOLE)) return [...a, ...b];
  }
  return [HOLE];
}

/** Is `node` the module name of an import or export, or the namespace of a `logger(...)`? */
function isNotData(node: ts.Node): boolean {
  const p = node.parent;
  if (ts.isImportDeclaration(p) || ts.isExportDeclaration(p) || ts.isExternalModuleReference(p) || ts.isLiteralTypeNode(p)) return true;
  if (ts.isCallExpression(p)) {
    const callee = p.expression;
    if (callee.kind === ts.SyntaxKind.ImportKeyword) return true;
    if (ts.isIdentifier(callee) && (callee.text === 'require' || callee.text === 'logger')) return true;
  }
  return false;
}

/** The string literals of one source text (exported for the extraction's own tests). */
export function literalsOf(file: string, text: string): SourceLiteral[] {
  const sf = parse(file, text);
  const consts = stringConstants(sf);
  const out: SourceLiteral[] = [];
  const add = (node: ts.Node, texts: string[]) => {
    const line = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;
    for (const t of texts) out.push({ file, line, text: t });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) {
      if (!isNotData(node)) add(node, [node.text]);
    } else if (ts.isTemplateExpression(node)) {
      let texts = [node.head.text];
      for (const span of node.templateSpans) {
        const parts = partTexts(span.expression, consts);
        texts = texts.flatMap((t) => parts.map((p) => t + p + span.literal.text));
      }
      add(node, texts);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

/** The string literals of every file under `dir`. */
export function sourceLiterals(root: string, dir: string): SourceLiteral[] {
  return sourceFiles(root, dir).flatMap((f) => literalsOf(f, readFileSync(join(root, f), 'utf8')));
}

/** The modules a source text imports (statically, dynamically, as types, or for effect). */
export function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  const visit = (n: ts.Node): void => {
    if ((ts.isImportDeclaration(n) || ts.isExportDeclaration(n)) && n.moduleSpecifier && ts.isStringLiteral(n.moduleSpecifier)) out.push(n.moduleSpecifier.text);
    else if (ts.isCallExpression(n) && n.arguments[0] && ts.isStringLiteral(n.arguments[0])) {
      const callee = n.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === 'require')) out.push(n.arguments[0].text);
    } else if (ts.isImportTypeNode(n) && ts.isLiteralTypeNode(n.argument) && ts.isStringLiteral(n.argument.literal)) out.push(n.argument.literal.text);
    ts.forEachChild(n, visit);
  };
  visit(parse(file, text));
  return out;
}

/**
 * The text of every comment of a source text. A comment is the leading trivia of some token,
 * so the tokens' leading trivia (from the parse, which knows templates from regular
 * expressions) hold every one.
 */
export function commentsOf(file: string, text: string): string[] {
  const seen = new Map<number, string>();
  const visit = (n: ts.Node, sf: ts.SourceFile): void => {
    for (const r of ts.getLeadingCommentRanges(text, n.getFullStart()) ?? []) seen.set(r.pos, text.slice(r.pos, r.end));
    for (const child of n.getChildren(sf)) visit(child, sf);
  };
  const sf = parse(file, text);
  visit(sf, sf);
  return [...seen.values()];
}

/** The lines of `markdown` under the heading whose text starts with `heading`, up to the next heading of that level or higher. */
export function section(markdown: string, heading: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => /^#{1,6} /.test(l) && l.replace(/^#+ /, '').startsWith(heading));
  if (start === -1) throw new Error(`no heading "${heading}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  const end = lines.findIndex((l, i) => i > start && new RegExp(`^#{1,${level}} `).test(l));
  return lines.slice(start + 1, end === -1 ? undefined : end);
}

/** The backquoted names in the first cell of each row of the markdown tables in `lines`. */
export function firstColumnNames(lines: readonly string[]): string[] {
  return lines
    .filter((l) => l.startsWith('|') && !/^\|\s*-/.test(l))
    .flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]!));
}

/** Every heading's text in `markdown`, without its `#`s. */
export function headings(markdown: string): string[] {
  return markdown
    .split('\n')
    .filter((l) => /^#{1,6} /.test(l))
    .map((l) => l.replace(/^#+ /, '').trim());
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
export function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}
