"use strict";
var __create = Object.create;
var __defProp = Object.defineProperty;
var __getOwnPropDesc = Object.getOwnPropertyDescriptor;
var __getOwnPropNames = Object.getOwnPropertyNames;
var __getProtoOf = Object.getPrototypeOf;
var __hasOwnProp = Object.prototype.hasOwnProperty;
var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};
var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};
var __toESM = (mod, isNodeMode, target) => (target = mod != null ? __create(__getProtoOf(mod)) : {}, __copyProps(
  // If the importer is in node compatibility mode or this is not an ESM
  // file that has been converted to a CommonJS file using a Babel-
  // compatible transform (i.e. "__esModule" has not been set), then set
  // "default" to the CommonJS "module.exports" for node compatibility.
  isNodeMode || !mod || !mod.__esModule ? __defProp(target, "default", { value: mod, enumerable: true }) : target,
  mod
));
var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);

// editors/vscode/src/extension.ts
var extension_exports = {};
__export(extension_exports, {
  activate: () => activate,
  deactivate: () => deactivate
});
module.exports = __toCommonJS(extension_exports);
var vscode4 = __toESM(require("vscode"));

// editors/vscode/src/cli.ts
var import_node_child_process = require("node:child_process");
function failureMessage(lines, stderr, code) {
  const err = lines.find((l) => l.ok === false && typeof l.message === "string");
  if (err) return String(err.message);
  const last = stderr.trim().split("\n").pop();
  return last ? last.replace(/^error:\s*/, "") : `cshare exited with code ${code}`;
}
function startCli(opts) {
  const child = (0, import_node_child_process.spawn)(opts.command, [...opts.args, "--json"], {
    cwd: opts.cwd,
    env: { ...process.env, NO_COLOR: "1" },
    stdio: ["ignore", "pipe", "pipe"],
    detached: opts.detached ?? false
  });
  const lines = [];
  let stderr = "";
  let buf = "";
  let readyLine;
  child.stderr.on("data", (d) => stderr = (stderr + d.toString()).slice(-8192));
  child.stdout.on("data", (d) => {
    buf += d.toString();
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let line;
      try {
        line = JSON.parse(text);
      } catch {
        line = { raw: text };
      }
      lines.push(line);
      if (lines.length > 200) lines.splice(0, lines.length - 200);
      if (readyLine && opts.ready(line)) {
        readyLine(line);
        readyLine = void 0;
      } else {
        opts.onLine?.(line);
      }
    }
  });
  const ended = new Promise((resolve) => {
    child.on("error", (e) => resolve({ code: null, message: `cannot run ${opts.command}: ${e.message}` }));
    child.on("exit", (code, signal) => resolve(code === 0 || signal ? { code } : { code, message: failureMessage(lines, stderr, code) }));
  });
  if (opts.detached) child.unref();
  const proc = { child, ended, stop: () => void child.kill("SIGTERM") };
  return new Promise((resolve, reject) => {
    readyLine = (line) => resolve({ proc, line });
    void ended.then((r) => {
      if (readyLine) reject(new Error(r.message ?? `cshare ${opts.args[0]} stopped`));
    });
  });
}
function runCli(opts) {
  return new Promise((resolve) => {
    const child = (0, import_node_child_process.spawn)(opts.command, [...opts.args, "--json"], { cwd: opts.cwd, env: { ...process.env, NO_COLOR: "1" }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => stdout += d.toString());
    child.stderr.on("data", (d) => stderr += d.toString());
    child.on("error", (e) => resolve({ code: null, message: `cannot run ${opts.command}: ${e.message}` }));
    child.on("exit", (code) => {
      if (code === 0) return resolve({ code });
      const lines = stdout.split("\n").flatMap((l) => {
        try {
          return [JSON.parse(l)];
        } catch {
          return [];
        }
      });
      resolve({ code, message: failureMessage(lines, stderr, code) });
    });
  });
}

// editors/vscode/src/decorations.ts
var vscode = __toESM(require("vscode"));

// editors/vscode/src/peers.ts
var before = (a, b) => a.line < b.line || a.line === b.line && a.character < b.character;
function marksIn(peers, path) {
  const out = [];
  for (const p of peers) {
    if (p.path !== path || !p.selections) continue;
    const cursors = [];
    const selections = [];
    for (const s of p.selections) {
      cursors.push(s.head);
      if (s.anchor.line !== s.head.line || s.anchor.character !== s.head.character) {
        selections.push(before(s.anchor, s.head) ? { start: s.anchor, end: s.head } : { start: s.head, end: s.anchor });
      }
    }
    out.push({ id: p.id, name: p.name, color: /^#[0-9a-fA-F]{6}$/.test(p.color) ? p.color : "#888888", cursors, selections });
  }
  return out;
}
function statusText(s) {
  if (!s) return "$(circle-slash) cshare";
  const icon = s.connection === "online" ? "$(broadcast)" : s.connection === "reconnecting" ? "$(sync~spin)" : "$(debug-disconnect)";
  const role = s.role === "sharer" ? "sharing" : "joined";
  const peers = `${s.peers} peer${s.peers === 1 ? "" : "s"}`;
  return `${icon} cshare: ${role}${s.readOnly ? " (read-only)" : ""} \xB7 ${peers}${s.connection === "online" ? "" : ` \xB7 ${s.connection ?? "offline"}`}`;
}

// editors/vscode/src/decorations.ts
var PeerDecorations = class {
  types = /* @__PURE__ */ new Map();
  /** What is drawn now: document path -> the marks of each peer there. */
  shown = /* @__PURE__ */ new Map();
  typesOf(m) {
    const had = this.types.get(m.id);
    if (had && had.color === m.color && had.name === m.name) return had;
    if (had) {
      disposeAll(had);
    }
    const t = {
      color: m.color,
      name: m.name,
      cursor: cursorType(m, "translateY(-95%)"),
      cursorTop: cursorType(m, "translateY(95%)"),
      selection: vscode.window.createTextEditorDecorationType({ backgroundColor: `${m.color}55`, borderRadius: "2px" })
    };
    this.types.set(m.id, t);
    return t;
  }
  /**
   * Draws peers in the visible editors; `lookup` says which shared document an editor shows
   * and who the peers of its worktree are.
   */
  update(lookup) {
    this.shown.clear();
    const present = /* @__PURE__ */ new Set();
    const known = /* @__PURE__ */ new Set();
    for (const editor of vscode.window.visibleTextEditors) {
      const at = lookup(editor.document);
      const path = at?.path;
      for (const p of at?.peers ?? []) known.add(p.id);
      const marks = at ? marksIn(at.peers, at.path) : [];
      if (path && marks.length > 0) this.shown.set(path, marks);
      const drawn = /* @__PURE__ */ new Set();
      for (const m of marks) {
        const t = this.typesOf(m);
        present.add(m.id);
        drawn.add(m.id);
        const at2 = (c) => new vscode.Range(c.line, c.character, c.line, c.character);
        editor.setDecorations(t.cursor, m.cursors.filter((c) => c.line > 0).map(at2));
        editor.setDecorations(t.cursorTop, m.cursors.filter((c) => c.line === 0).map(at2));
        editor.setDecorations(t.selection, m.selections.map((s) => new vscode.Range(s.start.line, s.start.character, s.end.line, s.end.character)));
      }
      for (const [id, t] of this.types) {
        if (drawn.has(id)) continue;
        editor.setDecorations(t.cursor, []);
        editor.setDecorations(t.cursorTop, []);
        editor.setDecorations(t.selection, []);
      }
    }
    for (const [id, t] of this.types) {
      if (present.has(id) || known.has(id)) continue;
      disposeAll(t);
      this.types.delete(id);
    }
  }
  dispose() {
    for (const t of this.types.values()) disposeAll(t);
    this.types.clear();
  }
};
function disposeAll(t) {
  t.cursor.dispose();
  t.cursorTop.dispose();
  t.selection.dispose();
}
function cursorType(m, shift) {
  return vscode.window.createTextEditorDecorationType({
    rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
    before: {
      contentText: "",
      textDecoration: `none; position: absolute; display: inline-block; width: 2px; height: 1.3em; margin-left: -1px; background-color: ${m.color}; z-index: 9; pointer-events: none`
    },
    after: {
      contentText: m.name,
      color: "#ffffff",
      backgroundColor: m.color,
      fontWeight: "bold",
      textDecoration: `none; position: absolute; display: inline-block; transform: ${shift}; font-size: 0.7em; line-height: 1.3em; padding: 0 3px; border-radius: 2px; z-index: 10; pointer-events: none; white-space: nowrap`
    },
    overviewRulerColor: m.color,
    overviewRulerLane: vscode.OverviewRulerLane.Center
  });
}

// editors/vscode/src/session.ts
var import_node_path2 = require("node:path");
var vscode2 = __toESM(require("vscode"));

// editors/vscode/src/text.ts
function lineStarts(text) {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 13) {
      if (text.charCodeAt(i + 1) === 10) i++;
      starts.push(i + 1);
    } else if (c === 10) {
      starts.push(i + 1);
    }
  }
  return starts;
}
function lineEnd(text, starts, line) {
  let end = line + 1 < starts.length ? starts[line + 1] : text.length;
  if (end > starts[line] && text.charCodeAt(end - 1) === 10) end--;
  if (end > starts[line] && text.charCodeAt(end - 1) === 13) end--;
  return end;
}
function offsetAt(text, pos, starts = lineStarts(text)) {
  if (!Number.isInteger(pos.line) || !Number.isInteger(pos.character) || pos.line < 0 || pos.character < 0) return void 0;
  if (pos.line >= starts.length) return void 0;
  const start = starts[pos.line];
  const offset = start + pos.character;
  return offset <= lineEnd(text, starts, pos.line) ? offset : void 0;
}
function positionAt(text, offset, starts = lineStarts(text)) {
  const at = Math.max(0, Math.min(offset, text.length));
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = lo + hi + 1 >> 1;
    if (starts[mid] <= at) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, character: Math.min(at, lineEnd(text, starts, lo)) - starts[lo] };
}
function applyChanges(text, changes) {
  let out = text;
  for (const c of changes) {
    const starts = lineStarts(out);
    const from = offsetAt(out, c.range.start, starts);
    const to = offsetAt(out, c.range.end, starts);
    if (from === void 0 || to === void 0 || to < from) return void 0;
    out = out.slice(0, from) + c.text + out.slice(to);
  }
  return out;
}
function applyOffsetEdits(text, edits) {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.from - a.from)) out = out.slice(0, e.from) + e.text + out.slice(e.to);
  return out;
}
function diffEdit(before2, after) {
  if (before2 === after) return void 0;
  let p = 0;
  const max = Math.min(before2.length, after.length);
  while (p < max && before2.charCodeAt(p) === after.charCodeAt(p)) p++;
  let s = 0;
  while (s < max - p && before2.charCodeAt(before2.length - 1 - s) === after.charCodeAt(after.length - 1 - s)) s++;
  const splits = (t, i) => i > 0 && i < t.length && (isHigh(t.charCodeAt(i - 1)) && isLow(t.charCodeAt(i)) || t.charCodeAt(i - 1) === 13 && t.charCodeAt(i) === 10);
  while (p > 0 && (splits(before2, p) || splits(after, p))) p--;
  while (s > 0 && (splits(before2, before2.length - s) || splits(after, after.length - s))) s--;
  return { from: p, to: before2.length - s, text: after.slice(p, after.length - s) };
}
var isHigh = (c) => c >= 55296 && c <= 56319;
var isLow = (c) => c >= 56320 && c <= 57343;
function planEdits(text, changes) {
  const result = applyChanges(text, changes);
  if (result === void 0) return void 0;
  const starts = lineStarts(text);
  const edits = [];
  let bound = Infinity;
  for (const c of changes) {
    const from = offsetAt(text, c.range.start, starts);
    const to = offsetAt(text, c.range.end, starts);
    if (from === void 0 || to === void 0 || to > bound || to === bound && edits.length > 0 && from === to) {
      const one = diffEdit(text, result);
      return { edits: one ? [one] : [], result };
    }
    edits.push({ from, to, text: c.text });
    bound = from;
  }
  return { edits, result };
}
function sequentialChanges(changes) {
  return [...changes].sort((a, b) => b.rangeOffset - a.rangeOffset).map((c) => ({ range: c.range, text: c.text }));
}

