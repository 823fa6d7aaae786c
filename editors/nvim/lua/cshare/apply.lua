-- Applying a remote edit (an applyEdit's changes, EDITOR-API.md) to a buffer: nvim_buf_set_text
-- inside the lines; the end of the text, past the last line, is Neovim's 'eol' option.
local doctext = require('cshare.text')
local util = require('cshare.util')

local api = vim.api

local M = {}

--- Replaces the text from row `from` to the end by `text` ('eol' holding its final line break:
--- Neovim keeps it out of the lines). `from` == 0 is the whole text.
local function set_tail(buf, from, text)
  local lines, eol
  if from == 0 then
    lines, eol = doctext.lines_of(text)
  elseif text == '' then
    -- The text now ends with the line break of the line before `from`.
    lines, eol = {}, true
  elseif text:sub(-1) == '\n' then
    lines, eol = util.split_lines(text:sub(1, -2)), true
  else
    lines, eol = util.split_lines(text), false
  end
  api.nvim_buf_set_lines(buf, from, -1, false, lines)
  if vim.bo[buf].eol ~= eol then
    vim.bo[buf].eol = eol
  end
  if not eol then
    -- With 'fixeol' a write would add the line break the shared text does not have: a save
    -- then writes what every replica has, as for any other remote edit.
    vim.bo[buf].fixeol = false
  end
end

--- A text ending with "\n" held as a last empty line without 'eol' (a line break inserted at
--- the end of a text that had none) becomes the usual form: the lines and 'eol'. The same text,
--- but Neovim shows no empty line that is not one, and `o` on the last line works as expected.
function M.tidy_end(buf)
  local n = api.nvim_buf_line_count(buf)
  if vim.bo[buf].eol or n < 2 then
    return
  end
  local last2 = api.nvim_buf_get_lines(buf, n - 2, n, false)
  if last2[2] == '' and not (n == 2 and last2[1] == '') then
    api.nvim_buf_set_lines(buf, n - 1, n, false, {})
    vim.bo[buf].eol = true
  end
end

--- Applies one change of an applyEdit (UTF-8 byte positions of the document text).
function M.change(buf, change, crlf)
  local n = api.nvim_buf_line_count(buf)
  local s, e = change.range.start, change.range['end']
  local sr, sc, er, ec = s.line, s.character, e.line, e.character
  local text = util.from_doc(change.text or '', crlf)
  local empty = n == 1 and api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ''
  if empty or er >= n then
    -- The empty text, or a change reaching past the last line's "\n" ((line_count, 0), the
    -- end of a text with 'eol'): Neovim has no position there, so the text from the change's
    -- first line to the end is replaced, and 'eol' follows whether it ends with a line break.
    local from = empty and 0 or math.min(sr, n - 1)
    local lines = api.nvim_buf_get_lines(buf, from, n, false)
    local eol = vim.bo[buf].eol
    local tail = empty and '' or (table.concat(lines, '\n') .. (eol and '\n' or ''))
    local function offset(row, col)
      if empty then
        return (row == 0 and col == 0) and 0 or nil
      elseif row == n then
        return (col == 0 and eol) and #tail or nil
      end
      local off = 0
      for r = from, row - 1 do
        off = off + #lines[r - from + 1] + 1
      end
      local line = lines[row - from + 1]
      local byte = line and line:byte(col + 1)
      if line == nil or col > #line or (byte and byte >= 0x80 and byte < 0xC0) then
        return nil -- past the line's end, or inside a UTF-8 character
      end
      return off + col
    end
    local so, eo = offset(sr, sc), offset(er, ec)
    if so == nil or eo == nil or so > eo then
      error(string.format('a range outside the text: (%d,%d)-(%d,%d) over %d lines', sr, sc, er, ec, n), 0)
    end
    set_tail(buf, from, tail:sub(1, so) .. text .. tail:sub(eo + 1))
    return
  end
  -- A position inside a UTF-8 character would leave invalid bytes in the buffer.
  local function inside_char(row, col)
    local b = (api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''):byte(col + 1)
    return b ~= nil and b >= 0x80 and b < 0xC0
  end
  local ok, err = true, nil
  if inside_char(sr, sc) or inside_char(er, ec) then
    ok, err = false, 'a position inside a character'
  else
    ok, err = pcall(api.nvim_buf_set_text, buf, sr, sc, er, ec, util.split_lines(text))
  end
  if not ok then
    -- Say where: a position past a line's end is the daemon's, a bug to report with this.
    local lens = {}
    for _, l in ipairs(api.nvim_buf_get_lines(buf, sr, math.min(er + 1, n), false)) do
      table.insert(lens, #l)
    end
    error(string.format('%s: (%d,%d)-(%d,%d) over lines of %s bytes', err, sr, sc, er, ec, table.concat(lens, ',')), 0)
  end
end

return M
