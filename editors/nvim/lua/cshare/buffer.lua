-- One attached buffer: its changes go out as didChange (from on_bytes, batched per tick),
-- remote edits come in as applyEdit (EDITOR-API.md "Versions"), saves and closes are reported.
local util = require('cshare.util')
local diff = require('cshare.diff')
local doctext = require('cshare.text')
local apply = require('cshare.apply')
local trace = require('cshare.trace')
local rpc = require('cshare.rpc')

local api = vim.api

local M = {}

--- Compares the whole buffer with the plugin's copy after every change (tests set it).
M.verify = false

local is_empty = doctext.is_empty
--- The document text of buffer lines and 'eol' (see text.lua; tests read buffers with these).
M.text_of = doctext.text_of
M.buffer_text = doctext.buffer_text

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
    -- The buffer's 'eol' at sent_version: whether the daemon's text ends with a line break.
    eol = true,
    dirty = nil,
    flush_scheduled = false,
    sent_version = nil,
    -- Set while this plugin changes the buffer itself, so that its own edit is not echoed.
    applying = false,
    -- A look at the disk is scheduled after a remote edit (see _unmodify_if_on_disk).
    disk_check = false,
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
  self.eol = vim.bo[self.buf].eol
  local text = util.to_doc(M.text_of(self.shadow, self.eol), self.crlf)
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
  trace.mark('nvim-on_bytes')
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
  local eol_old, eol_new = self.eol, vim.bo[self.buf].eol
  local lo, suf = d.lo, d.suf
  if lo > n_old - suf or lo > n_new - suf or d.n ~= n_new then
    -- The bounds do not add up (a change on_bytes did not describe): compare everything.
    lo, suf = 0, 0
  end
  local old_empty = is_empty(self.shadow)
  local new_empty = n_new == 1 and api.nvim_buf_get_lines(self.buf, 0, 1, false)[1] == ''
  local a, b, changes
  if old_empty or new_empty or ((suf == 0 or eol_old ~= eol_new) and not (eol_old and eol_new)) then
    -- The region reaches the end of a text that is empty or has no final line break (then
    -- the last line is not followed by "\n", and on_bytes does not report a change of 'eol'):
    -- compare the text from the region's first line to the end, byte by byte.
    lo = (old_empty or new_empty) and 0 or math.min(lo, n_old - 1, n_new - 1)
    suf = 0
    a = vim.list_slice(self.shadow, lo + 1, n_old)
    b = api.nvim_buf_get_lines(self.buf, lo, n_new, false)
    local old = old_empty and '' or (table.concat(a, '\n') .. (eol_old and '\n' or ''))
    local new = new_empty and '' or (table.concat(b, '\n') .. (eol_new and '\n' or ''))
    local c = diff.text_change(old, new, lo)
    changes = c and { c } or {}
  else
    a = vim.list_slice(self.shadow, lo + 1, n_old - suf)
    b = api.nvim_buf_get_lines(self.buf, lo, n_new - suf, false)
    changes = diff.changes(a, b, lo)
  end
  -- Splice the new lines into the copy.
  local shadow = vim.list_slice(self.shadow, 1, lo)
  vim.list_extend(shadow, b)
  vim.list_extend(shadow, self.shadow, n_old - suf + 1, n_old)
  self.shadow = shadow
  self.eol = eol_new
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
  -- `:set noeol` changes the text without an on_bytes or a new changedtick: it goes with the
  -- next change (the end of the text is compared whenever 'eol' moved), or by the disk on save.
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
  trace.mark('nvim-didChange-sent')
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
  trace.mark('nvim-applyEdit-in')
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
      apply.change(self.buf, change, self.crlf)
    end
    apply.tidy_end(self.buf)
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
  self:_unmodify_if_on_disk()
  trace.mark('nvim-applyEdit-done')
  return { applied = true, version = self.sent_version }
end

--- A remote edit makes the buffer 'modified', and `:q` asks. When the file on disk holds
--- exactly the buffer's text (the edit came from this disk: another program saved it and the
--- daemon passed it on; or edits brought the text back to the saved one), nothing is unsaved,
--- so the buffer is not modified, as Teamtype and Zed show it. Otherwise it stays modified: the
--- disk lacks the edit until a write (or until the buffer closes: cshare writes the merged text
--- then, so `:q!` loses nothing). Looked at after the applyEdit is answered, once per tick.
function Doc:_unmodify_if_on_disk()
  if self.disk_check or not vim.bo[self.buf].modified then
    return
  end
  self.disk_check = true
  vim.schedule(util.guard('comparing a buffer with its file', function()
    self.disk_check = false
    local buf = self.buf
    if self.detached or not api.nvim_buf_is_valid(buf) or not vim.bo[buf].modified then
      return
    end
    if doctext.disk_has(buf, api.nvim_buf_get_name(buf)) then
      vim.bo[buf].modified = false
    end
  end))
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
  -- With 'fixeol' a buffer without 'eol' (a file read without a final line break) is written
  -- with one: the daemon finds that line break on disk, not in the saved text, and records it
  -- like a plain editor's save (liveDocs diskChange), which brings it back here as an applyEdit.
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
