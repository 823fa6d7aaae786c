-- cshare for Neovim: live collaborative editing through a running `cshare share` / `cshare
-- join`. Every buffer of a worktree is attached to the worktree's daemon over the editor API
-- (EDITOR-API.md); peers' cursors are shown; see editors/nvim/README.md.
local util = require('cshare.util')
local session_mod = require('cshare.session')
local peers = require('cshare.peers')

local api = vim.api
local uv = vim.uv or vim.loop

local M = {}

M.config = {
  cmd = { 'cshare', 'editor' },
  -- Connect straight to the editor socket the running share/join announces (one process hop
  -- less per keystroke each way); false: always through `cmd`.
  direct = true,
  name = nil,
  -- Milliseconds between two cursor notifications at most (the latest position wins).
  cursor_throttle_ms = 30,
  -- Compare the whole buffer with the plugin's copy after every change (for tests: slow).
  verify = false,
  -- Keep timestamps of the live edit path in require('cshare.trace').stages (for the benchmark).
  trace_stages = false,
}

--- root -> Session (one connection per worktree).
M.sessions = {}

--- The peer followed: {root, id}, or nil.
M.following = nil

local function on_peers(session)
  peers.render(session)
  local f = M.following
  if f and f.root == session.root then
    for _, peer in ipairs(session.peers) do
      if peer.id == f.id then
        util.guard('following ' .. tostring(peer.name), peers.jump)(session, peer)
        return
      end
    end
  end
end

--- root -> time (ms, uv.now) before which no new bridge is started there: when nothing serves
--- a worktree, switching buffers must not spawn a process each time.
local retry_at = {}
local RETRY_MS = 5000

local function on_gone(session)
  if M.sessions[session.root] == session then
    M.sessions[session.root] = nil
  end
  retry_at[session.root] = uv.now() + RETRY_MS
  for buf in pairs(session.by_buf) do
    if api.nvim_buf_is_valid(buf) then
      api.nvim_buf_clear_namespace(buf, peers.ns, 0, -1)
    end
  end
end

--- The session for `root`, started if there is none (nil if the bridge cannot start).
local function session_for(root)
  local s = M.sessions[root]
  if not s then
    if retry_at[root] and uv.now() < retry_at[root] then
      return nil
    end
    s = session_mod.start(root, {
      cmd = M.config.cmd,
      direct = M.config.direct,
      name = M.config.name,
      on_peers = on_peers,
      on_gone = on_gone,
      on_opened = function(doc)
        -- Where the cursor is once the daemon has the document (the BufEnter came before).
        if api.nvim_get_current_buf() == doc.buf then
          M.cursor_moved()
        end
      end,
    })
    M.sessions[root] = s
  end
  return s
end

--- The worktree root and relative path of buffer `buf`, or nil when it is no file of one.
local function locate(buf)
  if not api.nvim_buf_is_valid(buf) or vim.bo[buf].buftype ~= '' then
    return nil
  end
  local name = api.nvim_buf_get_name(buf)
  if name == '' then
    return nil
  end
  local file = vim.fn.fnamemodify(name, ':p')
  local root = util.find_root(file)
  if not root then
    return nil
  end
  local rel = util.relative(root, file)
  if not rel or rel == '' or rel:match('^%.cshare/') or rel:match('^%.git/') then
    return nil
  end
  return root, rel
end

--- Attaches buffer `buf` if it is a file of a worktree (called from the autocmds).
function M.attach(buf)
  local root, rel = locate(buf)
  if not root then
    return
  end
  local s = session_for(root)
  if s then
    s:attach(buf, rel)
  end
end

--- The session and document of buffer `buf`, if attached.
function M.doc_of(buf)
  for _, s in pairs(M.sessions) do
    local doc = s.by_buf[buf]
    if doc and not doc.detached then
      return s, doc
    end
  end
  return nil
end

local cursor_timer = nil
local cursor_due = false

