-- wrk posts every signed body of @DATA@ once (a line: signature, tab, body), then writes
-- "answered bad" to @RESULT@ and exits. The benchmark fills in both paths.
local bodies, signatures = {}, {}
for line in io.lines("@DATA@") do
  local tab = line:find("\t")
  signatures[#signatures + 1] = line:sub(1, tab - 1)
  bodies[#bodies + 1] = line:sub(tab + 1)
end
local i, answered, bad = 0, 0, 0
request = function()
  i = i + 1
  local n = ((i - 1) % #bodies) + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = signatures[n]}, bodies[n])
end
response = function(status, headers, body)
  answered = answered + 1
  if status ~= 200 then bad = bad + 1 end
  if answered >= #bodies then
    -- wrk's own stop waits out -d; the benchmark times the process instead.
    local out = io.open("@RESULT@", "w")
    out:write(answered, " ", bad, "\n")
    out:close()
    os.exit(0)
  end
end