// editors/vscode/src/docSync.ts
var DocSync = class {
  /** `version` and `text` are what `didOpen` was sent with. */
  constructor(path, version2, text) {
    this.path = path;
    this.known = version2;
    this.text = text;
  }
  path;
  /** The version of this extension's counter the daemon last knew the buffer at. */
  known;
  /** Changes the buffer made that the daemon has not been sent, in order. */
  unsent = [];
  /** Events that arrived while an edit was being applied (sorted out when it ends). */
  held = [];
  applying;
  /** The `document.version` of an applied edit whose change event has not arrived yet. */
  lateEcho;
  /** The buffer's text after the last change event handled (the events' "before" text). */
  text;
  /** The version the daemon knows (after the last change sent or edit applied). */
  get version() {
    return this.known;
  }
  /** Whether changes wait to be sent. */
  get hasUnsent() {
    return this.unsent.length > 0;
  }
  /** Whether an `applyEdit` is being applied. */
  get isApplying() {
    return this.applying !== void 0;
  }
  /**
   * A change event of the document. Returns true when it is the buffer's own change (to be
   * sent: call {@link takeUnsent}); false for the echo of an applied edit or while one is
   * applied (held until {@link endApply}).
   */
  changed(e) {
    if (this.applying) {
      this.held.push(e);
      return false;
    }
    const before2 = this.text;
    this.text = afterOf(e, before2);
    if (this.lateEcho && e.docVersion === this.lateEcho.docVersion) {
      const echo = this.lateEcho;
      this.lateEcho = void 0;
      this.fixUp(echo.expected, this.text);
      return this.unsent.length > 0;
    }
    if (e.changes.length === 0) return false;
    this.unsent.push(...safeChanges(e, before2, this.text));
    return true;
  }
  /** The `didChange` to send now (the next version, every unsent change), or undefined. */
  takeUnsent() {
    if (this.unsent.length === 0 || this.applying) return void 0;
    const changes = this.unsent;
    this.unsent = [];
    this.known++;
    return { version: this.known, changes };
  }
  /**
   * An `applyEdit {version, changes}` for a buffer now holding `text` at `document.version`
   * `docVersion`: what to apply (offset edits on `text`, all relative to it), or why not.
   * The edit is applied only if the buffer is at exactly `version` with nothing unsent (the
   * daemon then sends it again on the newer version). After a plan, call {@link endApply}.
   */
  beginApply(version2, changes, text, docVersion) {
    if (this.applying) return { refused: "busy" };
    if (version2 !== this.known) return { refused: "version" };
    if (this.unsent.length > 0 || this.lateEcho) return { refused: "unsent" };
    const plan = planEdits(text, changes);
    if (!plan) return { refused: "range" };
    this.applying = { before: text, expected: plan.result, ownDocVersion: docVersion + 1 };
    return { edits: plan.edits };
  }
  /**
   * The edit of {@link beginApply} was applied (`ok`) or VS Code refused it (the document
   * changed meanwhile). Returns the answer to the daemon; the held events then become unsent
   * changes (call {@link takeUnsent} after answering). An edit that changed nothing has no
   * change event: `nothingChanged` says so.
   */
  endApply(ok, nothingChanged = false) {
    const a = this.applying;
    if (!a) throw new Error("endApply without beginApply");
    this.applying = void 0;
    const held = this.held;
    this.held = [];
    if (!ok) {
      for (const e of held) this.changed(e);
      return { applied: false };
    }
    this.known++;
    const answer = { applied: true, version: this.known };
    const own = held.findIndex((e) => e.docVersion === a.ownDocVersion);
    if (own >= 0) {
      const [echo] = held.splice(own, 1);
      this.text = afterOf(echo, a.before);
      this.fixUp(a.expected, this.text);
    } else if (!nothingChanged) {
      this.lateEcho = { docVersion: a.ownDocVersion, before: a.before, expected: a.expected };
    }
    for (const e of held) this.changed(e);
    return answer;
  }
  /** The last applied edit that left the buffer different from what the daemon expects (for the log). */
  lastFixUp;
  /** The buffer became `actual` where the daemon expects `expected`: the difference is the buffer's own change. */
  fixUp(expected, actual) {
    const d = diffEdit(expected, actual);
    if (!d) return;
    this.lastFixUp = { expected, actual };
    this.unsent.unshift({ range: { start: positionAt(expected, d.from), end: positionAt(expected, d.to) }, text: d.text });
  }
};
var isHigh2 = (c) => c >= 55296 && c <= 56319;
var isLow2 = (c) => c >= 56320 && c <= 57343;
var inPair = (t, i) => i > 0 && i < t.length && isHigh2(t.charCodeAt(i - 1)) && isLow2(t.charCodeAt(i));
function safeChanges(e, before2, after) {
  const splits = applyOffsetEdits(before2, offsetEdits(e)) !== after || e.changes.some((c) => {
    const t = c.text;
    const lone = t.length > 0 && (isLow2(t.charCodeAt(0)) || isHigh2(t.charCodeAt(t.length - 1)));
    return lone || inPair(before2, c.rangeOffset) || inPair(before2, c.rangeOffset + c.rangeLength);
  });
  if (!splits) return sequentialChanges(e.changes);
  const d = diffEdit(before2, after);
  return d ? [{ range: { start: positionAt(before2, d.from), end: positionAt(before2, d.to) }, text: d.text }] : [];
}
function afterOf(e, before2) {
  return e.after ?? applyOffsetEdits(before2, offsetEdits(e));
}
function offsetEdits(e) {
  return e.changes.map((c) => ({ from: c.rangeOffset, to: c.rangeOffset + c.rangeLength, text: c.text }));
}