--- The current window's selections as EDITOR-API positions (zero-based rows, byte columns).
local function selections()
  local cur = api.nvim_win_get_cursor(0)
  local head = { line = cur[1] - 1, character = cur[2] }
  local mode = api.nvim_get_mode().mode
  if mode == 'v' or mode == 'V' or mode == '\22' then
    local v = vim.fn.getpos('v')
    local anchor = { line = v[2] - 1, character = v[3] - 1 }
    if mode == 'V' then
      -- A line-wise selection covers whole lines, whichever way it was made.
      local lo, hi = math.min(anchor.line, head.line), math.max(anchor.line, head.line)
      local last = api.nvim_buf_get_lines(0, hi, hi + 1, false)[1] or ''
      if anchor.line <= head.line then
        anchor, head = { line = lo, character = 0 }, { line = hi, character = #last }
      else
        anchor, head = { line = hi, character = #last }, { line = lo, character = 0 }
      end
    end
    return { { anchor = anchor, head = head } }
  end
  return { { anchor = head, head = head } }
end

--- The session this editor last said it was in a file of (peers see us there).
local cursor_session = nil

local function send_cursor()
  local s, doc = M.doc_of(api.nvim_get_current_buf())
  if cursor_session and cursor_session ~= s then
    -- Left that worktree's files (another worktree, or a buffer of none): in no file there.
    cursor_session:notify('cursor', { path = vim.NIL })
    cursor_session = nil
  end
  if s and doc then
    doc:flush()
    s:notify('cursor', { path = doc.path, selections = selections() })
    cursor_session = s
  end
end

--- Cursor moves go out at most every cursor_throttle_ms; the last position always goes.
local function cursor_moved()
  if cursor_timer then
    cursor_due = true
    return
  end
  send_cursor()
  cursor_timer = uv.new_timer()
  cursor_timer:start(M.config.cursor_throttle_ms, 0, function()
    cursor_timer:close()
    cursor_timer = nil
    if cursor_due then
      cursor_due = false
      vim.schedule(util.guard('sending the cursor', cursor_moved))
    end
  end)
end

M.cursor_moved = util.guard('sending the cursor', cursor_moved)

local function status_lines()
  local lines = {}
  for root, s in pairs(M.sessions) do
    local info = s.info or {}
    local st = s.status or {}
    table.insert(lines, string.format('%s: %s%s, %s, %d open', root, info.role or 'connecting', info.readOnly and ' (read-only)' or '', st.connection or (s.ready and 'online' or 'starting'), vim.tbl_count(s.docs)))
    for _, peer in ipairs(s.peers) do
      local where = 'no file'
      if peer.path then
        local head = type(peer.selections) == 'table' and peer.selections[1] and peer.selections[1].head
        where = peer.path .. (head and (':' .. (head.line + 1)) or '')
      end
      table.insert(lines, string.format('  %s (%s) %s', tostring(peer.name), tostring(peer.role), where))
    end
  end
  if #lines == 0 then
    table.insert(lines, 'cshare: no worktree connected')
  end
  return lines
end

--- What :CshareStatus prints, as a list of lines.
M.status_lines = status_lines

local function undo_redo(method)
  local s, doc = M.doc_of(api.nvim_get_current_buf())
  if not s then
    vim.notify('cshare: this buffer is not a file of a shared worktree', vim.log.levels.WARN)
    return
  end
  doc:flush()
  s:request(method, { path = doc.path }, function(err, result)
    if err then
      vim.notify('cshare ' .. method .. ': ' .. tostring(err.message), vim.log.levels.WARN)
    elseif result and result.changed and #result.changed == 0 then
      vim.notify('cshare ' .. method .. ': nothing changed', vim.log.levels.INFO)
    end
  end)
end

local function define_commands()
  api.nvim_create_user_command('CshareStatus', function()
    vim.api.nvim_echo({ { table.concat(status_lines(), '\n') } }, false, {})
  end, { desc = 'cshare: worktrees, connection and peers' })
  api.nvim_create_user_command('CshareFollow', function(a)
    for root, s in pairs(M.sessions) do
      local peer = peers.find(s, a.args)
      if peer then
        M.following = { root = root, id = peer.id }
        peers.jump(s, peer)
        return
      end
    end
    vim.notify('cshare: no peer named ' .. a.args, vim.log.levels.WARN)
  end, {
    nargs = 1,
    complete = function()
      local names = {}
      for _, s in pairs(M.sessions) do
        for _, peer in ipairs(s.peers) do
          table.insert(names, peer.name)
        end
      end
      return names
    end,
    desc = 'cshare: follow a peer (jump where its cursor goes)',
  })
  api.nvim_create_user_command('CshareUnfollow', function()
    M.following = nil
  end, { desc = 'cshare: stop following' })
  api.nvim_create_user_command('CshareUndo', function()
    undo_redo('undo')
  end, { desc = "cshare: undo this replica's last change of this file (selective undo)" })
  api.nvim_create_user_command('CshareRedo', function()
    undo_redo('redo')
  end, { desc = 'cshare: redo what :CshareUndo undid' })
end

--- Sets the plugin up: `opts.cmd` (the bridge to spawn, default {'cshare', 'editor'}),
--- `opts.name` (the name peers see; default the daemon's), `opts.cursor_throttle_ms`.
function M.setup(opts)
  M.config = vim.tbl_extend('force', M.config, opts or {})
  require('cshare.buffer').verify = M.config.verify == true
  require('cshare.trace').stages = M.config.trace_stages and {} or nil
  define_commands()
  local group = api.nvim_create_augroup('cshare', { clear = true })
  local function each(fn, what)
    return util.guard(what, function(ev)
      fn(ev.buf)
    end)
  end
  api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile' }, { group = group, callback = each(M.attach, 'attaching a buffer') })
  -- A buffer opened while no share/join ran there is attached when it is entered again after
  -- one started (at most one attempt per worktree every few seconds).
  api.nvim_create_autocmd('BufEnter', {
    group = group,
    callback = each(function(buf)
      if not M.doc_of(buf) and api.nvim_buf_is_loaded(buf) then
        M.attach(buf)
      end
    end, 'attaching a buffer'),
  })
  api.nvim_create_autocmd('BufWritePost', {
    group = group,
    callback = each(function(buf)
      local _, doc = M.doc_of(buf)
      if doc then
        doc:saved()
      else
        -- A new file's first write (or a buffer written into a worktree): follow it from now.
        M.attach(buf)
      end
    end, 'reporting a save'),
  })
  api.nvim_create_autocmd('BufFilePost', {
    group = group,
    callback = each(function(buf)
      local s, doc = M.doc_of(buf)
      if doc and doc.renaming then
        return
      end
      if s then
        s:close(buf)
      end
      M.attach(buf)
    end, 'renaming a buffer'),
  })
  api.nvim_create_autocmd({ 'BufDelete', 'BufWipeout', 'BufUnload' }, {
    group = group,
    callback = each(function(buf)
      local s = M.doc_of(buf)
      if s then
        s:close(buf)
      end
    end, 'closing a buffer'),
  })
  local moved = { 'CursorMoved', 'CursorMovedI', 'BufEnter' }
  if vim.fn.exists('##ModeChanged') == 1 then
    table.insert(moved, 'ModeChanged')
  end
  api.nvim_create_autocmd(moved, { group = group, callback = util.guard('sending the cursor', cursor_moved) })
  api.nvim_create_autocmd('VimLeavePre', {
    group = group,
    callback = util.guard('stopping', function()
      for _, s in pairs(M.sessions) do
        s:stop()
      end
    end),
  })
  -- Buffers loaded before setup (a file given on the command line with a lazy plugin manager).
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(buf) then
      util.guard('attaching a buffer', M.attach)(buf)
    end
  end
end

return M
