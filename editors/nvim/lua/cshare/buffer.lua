-- One attached buffer: its changes go out as didChange (from on_bytes, batched per tick),
-- remote edits come in as applyEdit (EDITOR-API.md "Versions"), saves and closes are reported.
local util = require('cshare.util')
local diff = require('cshare.diff')
local rpc = require('cshare.rpc')

local api = vim.api

local M = {}

--- Compares the whole buffer with the plugin's copy after every change (tests set it).
M.verify = false

--- Whether `lines` is Neovim's empty buffer (one empty line), which is the empty text.
local function is_empty(lines)
  return #lines == 1 and lines[1] == ''
end

--- The document text of buffer lines: every line followed by "\n", and '' for an empty buffer
--- (Neovim writes one empty line as a 0-byte file).
function M.text_of(lines)
  if #lines == 0 or is_empty(lines) then
    return ''
  end
  return table.concat(lines, '\n') .. '\n'
end

local Doc = {}
Doc.__index = Doc

--- Attaches `buf` (document `path` of `session`) and sends its didOpen.
function M.attach(session, buf, path)
  local self = setmetatable({
    session = session,
    buf = buf,
    path = path,
    crlf = vim.bo[buf].fileformat == 'dos',
    -- The buffer's lines at sent_version (what the daemon knows), and the region on_bytes saw
    -- change since ({lo, suf, n}), or nil when nothing is unsent.
    shadow = {},
    dirty = nil,
    flush_scheduled = false,
    sent_version = nil,
    -- Set while this plugin changes the buffer itself, so that its own edit is not echoed.
    applying = false,
    detached = false,
    -- applyEdits refused (a change was unsent, or the version moved on): for :CshareStatus.
    refused = 0,
    state = 'opening',
  }, Doc)
  local ok = api.nvim_buf_attach(buf, false, {
    on_bytes = function(...)
      return self:_on_bytes(...)
    end,
    on_reload = function()
      -- `:e!` replaced the text without on_bytes: the daemon gets the whole text again.
      vim.schedule(util.guard('reloading a buffer', function()
        self:open()
      end))
    end,
    on_detach = function()
      self.detached = true
    end,
  })
  if not ok then
    return nil
  end
  self:open()
  return self
end

--- (Re)sends the whole buffer as didOpen: on attach, on reload, and when the daemon asks for a
--- resync. Changes not sent yet are part of that text, so they are dropped.
function Doc:open()
  if self.detached then
    return
  end
  self.dirty = nil
  self.crlf = vim.bo[self.buf].fileformat == 'dos'
  local version = api.nvim_buf_get_changedtick(self.buf)
  self.sent_version = version
  self.shadow = api.nvim_buf_get_lines(self.buf, 0, -1, false)
  local text = util.to_doc(M.text_of(self.shadow), self.crlf)
  self.session:request('didOpen', { path = self.path, version = version, text = text }, function(err, result)
    if err then
      self:_failed('didOpen', err)
      return
    end
    self.state = result and result.state or 'live'
    local info = self.session.info
    if info and info.readOnly and self.state == 'live' and api.nvim_buf_is_valid(self.buf) then
      -- A read-only join takes no edits: say so in the buffer rather than refuse each one.
      vim.bo[self.buf].modifiable = false
    end
    if self.state ~= 'unshared' and self.session.opts.on_opened then
      self.session.opts.on_opened(self)
    end
    if self.state == 'unshared' then
      self.session.unshared[self.path] = true
      self.session:forget(self)
    end
  end)
end

