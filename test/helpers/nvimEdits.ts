import type { Prng } from '../../src/sync/prng.js';
import type { Nvim } from './nvim.js';

/**
 * Random edits of a Neovim buffer for the plugin's fuzz tests: the seeded PRNG draws fractions
 * and text, and Lua in Neovim turns them into positions of the buffer as it is at that moment
 * (code point boundaries, byte columns), so one RPC makes one edit however the buffer changed.
 */
const LUA = `
function _G.cshare_random_edit(buf, f_row, f_col, f_span, f_end, text)
  if buf == 0 then buf = vim.api.nvim_get_current_buf() end
  local n = vim.api.nvim_buf_line_count(buf)
  local function col_at(line, f)
    local chars = vim.str_utfindex(line)
    return vim.str_byteindex(line, math.floor(f * (chars + 1)))
  end
  local sr = math.min(n - 1, math.floor(f_row * n))
  local sline = vim.api.nvim_buf_get_lines(buf, sr, sr + 1, false)[1]
  local sc = col_at(sline, f_col)
  -- f_span < 0.5: an insertion; < 0.8: a deletion in the line; else across up to two lines.
  local er, ec = sr, sc
  if f_span >= 0.8 then
    er = math.min(n - 1, sr + 1 + math.floor(f_end * 2))
    ec = col_at(vim.api.nvim_buf_get_lines(buf, er, er + 1, false)[1], f_end)
  elseif f_span >= 0.5 then
    local rest = sline:sub(sc + 1)
    ec = sc + vim.str_byteindex(rest, math.floor(f_end * math.min(4, vim.str_utfindex(rest) + 1)))
  end
  if er == sr and ec < sc then sc, ec = ec, sc end
  local ok, err = pcall(vim.api.nvim_buf_set_text, buf, sr, sc, er, ec, vim.split(text, '\\n', { plain = true }))
  if not ok then
    error(string.format('%s: set_text(%d, %d, %d, %d) in %s', err, sr, sc, er, ec, vim.inspect(vim.api.nvim_buf_get_lines(buf, sr, er + 1, false))))
  end
end
`;

/** Pieces random text is made of: ASCII, Latin with a precomposed and a combining accent, CJK, emoji, line breaks. */
const PIECES = ['a', 'b', 'x', 'y', ' ', 'é', 'e\u0301', '文', '字', '😀', '🎉', '\n', 'λ'];

/** Defines the Lua helper in `nvim` (once per Neovim). */
export async function installRandomEdits(nvim: Nvim): Promise<void> {
  await nvim.lua(LUA);
}

/** Random text of 1–4 pieces. */
export function randomText(rng: Prng): string {
  let s = '';
  for (let i = 1 + rng.int(4); i > 0; i--) s += rng.pick(PIECES);
  return s;
}

/** One random edit of buffer `buf` (0: the current one) of `nvim`: an insertion, a deletion or a replacement, some across lines. */
export async function randomEdit(nvim: Nvim, rng: Prng, buf = 0): Promise<void> {
  const span = rng.next();
  const text = span >= 0.5 && rng.chance(0.5) ? '' : randomText(rng);
  await nvim.lua('_G.cshare_random_edit(...)', [buf, rng.next(), rng.next(), span, rng.next(), text]);
}
