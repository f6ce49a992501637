-- Neovim's built-in LSP client (headless) opens STACK_FILE with `stackc lsp` attached, waits
-- for the diagnostics and writes them to NVIM_OUT, one `line:col code message` a line, then
-- asks for a hover and writes `hover FIRST-LINE`
-- (compiler/stackc-cli/tests/lsp.rs). Neovim 0.7 (Debian 12): `start_client`, not `vim.lsp.start`.
local bin, file, out = os.getenv('STACKC_BIN'), os.getenv('STACK_FILE'), os.getenv('NVIM_OUT')
vim.cmd('edit ' .. vim.fn.fnameescape(file))
local buf = vim.api.nvim_get_current_buf()
local id = vim.lsp.start_client({ name = 'stackc', cmd = { bin, 'lsp' }, root_dir = vim.fn.getcwd() })
vim.lsp.buf_attach_client(buf, id)
vim.wait(20000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local lines = {}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code) or '?'
  table.insert(lines, string.format('%d:%d %s %s', d.lnum, d.col, code, (d.message:gsub('\n.*', ''))))
end
-- A hover on the first line's `service`.
local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = 0, character = 2 } }
for _, r in pairs(vim.lsp.buf_request_sync(buf, 'textDocument/hover', params, 10000) or {}) do
  if r.result and r.result.contents then
    table.insert(lines, 'hover ' .. (r.result.contents.value:gsub('\n.*', '')))
  end
end
vim.fn.writefile(lines, out)
vim.lsp.stop_client(id)
vim.wait(10000, function() return vim.lsp.client_is_stopped(id) end, 20)
vim.cmd('qall!')
