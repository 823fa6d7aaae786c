-- One connection per worktree: the `cshare editor` bridge started in the worktree's root, the
-- documents (buffers) attached through it, and what the daemon said about peers and status.
local util = require('cshare.util')
local rpc = require('cshare.rpc')
local buffer = require('cshare.buffer')

local M = {}

local Session = {}
Session.__index = Session

--- The editor socket the share/join running in `root` announces in `.cshare/control.path`
--- (JSON, its `editor` field), when that socket exists; nil otherwise (then the bridge finds it,
--- or says that nothing runs there).
function M.announced_socket(root)
  local f = io.open(root .. '/.cshare/control.path', 'r')
  if not f then
    return nil
  end
  local text = f:read('*a')
  f:close()
  local ok, a = pcall(vim.json.decode, text)
  if not ok or type(a) ~= 'table' or type(a.editor) ~= 'string' then
    return nil
  end
  local st = (vim.uv or vim.loop).fs_stat(a.editor)
  return st and st.type == 'socket' and a.editor or nil
end

--- Starts the connection for `root` (straight to its editor socket, else through the bridge
--- `opts.cmd`) and sends initialize; requests made before its answer wait.
--- `opts`: {cmd, direct, name, on_peers(session), on_gone(session), on_opened(doc)}.
function M.start(root, opts)
  local self = setmetatable({
    root = root,
    opts = opts,
    docs = {}, -- path -> Doc
    by_buf = {}, -- bufnr -> Doc
    unshared = {}, -- path -> true: paths the daemon does not follow
    queue = {},
    ready = false,
    info = nil, -- initialize's result
    peers = {},
    status = nil,
  }, Session)
  local socket = opts.direct ~= false and M.announced_socket(root) or nil
  local client, err = (socket and rpc.connect or rpc.start)({
    path = socket,
    cmd = opts.cmd,
    cwd = root,
    on_request = function(method, params, reply)
      self:_on_request(method, params, reply)
    end,
    on_notification = function(method, params)
      self:_on_notification(method, params)
    end,
    on_exit = function(code, signal, stderr)
      self:_gone(code, signal, stderr)
    end,
  })
  if not client then
    util.notify_once(err, vim.log.levels.ERROR)
    return nil
  end
  self.client = client
  client:request('initialize', {
    clientName = 'neovim',
    clientVersion = tostring(vim.version().major) .. '.' .. tostring(vim.version().minor) .. '.' .. tostring(vim.version().patch),
    positionEncodings = { 'utf-8' },
    name = opts.name,
  }, function(e, result)
    if e and e.code == rpc.GONE then
      return -- the bridge exited: _gone says why, once
    end
    if e then
      util.notify_once('initialize in ' .. root .. ': ' .. tostring(e.message), vim.log.levels.ERROR)
      client:stop()
      return
    end
    if result.positionEncoding ~= 'utf-8' then
      util.notify_once('the daemon in ' .. root .. ' does not speak utf-8 positions', vim.log.levels.ERROR)
      client:stop()
      return
    end
    self.info = result
    self.peers = result.peers or {}
    self.ready = true
    local queued = self.queue
    self.queue = {}
    for _, fn in ipairs(queued) do
      fn()
    end
    opts.on_peers(self)
  end)
  return self
end

--- Sends a request now, or once initialize has been answered.
function Session:request(method, params, cb)
  if self.ready then
    self.client:request(method, params, cb)
  else
    table.insert(self.queue, function()
      self.client:request(method, params, cb)
    end)
  end
end

--- Sends a notification if connected (presence is only worth its latest state).
function Session:notify(method, params)
  if self.ready then
    self.client:notify(method, params)
  end
end

--- Attaches `buf` as document `path` (once).
function Session:attach(buf, path)
  if self.unshared[path] then
    -- The daemon said it does not follow this path (ignored or refused): do not ask again.
    return nil
  end
  local doc = self.by_buf[buf]
  if doc and not doc.detached and doc.path == path then
    return doc
  end
  if doc then
    self:close(buf)
  end
  doc = buffer.attach(self, buf, path)
  if doc then
    self.docs[path] = doc
    self.by_buf[buf] = doc
    if self.ready then
      -- Peers already in this file show at once, not at their next move.
      self.opts.on_peers(self)
    end
  end
  return doc
end

--- Forgets a document the daemon will not follow (an ignored path) or that was deleted.
function Session:forget(doc)
  doc.detached = true
  if self.docs[doc.path] == doc then
    self.docs[doc.path] = nil
  end
  if self.by_buf[doc.buf] == doc then
    self.by_buf[doc.buf] = nil
  end
end

--- Closes `buf`'s document (didClose), if it has one.
function Session:close(buf)
  local doc = self.by_buf[buf]
  if not doc then
    return
  end
  doc:close()
  self:forget(doc)
end

function Session:_on_request(method, params, reply)
  if method == 'applyEdit' then
    local doc = self.docs[params.path]
    if not doc then
      reply({ applied = false })
      return
    end
    reply(doc:apply_edit(params))
  else
    reply(nil, { code = -32601, message = 'unknown method ' .. tostring(method) })
  end
end

function Session:_on_notification(method, params)
  if method == 'peers' then
    self.peers = params.peers or {}
    self.opts.on_peers(self)
  elseif method == 'status' then
    self.status = params
  elseif method == 'fileRenamed' then
    self:_renamed(params.from, params.to)
  elseif method == 'fileDeleted' then
    local doc = self.docs[params.path]
    if doc then
      self:forget(doc)
      if vim.api.nvim_buf_is_valid(doc.buf) then
        -- The text stays in the buffer; marking it modified keeps `:q` from dropping it silently.
        vim.bo[doc.buf].modified = true
      end
      util.notify_once(params.path .. ' was deleted by a peer; the buffer keeps its text (:w writes it again)', vim.log.levels.WARN)
    end
  end
end

--- A peer renamed an open document: the buffer takes the new name and stays attached to it.
function Session:_renamed(from, to)
  local doc = self.docs[from]
  if not doc then
    return
  end
  self.docs[from] = nil
  doc.path = to
  self.docs[to] = doc
  if vim.api.nvim_buf_is_valid(doc.buf) then
    doc.renaming = true
    local ok, err = pcall(vim.api.nvim_buf_set_name, doc.buf, self.root .. '/' .. to)
    doc.renaming = false
    if not ok then
      util.notify_once('renaming the buffer of ' .. from .. ': ' .. tostring(err))
    end
  end
  vim.notify('cshare: ' .. from .. ' was renamed to ' .. to .. ' by a peer', vim.log.levels.INFO)
end

function Session:_gone(code, signal, stderr)
  self.ready = false
  self.queue = {}
  for _, doc in pairs(self.by_buf) do
    doc.detached = true
  end
  self.docs, self.by_buf, self.peers = {}, {}, {}
  local why = stderr:gsub('%s+$', '')
  if code ~= 0 or signal ~= 0 then
    util.notify_once(string.format('the editor bridge for %s ended (exit %s): %s', self.root, tostring(code), why), vim.log.levels.WARN)
  end
  self.opts.on_gone(self)
end

--- Ends the bridge (on VimLeavePre).
function Session:stop()
  if self.client then
    self.client:stop()
  end
end

return M
