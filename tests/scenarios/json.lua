-- The smallest JSON reader the Lua scenario runner needs (Lua 5.4 and
-- LuaJIT): objects, arrays, strings with the escapes \" \\ \/ \n \t,
-- integers, true/false/null (null reads as nil). decode(text) -> value, or
-- raises naming the offset of the first syntax error.
local M = {}

local escapes = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", n = "\n", t = "\t" }

function M.decode(text)
  local pos = 1
  local function err(what) error(string.format("json: %s at offset %d", what, pos), 0) end
  local function ws() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = text:sub(pos, pos)
      if c == "" then err("unterminated string") end
      pos = pos + 1
      if c == '"' then return table.concat(out) end
      if c == "\\" then
        c = escapes[text:sub(pos, pos)] or err("unsupported string escape")
        pos = pos + 1
      end
      out[#out + 1] = c
    end
  end
  local function list(close, member)
    local t = {}
    pos = pos + 1
    ws()
    if text:sub(pos, pos) == close then pos = pos + 1; return t end
    while true do
      ws()
      if member then
        if text:sub(pos, pos) ~= '"' then err("expected a member name") end
        local k = str()
        ws()
        if text:sub(pos, pos) ~= ":" then err("expected ':'") end
        pos = pos + 1
        t[k] = value()
      else
        t[#t + 1] = value()
      end
      ws()
      local c = text:sub(pos, pos)
      pos = pos + 1
      if c == close then return t end
      if c ~= "," then err("expected ',' or '" .. close .. "'") end
    end
  end
  function value()
    ws()
    local c = text:sub(pos, pos)
    if c == "{" then return list("}", true) end
    if c == "[" then return list("]", false) end
    if c == '"' then return str() end
    local num = text:match("^-?%d+", pos)
    if num then
      pos = pos + #num
      if text:find("^[.eE]", pos) then err("only integers are supported") end
      local n = tonumber(num)
      return math.tointeger and math.tointeger(n) or n
    end
    for _, word in ipairs({ "true", "false", "null" }) do
      if text:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        if word == "null" then return nil end
        return word == "true"
      end
    end
    err("unexpected character")
  end
  local v = value()
  ws()
  if pos <= #text then err("trailing characters") end
  return v
end

return M
