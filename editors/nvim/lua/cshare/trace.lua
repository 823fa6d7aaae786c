-- Timestamps of the live edit path inside Neovim (a change's on_bytes, its didChange sent; an
-- applyEdit read from the bridge, applied), for `npm run bench -- editor`, which lines them up
-- with the daemons' and the relay's (DEBUG=cshare:stage) into per-stage latencies. Off unless
-- `setup({ trace_stages = true })`.
local uv = vim.uv or vim.loop

local M = {}

--- The stages marked so far ({name, ms of the monotonic clock, as the daemons'}), or nil when
--- tracing is off.
M.stages = nil

--- Marks that the path reached stage `name` now (safe in luv callbacks: a table insert).
function M.mark(name)
  local stages = M.stages
  if stages then
    stages[#stages + 1] = { name, uv.hrtime() / 1e6 }
  end
end

return M
