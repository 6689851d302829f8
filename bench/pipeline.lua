-- wrk script: every write carries DEPTH pipelined requests (default 16, or the
-- first script argument: `wrk ... -s pipeline.lua URL -- 32`).
-- wrk counts each response as a request, so req/s stays comparable; its latency
-- figures are per batch of DEPTH requests.

local depth = 16
local batch

function init(args)
   depth = tonumber(args[1]) or depth
   local r = {}
   for i = 1, depth do
      r[i] = wrk.format()
   end
   batch = table.concat(r)
end

function request()
   return batch
end
