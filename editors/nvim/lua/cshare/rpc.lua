-- JSON-RPC 2.0 over LSP's Content-Length framing, to a child process's stdio (the
-- `cshare editor` bridge to the worktree's editor socket; EDITOR-API.md).
local util = require('cshare.util')
local trace = require('cshare.trace')

local uv = vim.uv or vim.loop

local M = {}

--- The error code a request gets when the bridge is gone (exited, or never started).
M.GONE = -32099

local Client = {}
Client.__index = Client

--- Encodes one message with its Content-Length header (the length in bytes: Lua strings are bytes).
function M.frame(msg)
  local body = vim.json.encode(msg)
  return 'Content-Length: ' .. #body .. '\r\n\r\n' .. body
end

--- Parses as many whole messages as `buf` holds; returns them and the bytes left over, or nil
--- and an error for a malformed header.
function M.unframe(buf)
  local msgs = {}
  while true do
    local header_end = buf:find('\r\n\r\n', 1, true)
    if not header_end then
      break
    end
    local header = buf:sub(1, header_end - 1)
    local len = tonumber(header:match('[Cc]ontent%-[Ll]ength:%s*(%d+)'))
    if not len then
      return nil, 'malformed header: ' .. header
    end
    local body_start = header_end + 4
    if #buf < body_start + len - 1 then
      break
    end
    table.insert(msgs, buf:sub(body_start, body_start + len - 1))
    buf = buf:sub(body_start + len)
  end
  return msgs, buf
end

--- Starts `opts.cmd` (a list: program and arguments) in `opts.cwd` and speaks JSON-RPC on its
--- stdio. `opts.on_request(method, params, reply)` answers the server's requests (reply(result)
--- or reply(nil, error)); `opts.on_notification(method, params)`; `opts.on_exit(code, stderr)`.
--- Every callback runs scheduled on the main loop, never in a luv callback.
function M.start(opts)
  local self = setmetatable({
    next_id = 1,
    pending = {},
    buf = '',
    stderr = '',
    closed = false,
    opts = opts,
  }, Client)
  self.stdin = uv.new_pipe(false)
  self.stdout = uv.new_pipe(false)
  self.stderr_pipe = uv.new_pipe(false)
  local args = vim.list_slice(opts.cmd, 2)
  local handle, pid_or_err = uv.spawn(opts.cmd[1], {
    args = args,
    cwd = opts.cwd,
    stdio = { self.stdin, self.stdout, self.stderr_pipe },
  }, function(code, signal)
    self:_closed(code, signal)
  end)
  if not handle then
    self.stdin:close()
    self.stdout:close()
    self.stderr_pipe:close()
    return nil, 'cannot start ' .. table.concat(opts.cmd, ' ') .. ': ' .. tostring(pid_or_err)
  end
  self.handle = handle
  self.pid = pid_or_err
  self.stdout:read_start(function(err, chunk)
    self:_read(err, chunk)
  end)
  self.stderr_pipe:read_start(function(_, chunk)
    if chunk then
      -- Only the tail matters: it explains an exit.
      self.stderr = (self.stderr .. chunk):sub(-4000)
    end
  end)
  return self
end

--- A chunk read from the bridge's stdout or the socket (a luv callback): its messages are
--- dispatched on the main loop. End of input or an error of a socket is its close.
function Client:_read(err, chunk)
  if err or not chunk then
    if self.socket then
      self:_closed(0, 0)
    end
    return
  end
  trace.mark('nvim-read')
  self.buf = self.buf .. chunk
  local msgs, rest = M.unframe(self.buf)
  if not msgs then
    util.notify_once('bad message from the cshare editor bridge: ' .. rest, vim.log.levels.ERROR)
    self.buf = ''
    self:stop()
    return
  end
  self.buf = rest
  for _, body in ipairs(msgs) do
    vim.schedule(function()
      self:_dispatch(body)
    end)
  end
end

