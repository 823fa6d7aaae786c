-- The document text a buffer holds (its lines and 'eol'), and whether the file on disk holds
-- exactly what a write of the buffer would.
local util = require('cshare.util')

local api = vim.api
local uv = vim.uv or vim.loop

local M = {}

--- Whether `lines` is Neovim's empty buffer (one empty line), which is the empty text.
function M.is_empty(lines)
  return #lines == 1 and lines[1] == ''
end

--- The document text of buffer lines: the lines joined by "\n", and a final "\n" unless
--- `eol` is false (Neovim's 'noeol': a text whose last line has no line break, from the file or
--- from a peer). One empty line is the empty text (Neovim writes it as a 0-byte file).
function M.text_of(lines, eol)
  if #lines == 0 or M.is_empty(lines) then
    return ''
  end
  return table.concat(lines, '\n') .. (eol == false and '' or '\n')
end

--- The buffer lines and 'eol' that hold `text` (the inverse of text_of). "\n" alone is two
--- empty lines without a final line break: one empty line is already the empty text.
function M.lines_of(text)
  if text == '' then
    return { '' }, true
  elseif text == '\n' then
    return { '', '' }, false
  elseif text:sub(-1) == '\n' then
    return util.split_lines(text:sub(1, -2)), true
  end
  return util.split_lines(text), false
end

--- The document text `buf` holds now.
function M.buffer_text(buf)
  return M.text_of(api.nvim_buf_get_lines(buf, 0, -1, false), vim.bo[buf].eol)
end

--- Files larger than this are not read to compare with the buffer after a remote edit.
M.COMPARE_MAX_BYTES = 4 * 1024 * 1024

--- Whether the file `name` holds exactly the bytes a write of `buf` would (its 'fileformat',
--- 'eol' and 'fixeol'); false when unsure (another encoding, a BOM, a big file, no file).
--- Cheap when they differ in size: a stat and Neovim's byte count; the file is read only when
--- the sizes are equal.
function M.disk_has(buf, name)
  local bo = vim.bo[buf]
  if bo.bomb or (bo.fileencoding ~= '' and bo.fileencoding ~= 'utf-8') then
    return false
  end
  local stat = uv.fs_stat(name)
  if not stat or stat.type ~= 'file' or stat.size > M.COMPARE_MAX_BYTES then
    return false
  end
  -- line2byte counts line breaks as the buffer's 'fileformat', 'eol' and 'fixeol' write them
  -- (an empty buffer gives -2: a 0-byte file).
  local size = math.max(0, api.nvim_buf_call(buf, function()
    return vim.fn.line2byte(vim.fn.line('$') + 1) - 1
  end))
  if size ~= stat.size then
    return false
  end
  local fd = uv.fs_open(name, 'r', 438)
  if not fd then
    return false
  end
  local data = uv.fs_read(fd, stat.size, 0)
  uv.fs_close(fd)
  if data == nil then
    return false
  end
  local lines = api.nvim_buf_get_lines(buf, 0, -1, false)
  if M.is_empty(lines) and size == 0 then
    return data == ''
  end
  local nl = ({ dos = '\r\n', mac = '\r' })[bo.fileformat] or '\n'
  local final = (bo.eol or (bo.fixeol and not bo.binary)) and nl or ''
  return data == table.concat(lines, nl) .. final
end

return M