// editors/vscode/src/link.ts
var import_node_child_process2 = require("node:child_process");
var import_node_fs = require("node:fs");
var import_node_net = require("node:net");
var import_node_path = require("node:path");
async function socketLink(folder, log) {
  let path;
  try {
    path = JSON.parse((0, import_node_fs.readFileSync)((0, import_node_path.join)(folder, ".cshare", "control.path"), "utf8")).editor;
  } catch (e) {
    if (e.code !== "ENOENT") log(`announcement: ${e.message}`);
    return void 0;
  }
  if (typeof path !== "string") return void 0;
  const sock = await new Promise((resolve) => {
    const s = (0, import_node_net.connect)(path);
    const failed = (e) => {
      log(`editor socket ${path}: ${e.message}`);
      resolve(void 0);
    };
    s.once("error", failed);
    s.once("connect", () => {
      s.off("error", failed);
      resolve(s);
    });
  });
  if (!sock) return void 0;
  const ended = new Promise((resolve) => sock.once("close", () => resolve(null)));
  sock.on("error", (e) => log(`editor socket: ${e.message}`));
  return { via: "socket", out: sock, input: sock, ended, why: () => "the connection to cshare closed", kill: () => sock.destroy() };
}
function bridgeLink(command, folder, log) {
  const child = (0, import_node_child_process2.spawn)(command, ["editor"], { cwd: folder, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
  let stderr = "";
  child.stderr.on("data", (d) => stderr = (stderr + d.toString()).slice(-4096));
  const ended = new Promise((resolve) => {
    child.on("error", (e) => {
      stderr += e.message;
      resolve(null);
    });
    child.on("exit", (code) => resolve(code));
  });
  child.stdin.on("error", (e) => log(`bridge stdin: ${e.message}`));
  return { via: "bridge", out: child.stdin, input: child.stdout, ended, why: () => stderr.trim().split("\n").pop()?.replace(/^error:\s*/, "") ?? "", kill: () => child.kill() };
}

// editors/vscode/src/rpc.ts
var MAX_BODY = 16 * 1024 * 1024;
var FrameReader = class {
  buf = Buffer.alloc(0);
  /** The complete bodies in what has arrived so far (throws on a malformed header). */
  push(chunk) {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out = [];
    for (; ; ) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.buf.length > 4096) throw new Error("malformed header: no end");
        return out;
      }
      const header = this.buf.subarray(0, end).toString("ascii");
      const m = /(?:^|\r\n)content-length:\s*(\d+)\s*(?:\r\n|$)/i.exec(header);
      if (!m) throw new Error(`malformed header: ${header.slice(0, 100)}`);
      const len = Number(m[1]);
      if (len > MAX_BODY) throw new Error(`body of ${len} bytes is too large`);
      if (this.buf.length < end + 4 + len) return out;
      out.push(this.buf.subarray(end + 4, end + 4 + len));
      this.buf = this.buf.subarray(end + 4 + len);
    }
  }
};
function frame(message) {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r
\r
`, "ascii"), body]);
}
var RpcError = class extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
  code;
  data;
};
var RpcConnection = class {
  constructor(out, input, handlers) {
    this.out = out;
    this.handlers = handlers;
    input.on("data", (chunk) => {
      let bodies;
      try {
        bodies = this.reader.push(chunk);
      } catch (e) {
        this.close(e);
        return;
      }
      for (const body of bodies) this.received(body);
    });
    input.on("end", () => this.close(new Error("the connection to cshare ended")));
    input.on("close", () => this.close(new Error("the connection to cshare closed")));
    out.on("error", (e) => this.close(e));
  }
  out;
  handlers;
  nextId = 1;
  pending = /* @__PURE__ */ new Map();
  reader = new FrameReader();
  closedWith;
  /** Sends a request and resolves with its result (rejects with {@link RpcError}). */
  request(method, params) {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.out.write(frame({ jsonrpc: "2.0", id, method, params }));
    });
  }
  /** Sends a notification. */
  notify(method, params) {
    if (this.closedWith) return;
    this.out.write(frame({ jsonrpc: "2.0", method, params }));
  }
  /** Whether the connection is closed. */
  get closed() {
    return this.closedWith !== void 0;
  }
  received(body) {
    let m;
    try {
      m = JSON.parse(body.toString("utf8"));
    } catch (e) {
      this.close(new Error(`unparsable message from cshare: ${e.message}`));
      return;
    }
    if (m.method !== void 0 && m.id !== void 0) {
      const id = m.id;
      this.handlers.request(m.method, m.params).then(
        (result) => this.write({ jsonrpc: "2.0", id, result: result ?? {} }),
        (e) => this.write({ jsonrpc: "2.0", id, error: { code: e instanceof RpcError ? e.code : -32603, message: e.message } })
      );
      return;
    }
    if (m.method !== void 0) {
      this.handlers.notification(m.method, m.params);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error) p.reject(new RpcError(m.error.code, m.error.message, m.error.data));
    else p.resolve(m.result);
  }
  write(message) {
    if (!this.closedWith) this.out.write(frame(message));
  }
  /** Closes: every waiting request rejects with `why`. */
  close(why = new Error("closed")) {
    if (this.closedWith) return;
    this.closedWith = why;
    for (const p of this.pending.values()) p.reject(why);
    this.pending.clear();
    this.handlers.closed(why);
  }
};

// editors/vscode/src/session.ts
var Session = class {
  constructor(folder, command, events) {
    this.folder = folder;
    this.command = command;
    this.events = events;
  }
  folder;
  command;
  events;
  info;
  status;
  peers = [];
  /** Open documents by their path relative to the root. */
  docs = /* @__PURE__ */ new Map();
  rpc;
  link;
  subscriptions = [];
  cursorTimer;
  disposed = false;
  toldReadOnly = false;
  connecting;
  /**
   * Wall-clock ms (sub-ms, comparable across processes) of the last change event of a shared
   * document and of the last didChange written: the stages of bench/vscode.ts.
   */
  timings = { changeAt: 0, sentAt: 0 };
  open_ = 0;
  /** Whether the connection is up and initialized. */
  get connected() {
    return this.info !== void 0 && this.rpc !== void 0 && !this.rpc.closed;
  }
  /**
   * Connects to the daemon serving the folder (its announced socket, else `cshare editor` in
   * the folder) and initializes. Resolves false when nothing serves the folder (the bridge
   * exits 18, NOT_SHARING) or it failed (the CLI's message is told).
   */
  async connect() {
    if (this.connected || this.disposed) return this.connected;
    this.connecting ??= this.attempt().finally(() => this.connecting = void 0);
    return this.connecting;
  }
  /** Connections to the daemon open now (the test hook reports it: one per connected folder). */
  get connectionsOpen() {
    return this.open_;
  }
  /** How the connection reaches the daemon (undefined: not connected). */
  get via() {
    return this.connected ? this.link?.via : void 0;
  }
  async attempt() {
    const link = await socketLink(this.folder.fsPath, (m) => this.events.log(m)) ?? bridgeLink(this.command(), this.folder.fsPath, (m) => this.events.log(m));
    this.open_++;
    void link.ended.then(() => this.open_--);
    const rpc = new RpcConnection(link.out, link.input, {
      request: (method, params) => this.request(method, params),
      notification: (method, params) => this.notification(method, params),
      closed: (why) => this.closed(rpc, why)
    });
    this.rpc = rpc;
    this.link = link;
    const cfg = vscode2.workspace.getConfiguration("cshare");
    const init = rpc.request("initialize", {
      clientName: "vscode",
      clientVersion: vscode2.version,
      positionEncodings: ["utf-16"],
      ...cfg.get("name") ? { name: cfg.get("name") } : {}
    });
    const first = await Promise.race([init.then((r) => ({ r })), link.ended.then((code) => ({ code }))]).catch((e) => ({ error: e }));
    if (!("r" in first)) {
      rpc.close(new Error("no cshare here"));
      this.rpc = void 0;
      this.link = void 0;
      link.kill();
      const code = "code" in first ? first.code : await link.ended;
      if (code !== 18) this.events.error(link.why() || `cshare editor exited with code ${code}`);
      else this.events.log("nothing serves this folder yet");
      return false;
    }
    this.info = first.r;
    this.peers = first.r.peers ?? [];
    this.status = { connection: "online", role: first.r.role, readOnly: first.r.readOnly, peers: this.peers.length };
    this.events.log(`connected to ${first.r.role} of ${first.r.root} as ${first.r.name}`);
    this.subscriptions.push(
      vscode2.workspace.onDidOpenTextDocument((d) => void this.open(d)),
      vscode2.workspace.onDidCloseTextDocument((d) => void this.close(d)),
      vscode2.workspace.onDidChangeTextDocument((e) => this.changed(e)),
      vscode2.workspace.onDidSaveTextDocument((d) => void this.saved(d)),
      vscode2.window.onDidChangeTextEditorSelection((e) => this.selectionChanged(e.textEditor))
    );
    for (const d of vscode2.workspace.textDocuments) void this.open(d);
    this.events.changed(this);
    return true;
  }
  /** The path of `doc` relative to the root (with `/`), or undefined if it is not a file of the folder. */
  pathOf(doc) {
    if (doc.uri.scheme !== "file" || !this.info) return void 0;
    const rel = (0, import_node_path2.relative)(this.info.root, doc.uri.fsPath);
    if (!rel || rel.startsWith("..") || rel.startsWith(`.cshare${import_node_path2.sep}`) || rel.startsWith(`.git${import_node_path2.sep}`)) return void 0;
    return rel.split(import_node_path2.sep).join("/");
  }
  async open(doc) {
    const path = this.pathOf(doc);
    if (!path || !this.rpc || this.docs.has(path)) return;
    const d = { doc, path, sync: void 0, pending: [], flushTimer: void 0 };
    this.docs.set(path, d);
    const text = doc.getText();
    const sync = new DocSync(path, 1, text);
    try {
      const r = await this.rpc.request("didOpen", { path, version: 1, text });
      if (r.state === "unshared") {
        this.docs.delete(path);
        return;
      }
      d.sync = sync;
      for (const e of d.pending.splice(0)) this.feed(d, e);
      this.events.log(`${path}: ${r.state}`);
    } catch (e) {
      this.docs.delete(path);
      this.events.log(`didOpen ${path}: ${e.message}`);
    }
  }
  async close(doc) {
    const path = this.pathOf(doc);
    const d = path ? this.docs.get(path) : void 0;
    if (!d || d.doc !== doc || !this.rpc) return;
    this.flush(d);
    this.docs.delete(d.path);
    await this.rpc.request("didClose", { path: d.path }).catch((e) => this.events.log(`didClose ${d.path}: ${e.message}`));
  }
  changed(e) {
    const path = this.pathOf(e.document);
    const d = path ? this.docs.get(path) : void 0;
    if (!d || d.doc !== e.document) return;
    this.timings.changeAt = wallClock();
    if (e.contentChanges.some((c) => /^[\udc00-\udfff]|[\ud800-\udbff]$/.test(c.text))) {
      this.events.log(`${d.path}: a change of half a surrogate pair (${JSON.stringify(e.contentChanges.map((c) => [c.rangeOffset, c.rangeLength, c.text]))})`);
    }
    const event = {
      docVersion: e.document.version,
      after: e.document.getText(),
      changes: e.contentChanges.map((c) => ({ range: toApi(c.range), rangeOffset: c.rangeOffset, rangeLength: c.rangeLength, text: c.text }))
    };
    if (!d.sync) d.pending.push(event);
    else this.feed(d, event);
  }
  feed(d, e) {
    if (d.sync.changed(e)) this.scheduleFlush(d);
  }
  /**
   * Keystrokes go out at once: the events VS Code delivered in one message in one didChange.
   * setImmediate, not setTimeout(0): a timer waits at least 1 ms, and longer on a loaded
   * machine, for nothing (each change event comes in its own message from the renderer).
   */
  scheduleFlush(d) {
    if (d.flushTimer) return;
    d.flushTimer = setImmediate(() => {
      d.flushTimer = void 0;
      this.flush(d);
    });
  }
  flush(d) {
    const batch = d.sync?.takeUnsent();
    if (!batch || !this.rpc) return;
    this.rpc.request("didChange", { path: d.path, version: batch.version, changes: batch.changes }).catch((e) => {
      this.events.log(`didChange ${d.path}@${batch.version} ${JSON.stringify(batch.changes).slice(0, 2e3)}`);
      this.refused(d, e);
    });
    this.timings.sentAt = wallClock();
  }
  /** The daemon refused a change (a stale version, a bad range): open the document again from the buffer. */
  refused(d, e) {
    this.events.log(`didChange ${d.path} refused: ${e.message}`);
    if (e instanceof RpcError && e.code === -32011 && !this.toldReadOnly) {
      this.toldReadOnly = true;
      this.events.error(`cshare: ${e.message}`);
    }
    if (!this.rpc || this.rpc.closed || this.docs.get(d.path) !== d) return;
    this.docs.delete(d.path);
    void this.rpc.request("didClose", { path: d.path }).then(
      () => this.open(d.doc),
      (err) => this.events.log(`didClose ${d.path}: ${err.message}`)
    );
  }
  async saved(doc) {
    const path = this.pathOf(doc);
    const d = path ? this.docs.get(path) : void 0;
    if (!d?.sync || !this.rpc) return;
    this.flush(d);
    await this.rpc.request("didSave", { path: d.path, version: d.sync.version }).catch((e) => this.events.log(`didSave ${d.path}: ${e.message}`));
  }
  selectionChanged(editor) {
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    this.cursorTimer = setTimeout(() => {
      this.cursorTimer = void 0;
      const path = this.pathOf(editor.document);
      const d = path ? this.docs.get(path) : void 0;
      if (!d?.sync || !this.rpc || d.sync.isApplying) return;
      this.flush(d);
      const selections = editor.selections.map((s) => ({ anchor: { line: s.anchor.line, character: s.anchor.character }, head: { line: s.active.line, character: s.active.character } }));
      this.rpc.notify("cursor", { path: d.path, selections });
    }, 20);
  }
  async request(method, params) {
    if (method !== "applyEdit") throw new RpcError(-32601, `unknown method ${method}`);
    return this.applyEdit(params);
  }
  /** EDITOR-API.md "Versions": applied only at exactly that version with nothing unsent, and never echoed. */
  async applyEdit(p) {
    const d = this.docs.get(p.path);
    if (!d?.sync) return { applied: false };
    const doc = d.doc;
    const plan = d.sync.beginApply(p.version, p.changes, doc.getText(), doc.version);
    if ("refused" in plan) {
      this.events.log(`applyEdit ${p.path}@${p.version} refused: ${plan.refused} (at ${d.sync.version})`);
      return { applied: false };
    }
    let ok = true;
    if (plan.edits.length > 0) {
      const range = (e) => new vscode2.Range(doc.positionAt(e.from), doc.positionAt(e.to));
      const editor = vscode2.window.visibleTextEditors.find((x) => x.document === doc);
      if (editor) {
        ok = await editor.edit((b) => plan.edits.forEach((e) => b.replace(range(e), e.text))).then(
          (r) => r,
          (e) => {
            this.events.log(`applyEdit ${p.path}: ${e.message}`);
            return false;
          }
        );
      } else {
        const edit = new vscode2.WorkspaceEdit();
        for (const e of plan.edits) edit.replace(doc.uri, range(e), e.text);
        ok = await vscode2.workspace.applyEdit(edit).then(
          (r) => r,
          (e) => {
            this.events.log(`applyEdit ${p.path}: ${e.message}`);
            return false;
          }
        );
      }
    }
    const answer = d.sync.endApply(ok, plan.edits.length === 0);
    const fix = d.sync.lastFixUp;
    if (fix) {
      d.sync.lastFixUp = void 0;
      this.events.log(`applyEdit ${p.path}: VS Code made ${JSON.stringify(fix.actual)} of ${JSON.stringify(fix.expected)} (changes ${JSON.stringify(p.changes)}, edits ${JSON.stringify(plan.edits)}); the difference is sent back`);
    }
    setTimeout(() => this.flush(d), 0);
    return answer;
  }
  notification(method, params) {
    if (method === "peers") {
      this.peers = params.peers;
    } else if (method === "status") {
      this.status = params;
    } else if (method === "fileRenamed" || method === "fileDeleted") {
      const path = params.from ?? params.path;
      const d = this.docs.get(path);
      if (d) {
        this.docs.delete(path);
        const to = params.to;
        void vscode2.window.showInformationMessage(to ? `cshare: a peer renamed ${path} to ${to}` : `cshare: a peer deleted ${path}`);
      }
    }
    this.events.changed(this);
  }
  closed(rpc, why) {
    if (this.rpc !== rpc) return;
    this.events.log(`disconnected: ${why.message}`);
    this.rpc = void 0;
    this.info = void 0;
    this.status = void 0;
    this.peers = [];
    for (const d of this.docs.values()) if (d.flushTimer) clearImmediate(d.flushTimer);
    this.docs.clear();
    for (const s of this.subscriptions.splice(0)) s.dispose();
    this.link?.kill();
    this.link = void 0;
    this.events.changed(this);
  }
  /** Ends the connection (the share/join keeps running). */
  disconnect() {
    this.rpc?.close(new Error("disconnected"));
  }
  dispose() {
    this.disposed = true;
    this.disconnect();
  }
};
function wallClock() {
  return performance.timeOrigin + performance.now();
}
function toApi(r) {
  return { start: { line: r.start.line, character: r.start.character }, end: { line: r.end.line, character: r.end.character } };
}

// editors/vscode/src/testHook.ts
var import_node_net2 = require("node:net");
var import_node_fs2 = require("node:fs");
var vscode3 = __toESM(require("vscode"));
function startTestHook(socketPath, api, log) {
  (0, import_node_fs2.rmSync)(socketPath, { force: true });
  const server = (0, import_node_net2.createServer)((sock) => {
    let buf = "";
    sock.on("data", (d) => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const req = JSON.parse(line);
        handle(req, api).then(
          (result) => sock.write(`${JSON.stringify({ id: req.id, result: result ?? null })}
`),
          (e) => sock.write(`${JSON.stringify({ id: req.id, error: e.message })}
`)
        );
      }
    });
    sock.on("error", (e) => log(`test hook: ${e.message}`));
  });
  server.listen(socketPath);
  log(`test hook on ${socketPath}`);
  return { dispose: () => server.close() };
}
async function docOf(api, path) {
  const folder = api.sessions[0]?.folder ?? vscode3.workspace.workspaceFolders?.[0]?.uri;
  if (!folder) throw new Error("no folder");
  return vscode3.workspace.openTextDocument(vscode3.Uri.joinPath(folder, ...path.split("/")));
}
async function handle(req, api) {
  switch (req.op) {
    case "state":
      return {
        following: api.following() ?? null,
        sessions: api.sessions.map((s) => ({
          folder: s.folder.fsPath,
          connected: s.connected,
          connections: s.connectionsOpen,
          via: s.via ?? null,
          info: s.info ?? null,
          status: s.status ?? null,
          peers: s.peers,
          docs: [...s.docs.values()].map((d) => ({ path: d.path, version: d.sync?.version ?? null, unsent: d.sync?.hasUnsent ?? null, applying: d.sync?.isApplying ?? null, docVersion: d.doc.version, text: d.doc.getText(), dirty: d.doc.isDirty }))
        })),
        decorations: Object.fromEntries(api.decorations.shown),
        visible: vscode3.window.visibleTextEditors.map((e) => e.document.uri.fsPath)
      };
    case "log":
      return api.log();
    case "timings":
      return api.sessions[0]?.timings ?? null;
    case "text":
      return (await docOf(api, req.path)).getText();
    case "open": {
      const editor = await vscode3.window.showTextDocument(await docOf(api, req.path), { preview: false });
      return editor.document.version;
    }
    case "edit": {
      const doc = await docOf(api, req.path);
      const edit = new vscode3.WorkspaceEdit();
      edit.replace(doc.uri, new vscode3.Range(doc.positionAt(req.from), doc.positionAt(req.to)), req.text ?? "");
      return vscode3.workspace.applyEdit(edit);
    }
    case "select": {
      const doc = await docOf(api, req.path);
      const editor = await vscode3.window.showTextDocument(doc, { preview: false });
      const a = new vscode3.Position(req.anchor.line, req.anchor.character);
      const h = new vscode3.Position(req.head.line, req.head.character);
      editor.selection = new vscode3.Selection(a, h);
      return true;
    }
    case "save":
      return (await docOf(api, req.path)).save();
    case "command":
      return vscode3.commands.executeCommand(req.command, ...req.args ?? []);
    case "connect":
      await api.connect();
      return api.sessions.map((s) => s.connected);
    default:
      throw new Error(`unknown op ${req.op}`);
  }
}

// editors/vscode/src/extension.ts
var RETRY_MS = 3e3;
function activate(context) {
  const output = vscode4.window.createOutputChannel("cshare");
  const recent = [];
  const log = (m) => {
    const line = `${(/* @__PURE__ */ new Date()).toISOString()} ${m}`;
    output.appendLine(line);
    recent.push(line);
    if (recent.length > 500) recent.shift();
  };
  const error = (m) => {
    log(`error: ${m}`);
    void vscode4.window.showErrorMessage(m.startsWith("cshare") ? m : `cshare: ${m}`);
  };
  const command = () => vscode4.workspace.getConfiguration("cshare").get("path") || "cshare";
  const statusItem = vscode4.window.createStatusBarItem(vscode4.StatusBarAlignment.Left, 100);
  const decorations = new PeerDecorations();
  const sessions = [];
  let owned;
  let following;
  let followedAt = "";
  let retry;
  const sessionOf = (doc) => {
    for (const s of sessions) {
      const path = s.pathOf(doc);
      if (path) return { session: s, path };
    }
    return void 0;
  };
  const refresh = () => {
    const live = sessions.filter((s) => s.connected);
    if (live.length === 0) {
      statusItem.text = statusText(void 0);
      statusItem.tooltip = "cshare: this folder is not shared (cshare: Share this folder, or cshare: Join from code\u2026)";
      statusItem.command = "cshare.share";
    } else {
      const s = live[0];
      statusItem.text = statusText(s.status ? { ...s.status, peers: s.peers.length } : void 0);
      statusItem.tooltip = [`cshare ${s.info?.role} of ${s.info?.root} as ${s.info?.name}`, ...s.peers.map((p) => `${p.name} (${p.role ?? "peer"})${p.path ? ` in ${p.path}` : ""}`)].join("\n");
      statusItem.command = "cshare.followPeer";
    }
    statusItem.show();
    decorations.update((doc) => {
      const at = sessionOf(doc);
      return at && at.session.connected ? { path: at.path, peers: at.session.peers } : void 0;
    });
    if (following) void follow();
  };
  const follow = async () => {
    for (const s of sessions) {
      const p = s.peers.find((x) => x.id === following);
      if (!p) continue;
      const head = p.selections?.[0]?.head;
      if (!p.path) return;
      const at = `${p.path}:${head ? `${head.line}:${head.character}` : ""}`;
      if (at === followedAt) return;
      followedAt = at;
      const doc = await vscode4.workspace.openTextDocument(vscode4.Uri.joinPath(s.folder, ...p.path.split("/")));
      const editor = await vscode4.window.showTextDocument(doc, { preview: false, preserveFocus: false });
      if (head) {
        const pos = new vscode4.Position(head.line, head.character);
        editor.revealRange(new vscode4.Range(pos, pos), vscode4.TextEditorRevealType.InCenterIfOutsideViewport);
      }
      return;
    }
    following = void 0;
    followedAt = "";
  };
  const connect2 = async () => {
    if (retry) clearTimeout(retry);
    retry = void 0;
    for (const f of vscode4.workspace.workspaceFolders ?? []) {
      if (!sessions.some((s) => s.folder.toString() === f.uri.toString())) {
        sessions.push(new Session(f.uri, command, { changed: refresh, error, log }));
      }
    }
    await Promise.all(sessions.map((s) => s.connect()));
    refresh();
    if (sessions.some((s) => !s.connected)) retry = setTimeout(() => void connect2(), RETRY_MS);
  };
  const folderOrAsk = async () => {
    const folders = vscode4.workspace.workspaceFolders ?? [];
    if (folders.length === 1) return folders[0].uri;
    if (folders.length === 0) {
      void vscode4.window.showWarningMessage("cshare: open a folder to share first");
      return void 0;
    }
    return (await vscode4.window.showWorkspaceFolderPick({ placeHolder: "Folder to share" }))?.uri;
  };
  const own = (proc, folder) => {
    owned = { proc, folder };
    void proc.ended.then((r) => {
      if (owned?.proc === proc) owned = void 0;
      if (r.message) error(r.message);
      for (const s of sessions) if (s.folder.toString() === folder.toString()) s.disconnect();
      void connect2();
    });
  };
  context.subscriptions.push(
    output,
    statusItem,
    decorations,
    { dispose: () => retry && clearTimeout(retry) },
    { dispose: () => sessions.forEach((s) => s.dispose()) },
    vscode4.window.onDidChangeVisibleTextEditors(refresh),
    vscode4.workspace.onDidChangeWorkspaceFolders(() => void connect2()),
    vscode4.commands.registerCommand("cshare.share", async (extraArgs) => {
      const folder = await folderOrAsk();
      if (!folder) return void 0;
      const args = ["share", ...extraArgs ?? vscode4.workspace.getConfiguration("cshare").get("shareArgs") ?? []];
      try {
        const { proc, line } = await startCli({ command: command(), args, cwd: folder.fsPath, ready: (l) => l.event === "sharing", onLine: (l) => l.event === "error" && log(`share: ${String(l.message)}`) });
        own(proc, folder);
        const codes = line.codes;
        await connect2();
        void vscode4.window.showInformationMessage(`cshare: sharing ${folder.fsPath}. Join code: ${codes.readWrite}`, "Copy join code", "Copy read-only code").then((pick) => {
          if (pick) void vscode4.env.clipboard.writeText(pick === "Copy join code" ? codes.readWrite : codes.readOnly);
        });
        return codes;
      } catch (e) {
        error(e.message);
        return void 0;
      }
    }),
    vscode4.commands.registerCommand("cshare.join", async (code, dir) => {
      const joinCode = code ?? await vscode4.window.showInputBox({ prompt: "cshare join code", placeHolder: "the code `cshare share` printed", ignoreFocusOut: true });
      if (!joinCode) return void 0;
      let target = dir;
      if (!target) {
        const picked = await vscode4.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, openLabel: "Join into this folder", title: "cshare: folder to join into (empty or new)" });
        target = picked?.[0]?.fsPath;
      }
      if (!target) return void 0;
      try {
        const { proc } = await startCli({ command: command(), args: ["join", joinCode.trim(), target], cwd: target.replace(/[/\\][^/\\]*$/, "") || "/", ready: (l) => l.event === "joined", detached: true });
        own(proc, vscode4.Uri.file(target));
        const open = (vscode4.workspace.workspaceFolders ?? []).some((f) => f.uri.fsPath === target);
        if (open) await connect2();
        else await vscode4.commands.executeCommand("vscode.openFolder", vscode4.Uri.file(target), { forceNewWindow: false });
        return target;
      } catch (e) {
        error(e.message);
        return void 0;
      }
    }),
    vscode4.commands.registerCommand("cshare.followPeer", async (peerId) => {
      const peers = sessions.flatMap((s) => s.peers);
      if (peerId === void 0) {
        const items = [...peers.map((p) => ({ label: p.name, description: p.path ?? "(no file open)", id: p.id })), ...following ? [{ label: "Stop following", description: "", id: void 0 }] : []];
        if (items.length === 0) {
          void vscode4.window.showInformationMessage("cshare: no peer is here");
          return void 0;
        }
        const pick = await vscode4.window.showQuickPick(items, { placeHolder: "Follow which peer?" });
        if (!pick) return following;
        peerId = pick.id ?? "";
      }
      following = peerId || void 0;
      followedAt = "";
      refresh();
      return following;
    }),
    vscode4.commands.registerCommand("cshare.stop", async () => {
      following = void 0;
      if (owned) {
        const { proc } = owned;
        proc.stop();
        await proc.ended;
        return;
      }
      const folder = sessions.find((s) => s.connected)?.folder;
      if (!folder) return;
      const r = await runCli({ command: command(), args: ["unshare"], cwd: folder.fsPath });
      if (r.message) error(r.message);
    })
  );
  for (const f of vscode4.workspace.workspaceFolders ?? []) {
    const watcher = vscode4.workspace.createFileSystemWatcher(new vscode4.RelativePattern(f, ".cshare/*"));
    watcher.onDidCreate(() => void connect2());
    context.subscriptions.push(watcher);
  }
  const api = { sessions, decorations, following: () => following, connect: connect2, log: () => recent };
  if (process.env.CSHARE_VSCODE_TEST_SOCKET) context.subscriptions.push(startTestHook(process.env.CSHARE_VSCODE_TEST_SOCKET, api, log));
  void connect2();
  return api;
}
function deactivate() {
}
// Annotate the CommonJS export names for ESM import in node:
0 && (module.exports = {
  activate,
  deactivate
});
//# sourceMappingURL=extension.js.map
