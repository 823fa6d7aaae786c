-- cshare is set up explicitly (require('cshare').setup()), so that the bridge command and the
-- name shown to peers are the user's choice; loading the plugin alone starts nothing.
if vim.g.loaded_cshare then
  return
end
vim.g.loaded_cshare = true
