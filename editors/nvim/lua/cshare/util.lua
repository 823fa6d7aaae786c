-- Helpers shared by the cshare plugin's modules: finding a worktree, reporting errors once,
-- and turning Neovim's buffer model (every line ends with "\n") into document text.
local M = {}

local uv = vim.uv or vim.loop

--- Messages already shown, so that a failure repeated on every keystroke is reported once.
local reported = {}

--- Shows `msg` once per distinct text, or once per `key` when given (later ones are dropped).
function M.notify_once(msg, level, key)
  key = key or msg
  if reported[key] then
    return
  end
  reported[key] = true
  vim.schedule(function()
    vim.notify('cshare: ' .. msg, level or vim.log.levels.WARN)
  end)
end

--- Wraps `fn` so that an error in it is reported once with vim.notify instead of being thrown
--- at the user (an autocmd or on_bytes callback that throws would do it on every keystroke).
function M.guard(what, fn)
  return function(...)
    local ok, res = pcall(fn, ...)
    if not ok then
      M.notify_once(what .. ': ' .. tostring(res), vim.log.levels.ERROR)
      return nil
    end
    return res
  end
end

--- The real path of `path` (symlinks resolved), or nil when it does not exist.
function M.realpath(path)
  return uv.fs_realpath(path)
end

--- The worktree root holding `file` (an absolute path, which need not exist yet): the nearest
--- ancestor directory that has a `.cshare` directory, with symlinks resolved; nil if none.
function M.find_root(file)
  local dir = vim.fn.fnamemodify(file, ':h')
  while dir and dir ~= '' do
    local stat = uv.fs_stat(dir .. '/.cshare')
    if stat and stat.type == 'directory' then
      return M.realpath(dir) or dir
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      return nil
    end
    dir = parent
  end
  return nil
end

--- `file` (absolute) relative to `root` with '/' separators, or nil when it is outside it. The
--- file's directory is resolved like the root (the file itself may not exist yet).
function M.relative(root, file)
  local dir = vim.fn.fnamemodify(file, ':h')
  local tail = vim.fn.fnamemodify(file, ':t')
  -- Walk up to the first directory that exists, resolve it, and put the missing part back.
  local missing = {}
  while not uv.fs_stat(dir) do
    table.insert(missing, 1, vim.fn.fnamemodify(dir, ':t'))
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  local real = M.realpath(dir) or dir
  local parts = { real }
  vim.list_extend(parts, missing)
  table.insert(parts, tail)
  local abs = table.concat(parts, '/')
  local prefix = root:sub(-1) == '/' and root or (root .. '/')
  if abs:sub(1, #prefix) ~= prefix then
    return nil
  end
  return abs:sub(#prefix + 1)
end

--- Text as the daemon has it (line breaks "\r\n" in a dos buffer) from the buffer's "\n" text.
function M.to_doc(text, crlf)
  if crlf then
    return (text:gsub('\n', '\r\n'))
  end
  return text
end

--- Text as the buffer holds it: a dos buffer shows "\r\n" as a line break without the "\r".
--- A lone "\r" is a line break for the daemon (EDITOR-API.md "Positions") but a character for
--- Neovim: it becomes "\n" here, so that both count the same lines (a later save writes that
--- line break as the buffer's 'fileformat' does).
function M.from_doc(text, crlf)
  return (text:gsub('\r(\n?)', function(nl)
    if nl == '' or crlf then
      return '\n'
    end
    return '\r\n'
  end))
end

--- Splits `text` at "\n" into the lines nvim_buf_set_text takes (a trailing "\n" gives a final "").
function M.split_lines(text)
  return vim.split(text, '\n', { plain = true })
end

return M
