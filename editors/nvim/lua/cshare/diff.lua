-- The changes between the text the daemon knows (the plugin's copy of the buffer's lines at the
-- last version sent) and the buffer now, as EDITOR-API changes at UTF-8 byte positions.
--
-- Why a diff and not on_bytes' own text: on_bytes says where the buffer changed, but what the
-- buffer holds during the callback is not always the text after that one change (`:s` reports
-- each match before the line is replaced). So on_bytes only bounds the region that changed and
-- the text is compared once the tick is over.
local M = {}

local function is_cont(b)
  return b ~= nil and b >= 0x80 and b < 0xC0
end

--- Row and column of byte offset `off` in `text`, which starts at row `row0`, column 0.
local function position(text, off, row0)
  local row, last_nl = row0, 0
  local i = text:find('\n', 1, true)
  while i and i <= off do
    row = row + 1
    last_nl = i
    i = text:find('\n', i + 1, true)
  end
  return { line = row, character = off - last_nl }
end

--- One change replacing text `old` (starting at row `row0`, column 0) by text `new`, narrowed
--- to the bytes that differ (never splitting a UTF-8 character); nil when they are equal.
function M.text_change(old, new, row0)
  if old == new then
    return nil
  end
  local max = math.min(#old, #new)
  local p = 0
  while p < max and old:byte(p + 1) == new:byte(p + 1) do
    p = p + 1
  end
  while p > 0 and (is_cont(old:byte(p + 1)) or is_cont(new:byte(p + 1))) do
    p = p - 1
  end
  local s = 0
  while s < max - p and old:byte(#old - s) == new:byte(#new - s) do
    s = s + 1
  end
  while s > 0 and (is_cont(old:byte(#old - s + 1)) or is_cont(new:byte(#new - s + 1))) do
    s = s - 1
  end
  return {
    range = { start = position(old, p, row0), ['end'] = position(old, #old - s, row0) },
    text = new:sub(p + 1, #new - s),
  }
end

--- One change replacing old lines `a` (starting at row `row0`) by new lines `b`, each line
--- ending with "\n"; nil when they are equal.
local function hunk(a, b, row0)
  local old = #a > 0 and (table.concat(a, '\n') .. '\n') or ''
  local new = #b > 0 and (table.concat(b, '\n') .. '\n') or ''
  return M.text_change(old, new, row0)
end

--- The changes taking lines `a` to lines `b` (both the region starting at row `row0` of a text
--- whose every line ends with "\n"), each in the text the one before left: bottom first.
function M.changes(a, b, row0)
  -- Lines are interned Lua strings: comparing them is cheap, so trim the equal ends first.
  local na, nb = #a, #b
  local pre = 0
  while pre < na and pre < nb and a[pre + 1] == b[pre + 1] do
    pre = pre + 1
  end
  local suf = 0
  while suf < na - pre and suf < nb - pre and a[na - suf] == b[nb - suf] do
    suf = suf + 1
  end
  local am = vim.list_slice(a, pre + 1, na - suf)
  local bm = vim.list_slice(b, pre + 1, nb - suf)
  local base = row0 + pre
  if #am == 0 and #bm == 0 then
    return {}
  end
  if #am <= 1 or #bm <= 1 then
    local c = hunk(am, bm, base)
    return c and { c } or {}
  end
  -- Several lines on both sides (a paste over a selection, `:s` over a range): one change per
  -- differing hunk, so that a concurrent edit in an unchanged line between them stays apart.
  local hunks = vim.diff(table.concat(am, '\n') .. '\n', table.concat(bm, '\n') .. '\n', { result_type = 'indices' })
  local out = {}
  for i = #hunks, 1, -1 do
    local sa, ca, sb, cb = unpack(hunks[i])
    local a0 = ca > 0 and sa - 1 or sa
    local b0 = cb > 0 and sb - 1 or sb
    if ca == cb then
      -- As many lines on both sides (`:s`, a block edit): line by line, bottom first.
      for k = ca - 1, 0, -1 do
        local c = hunk({ am[a0 + k + 1] }, { bm[b0 + k + 1] }, base + a0 + k)
        if c then
          table.insert(out, c)
        end
      end
    else
      local c = hunk(vim.list_slice(am, a0 + 1, a0 + ca), vim.list_slice(bm, b0 + 1, b0 + cb), base + a0)
      if c then
        table.insert(out, c)
      end
    end
  end
  return out
end

return M
