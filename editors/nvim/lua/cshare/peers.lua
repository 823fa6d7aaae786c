-- Peers' cursors and selections as extmarks (a highlight in the peer's colour, the name as
-- virtual text at the end of the cursor's line), and following a peer.
local api = vim.api

local M = {}

M.ns = api.nvim_create_namespace('cshare_peers')

local defined = {}

--- The highlight groups for colour '#rrggbb': the cursor cell, the selection, the name.
local function groups(color)
  local hex = (type(color) == 'string' and color:match('^#(%x%x%x%x%x%x)$')) or '888888'
  local base = 'Cshare' .. hex
  if not defined[hex] then
    defined[hex] = true
    local r, g, b = tonumber(hex:sub(1, 2), 16), tonumber(hex:sub(3, 4), 16), tonumber(hex:sub(5, 6), 16)
    -- Black or white text, whichever reads better on the colour.
    local fg = (0.299 * r + 0.587 * g + 0.114 * b) > 140 and '#000000' or '#ffffff'
    api.nvim_set_hl(0, base .. 'Cursor', { bg = '#' .. hex, fg = fg })
    api.nvim_set_hl(0, base .. 'Selection', { bg = '#' .. hex, fg = fg})
    api.nvim_set_hl(0, base .. 'Name', { bg = '#' .. hex, fg = fg, bold = true })
  end
  return base .. 'Cursor', base .. 'Selection', base .. 'Name'
end

--- Bytes of the UTF-8 character starting at byte `col` (0-based) of `line`; 0 at its end.
local function char_len(line, col)
  local b = line:byte(col + 1)
  if not b then
    return 0
  end
  if b >= 0xF0 then
    return 4
  elseif b >= 0xE0 then
    return 3
  elseif b >= 0xC0 then
    return 2
  end
  return 1
end

--- A position clamped into the buffer (a peer's view may be a moment ahead or behind).
local function clamp(buf, pos)
  local n = api.nvim_buf_line_count(buf)
  local row = math.max(0, math.min(pos.line or 0, n - 1))
  local line = api.nvim_buf_get_lines(buf, row, row + 1, false)[1] or ''
  local col = math.max(0, math.min(pos.character or 0, #line))
  return row, col, line
end

local function before(ar, ac, br, bc)
  return ar < br or (ar == br and ac <= bc)
end

--- Redraws the peers of `session` in every buffer it has attached.
function M.render(session)
  for _, doc in pairs(session.by_buf) do
    local buf = doc.buf
    if api.nvim_buf_is_valid(buf) then
      api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
      for _, peer in ipairs(session.peers) do
        if peer.path == doc.path and type(peer.selections) == 'table' then
          local cursor_hl, sel_hl, name_hl = groups(peer.color)
          for i, sel in ipairs(peer.selections) do
            local hr, hc, hline = clamp(buf, sel.head)
            local ar, ac = clamp(buf, sel.anchor or sel.head)
            if ar ~= hr or ac ~= hc then
              local sr, sc, er, ec = ar, ac, hr, hc
              if not before(sr, sc, er, ec) then
                sr, sc, er, ec = hr, hc, ar, ac
              end
              api.nvim_buf_set_extmark(buf, M.ns, sr, sc, { end_row = er, end_col = ec, hl_group = sel_hl, priority = 150 })
            end
            local mark = { priority = 200 }
            local len = char_len(hline, hc)
            if len > 0 then
              mark.end_row, mark.end_col, mark.hl_group = hr, hc + len, cursor_hl
            end
            if i == 1 then
              mark.virt_text = { { ' ' .. tostring(peer.name or peer.id) .. ' ', name_hl } }
              mark.virt_text_pos = 'eol'
            end
            api.nvim_buf_set_extmark(buf, M.ns, hr, hc, mark)
          end
        end
      end
    end
  end
end

--- The peer of `session` named `who` (a name or an id, or a unique prefix of either).
function M.find(session, who)
  local hits = {}
  for _, peer in ipairs(session.peers) do
    if peer.name == who or peer.id == who then
      return peer
    end
    if (type(peer.name) == 'string' and peer.name:sub(1, #who) == who) or (type(peer.id) == 'string' and peer.id:sub(1, #who) == who) then
      table.insert(hits, peer)
    end
  end
  if #hits == 1 then
    return hits[1]
  end
  return nil
end

--- Moves the current window to where `peer` is (opening its file if needed).
function M.jump(session, peer)
  if not peer.path or type(peer.selections) ~= 'table' or not peer.selections[1] then
    return
  end
  local file = session.root .. '/' .. peer.path
  local doc = session.docs[peer.path]
  if not doc or api.nvim_get_current_buf() ~= doc.buf then
    vim.cmd('edit ' .. vim.fn.fnameescape(file))
    doc = session.docs[peer.path]
  end
  local buf = api.nvim_get_current_buf()
  local row, col = clamp(buf, peer.selections[1].head)
  api.nvim_win_set_cursor(0, { row + 1, col })
end

return M