function Doc:_on_bytes(_, _, _, sr, _, _, oer, _, _, ner, _, _)
  if self.detached then
    return true
  end
  local d = self.dirty
  if not d then
    d = { lo = sr, suf = math.huge, n = #self.shadow }
    self.dirty = d
  end
  -- Rows above the lowest start and below the highest old end (counted from the end, which
  -- changes above do not move) are untouched; `n` follows the line count change by change.
  d.lo = math.min(d.lo, sr)
  d.suf = math.min(d.suf, math.max(0, d.n - 1 - (sr + oer)))
  d.n = d.n + ner - oer
  if self.applying or self.flush_scheduled then
    return
  end
  self.flush_scheduled = true
  -- Every on_bytes of this tick (a `:s` over many lines, a paste) is in before it runs.
  vim.schedule(function()
    self.flush_scheduled = false
    util.guard('sending a change', function()
      self:flush()
    end)()
  end)
end

--- Brings the plugin's copy of the lines up to the buffer over the region that changed and
--- returns the changes between them (in the daemon's line breaks).
function Doc:_take_changes()
  local d = self.dirty
  self.dirty = nil
  if not d then
    return {}
  end
  local n_old, n_new = #self.shadow, api.nvim_buf_line_count(self.buf)
  local lo, suf = d.lo, d.suf
  if lo > n_old - suf or lo > n_new - suf or d.n ~= n_new then
    -- The bounds do not add up (a change on_bytes did not describe): compare everything.
    lo, suf = 0, 0
  end
  local a = vim.list_slice(self.shadow, lo + 1, n_old - suf)
  local b = api.nvim_buf_get_lines(self.buf, lo, n_new - suf, false)
  local changes
  local new_empty = n_new == 1 and api.nvim_buf_get_lines(self.buf, 0, 1, false)[1] == ''
  if is_empty(self.shadow) or new_empty then
    -- To or from the empty text (one empty line is a 0-byte file, not "\n"): the whole text.
    local old_end = is_empty(self.shadow) and { line = 0, character = 0 } or { line = n_old, character = 0 }
    lo, suf = 0, 0
    b = api.nvim_buf_get_lines(self.buf, 0, -1, false)
    changes = { { range = { start = { line = 0, character = 0 }, ['end'] = old_end }, text = M.text_of(b) } }
    if changes[1].text == '' and old_end.line == 0 then
      changes = {}
    end
  else
    changes = diff.changes(a, b, lo)
  end
  -- Splice the new lines into the copy.
  local shadow = vim.list_slice(self.shadow, 1, lo)
  vim.list_extend(shadow, b)
  vim.list_extend(shadow, self.shadow, n_old - suf + 1, n_old)
  self.shadow = shadow
  if M.verify then
    local all = api.nvim_buf_get_lines(self.buf, 0, -1, false)
    if not vim.deep_equal(all, shadow) then
      error('the copy of ' .. self.path .. ' drifted from the buffer')
    end
  end
  for _, c in ipairs(changes) do
    c.text = util.to_doc(c.text, self.crlf)
  end
  return changes
end

--- Sends the changes not sent yet as one didChange at the buffer's current changedtick.
function Doc:flush()
  if not self.dirty or self.detached then
    return
  end
  local ok, changes = pcall(self._take_changes, self)
  if not ok then
    util.notify_once('tracking ' .. self.path .. ': ' .. tostring(changes), vim.log.levels.ERROR)
    self:open()
    return
  end
  if #changes == 0 then
    -- Back to the text the daemon knows (typed and deleted within the tick): still at its
    -- version, so an applyEdit at that version still applies.
    return
  end
  local version = api.nvim_buf_get_changedtick(self.buf)
  self.sent_version = version
  self.session:request('didChange', { path = self.path, version = version, changes = changes }, function(err)
    if err then
      self:_failed('didChange', err)
    end
  end)
end

function Doc:_failed(what, err)
  if err.code == rpc.GONE then
    return -- the bridge exited: the session says why, once
  end
  local data = type(err.data) == 'table' and err.data or {}
  if data.code == 'FORBIDDEN' then
    -- A read-only join: say it once; the resync below brings the shared text back.
    util.notify_once(tostring(err.message), vim.log.levels.WARN)
  end
  if data.resync then
    -- The daemon lost track of this buffer (a stale version, a change it refused): it takes
    -- the whole text again rather than leaving the two apart.
    self:open()
    return
  end
  util.notify_once(string.format('%s of %s: %s', what, self.path, tostring(err.message)), vim.log.levels.WARN)
end

--- Answers the daemon's applyEdit: applies it only at exactly the version the daemon knows
--- and with no change unsent, without echoing it back, and reports the new changedtick.
function Doc:apply_edit(params)
  if self.detached or self.dirty or params.version ~= self.sent_version then
    self.refused = self.refused + 1
    return { applied = false }
  end
  self.applying = true
  -- A read-only join's buffer is not modifiable by the user, but takes the shared edits.
  local modifiable = vim.bo[self.buf].modifiable
  vim.bo[self.buf].modifiable = true
  local ok, err = pcall(function()
    for _, change in ipairs(params.changes or {}) do
      self:_apply_change(change)
    end
  end)
  vim.bo[self.buf].modifiable = modifiable
  self.applying = false
  if ok then
    -- The copy takes the applied edit without sending it (no echo).
    ok, err = pcall(self._take_changes, self)
  end
  if not ok then
    -- The buffer may hold part of the edit: the daemon takes the whole text again.
    util.notify_once('applying a remote edit to ' .. self.path .. ': ' .. tostring(err), vim.log.levels.ERROR, 'apply ' .. self.path)
    self:open()
    return { applied = false }
  end
  self.sent_version = api.nvim_buf_get_changedtick(self.buf)
  -- A waiting path turns live when its file arrives, and the daemon's first applyEdit says so.
  self.state = 'live'
  return { applied = true, version = self.sent_version }
end

function Doc:_apply_change(change)
  local n = api.nvim_buf_line_count(self.buf)
  local s, e = change.range.start, change.range['end']
  local sr, sc, er, ec = s.line, s.character, e.line, e.character
  local text = util.from_doc(change.text or '', self.crlf)
  if n == 1 and api.nvim_buf_get_lines(self.buf, 0, 1, false)[1] == '' then
    -- The empty text: the only position is (0, 0) and the change's text is the whole text.
    if sr ~= 0 or sc ~= 0 or er ~= 0 or ec ~= 0 then
      error('a range outside the empty text')
    end
    if text ~= '' then
      api.nvim_buf_set_lines(self.buf, 0, 1, false, util.split_lines(text:sub(-1) == '\n' and text:sub(1, -2) or text))
    end
    return
  end
  -- (line_count, 0) is the end of the text, after the last line's "\n", which Neovim keeps
  -- implicit: such a change replaces whole lines, from its start's line to the last one.
  if er >= n then
    local head = sr < n and api.nvim_buf_get_lines(self.buf, sr, sr + 1, false)[1]:sub(1, sc) or ''
    local tail = head .. text
    if tail:sub(-1) == '\n' then
      tail = tail:sub(1, -2)
    elseif tail == '' then
      api.nvim_buf_set_lines(self.buf, math.min(sr, n), n, false, {})
      return
    end
    api.nvim_buf_set_lines(self.buf, math.min(sr, n), n, false, util.split_lines(tail))
    return
  end
  -- A position inside a UTF-8 character would leave invalid bytes in the buffer.
  local function inside_char(row, col)
    local b = (api.nvim_buf_get_lines(self.buf, row, row + 1, false)[1] or ''):byte(col + 1)
    return b ~= nil and b >= 0x80 and b < 0xC0
  end
  local ok, err = true, nil
  if inside_char(sr, sc) or inside_char(er, ec) then
    ok, err = false, 'a position inside a character'
  else
    ok, err = pcall(api.nvim_buf_set_text, self.buf, sr, sc, er, ec, util.split_lines(text))
  end
  if not ok then
    -- Say where: a position past a line's end is the daemon's, a bug to report with this.
    local lens = {}
    for _, l in ipairs(api.nvim_buf_get_lines(self.buf, sr, math.min(er + 1, n), false)) do
      table.insert(lens, #l)
    end
    error(string.format('%s: (%d,%d)-(%d,%d) over lines of %s bytes', err, sr, sc, er, ec, table.concat(lens, ',')), 0)
  end
end

--- The buffer was written: the daemon learns which version the disk has now.
function Doc:saved()
  if self.detached then
    return
  end
  if (vim.bo[self.buf].fileformat == 'dos') ~= self.crlf then
    -- `:set ff=...` then `:w` changed every line break without a change the daemon saw.
    self:open()
  end
  self:flush()
  self.session:request('didSave', { path = self.path, version = self.sent_version }, function(err)
    if err then
      self:_failed('didSave', err)
    end
  end)
end

--- The buffer is closed or renamed: stop following it and tell the daemon.
function Doc:close()
  if self.detached then
    return
  end
  self:flush()
  self.detached = true
  self.session:request('didClose', { path = self.path }, function(err)
    if err then
      util.notify_once(string.format('didClose of %s: %s', self.path, tostring(err.message)))
    end
  end)
end

return M