--- Like M.start, but connects straight to the editor socket at `opts.path` (the one the running
--- share/join announces) instead of spawning the bridge: one process hop less each way for
--- every keystroke (`npm run bench -- editor`). A socket that refuses the connection ends the
--- client as a bridge that found nothing would (on_exit with code 18).
function M.connect(opts)
  local self = setmetatable({
    next_id = 1,
    pending = {},
    buf = '',
    stderr = '',
    closed = false,
    opts = opts,
  }, Client)
  local pipe = uv.new_pipe(false)
  self.socket = pipe
  self.stdin = pipe
  self.stdout = pipe
  -- On Unix the connect itself is done when this returns (only its callback waits for the loop),
  -- so writes may follow at once; a failure comes in the callback.
  pipe:connect(opts.path, function(err)
    if err then
      self.stderr = 'cannot reach ' .. opts.path .. ': ' .. tostring(err)
      self:_closed(18, 0)
    end
  end)
  pipe:read_start(function(err, chunk)
    self:_read(err, chunk)
  end)
  return self
end

function Client:_closed(code, signal)
  if self.closed then
    return
  end
  self.closed = true
  for _, h in ipairs({ self.stdin, self.stdout, self.stderr_pipe, self.handle }) do
    -- (A socket is stdin and stdout at once: closed once.)
    if h and not h:is_closing() then
      h:close()
    end
  end
  vim.schedule(function()
    for id, cb in pairs(self.pending) do
      self.pending[id] = nil
      cb({ code = M.GONE, message = 'the cshare editor bridge exited' }, nil)
    end
    if self.opts.on_exit then
      self.opts.on_exit(code, signal, self.stderr)
    end
  end)
end

function Client:_send(msg)
  if self.closed then
    return false
  end
  self.stdin:write(M.frame(msg))
  return true
end

function Client:_dispatch(body)
  local ok, msg = pcall(vim.json.decode, body)
  if not ok or type(msg) ~= 'table' then
    util.notify_once('unparsable message from the cshare editor bridge', vim.log.levels.ERROR)
    return
  end
  local id = msg.id ~= vim.NIL and msg.id or nil
  if msg.method ~= nil and msg.method ~= vim.NIL then
    local params = msg.params ~= vim.NIL and msg.params or {}
    if id ~= nil then
      local answered = false
      local function reply(result, err)
        if answered then
          return
        end
        answered = true
        if err then
          self:_send({ jsonrpc = '2.0', id = id, error = err })
        else
          self:_send({ jsonrpc = '2.0', id = id, result = result == nil and vim.NIL or result })
        end
      end
      local handled, err = pcall(self.opts.on_request, msg.method, params, reply)
      if not handled then
        reply(nil, { code = -32603, message = tostring(err) })
        util.notify_once('handling ' .. msg.method .. ': ' .. tostring(err), vim.log.levels.ERROR)
      end
    else
      util.guard('handling ' .. msg.method, self.opts.on_notification)(msg.method, params)
    end
  elseif id ~= nil then
    local cb = self.pending[id]
    self.pending[id] = nil
    if cb then
      local err = msg.error ~= vim.NIL and msg.error or nil
      local result = msg.result ~= vim.NIL and msg.result or nil
      util.guard('handling the answer to a request', cb)(err, result)
    end
  end
end

--- Sends a request; `cb(err, result)` runs with its answer (err is the JSON-RPC error object).
function Client:request(method, params, cb)
  local id = self.next_id
  self.next_id = id + 1
  self.pending[id] = cb or function() end
  if not self:_send({ jsonrpc = '2.0', id = id, method = method, params = params }) then
    self.pending[id] = nil
    if cb then
      cb({ code = M.GONE, message = 'not connected' }, nil)
    end
  end
end

--- Sends a notification (no answer).
function Client:notify(method, params)
  self:_send({ jsonrpc = '2.0', method = method, params = params })
end

--- Ends the bridge (or the socket): closes its input, and signals the bridge.
function Client:stop()
  if self.closed then
    return
  end
  -- The bridge exits at the end of its input; the daemon closes a socket whose input ended
  -- (then the read sees the end). Both once what was written went out.
  if not self.stdin:is_closing() then
    self.stdin:shutdown()
  end
  if self.handle and not self.handle:is_closing() then
    self.handle:kill('sigterm')
  end
end

return M
