/**
 * The Lua scripts of the Redis store (private). Every read and write is one
 * script, so that it is atomic across processes and takes one round trip.
 * Each returns one string: `~` and JSON (lua-cjson), which no client turns
 * into anything else (the Upstash client parses replies that look like
 * JSON; this one does not). `ARGV[1]` is always the key prefix `{p}:`.
 *
 * @module
 */

/** A script: its source and, once computed, its SHA-1 for `EVALSHA`. */
export interface RedisScript {
  /** A name for error messages. */
  readonly name: string;
  /** Lua source. */
  readonly source: string;
}

/**
 * Finding a token: `find(at)` reads a lookup at `ARGV[at]`: `id:<id>` or an
 * index key name (`by_user:<hash>` …), `ARGV[at + 1]` the number of
 * conditions, then field/value pairs that must all be equal (the values
 * themselves, so that a hash collision never matches).
 */
const FIND = `
local p = ARGV[1]
local function matches(id, at, n)
  local key = p .. 'token:' .. id
  for i = 0, n - 1 do
    if redis.call('HGET', key, ARGV[at + 2 * i]) ~= ARGV[at + 2 * i + 1] then
      return false
    end
  end
  return true
end
local function find(at)
  local lookup = ARGV[at]
  local n = tonumber(ARGV[at + 1])
  if lookup == '' then return nil end
  if string.sub(lookup, 1, 3) == 'id:' then
    local id = string.sub(lookup, 4)
    if redis.call('EXISTS', p .. 'token:' .. id) == 1 then return id end
    return nil
  end
  local ids = redis.call('SMEMBERS', p .. lookup)
  table.sort(ids)
  for _, id in ipairs(ids) do
    if matches(id, at + 2, n) then return id end
  end
  return nil
end
local function json(value)
  if value == nil then return '~null' end
  return '~' .. cjson.encode(value)
end
local function remove(id)
  local key = p .. 'token:' .. id
  local idx = p .. 'idx:' .. id
  for _, name in ipairs(redis.call('SMEMBERS', idx)) do
    redis.call('SREM', p .. name, id)
  end
  redis.call('DEL', key, idx)
  redis.call('SREM', p .. 'tokens', id)
end
`;

/** `findToken`: the fields of the first match (in id order), or null. */
export const FIND_SCRIPT: RedisScript = {
  name: "find token",
  source: FIND + `
local id = find(2)
if id == nil then return '~null' end
return json(redis.call('HGETALL', p .. 'token:' .. id))
`,
};

/**
 * `saveToken`: ARGV[2] the id to insert with, then the lookup (as `find`),
 * then the number of fields and field/value pairs (without `id`), then the
 * number of index keys and their names. Replaces the whole record of the
 * match (keeping its id) or inserts; publishes the id on `{p}:refreshed`.
 * `!collision` when the fresh id is taken.
 */
export const SAVE_SCRIPT: RedisScript = {
  name: "save token",
  source: FIND + `
local at = 3
local id = find(at)
local i = at + 2 + 2 * tonumber(ARGV[at + 1])
if id == nil then
  id = ARGV[2]
  if redis.call('EXISTS', p .. 'token:' .. id) == 1 then return '!collision' end
end
remove(id)
local key = p .. 'token:' .. id
local fields = tonumber(ARGV[i])
local hset = { 'HSET', key, 'id', id }
for j = 1, fields do
  hset[#hset + 1] = ARGV[i + 2 * j - 1]
  hset[#hset + 1] = ARGV[i + 2 * j]
end
redis.call(unpack(hset))
i = i + 1 + 2 * fields
for j = 1, tonumber(ARGV[i]) do
  local name = ARGV[i + j]
  redis.call('SADD', p .. name, id)
  redis.call('SADD', p .. 'idx:' .. id, name)
end
redis.call('SADD', p .. 'tokens', id)
redis.call('PUBLISH', p .. 'refreshed', id)
return json(id)
`,
};

/** `deleteToken`: ARGV[2] the id; deletes the token, its index entries and its status. */
export const DELETE_SCRIPT: RedisScript = {
  name: "delete token",
  source: FIND + `
local id = ARGV[2]
local found = redis.call('EXISTS', p .. 'token:' .. id) == 1
if found then remove(id) end
redis.call('DEL', p .. 'status:' .. id)
redis.call('SREM', p .. 'statuses', id)
if found then redis.call('PUBLISH', p .. 'refreshed', id) end
return json(found)
`,
};

/** `deleteTokens`: every token, index entry and status (leases are kept). */
export const DELETE_ALL_SCRIPT: RedisScript = {
  name: "delete tokens",
  source: FIND + `
local ids = redis.call('SMEMBERS', p .. 'tokens')
for _, id in ipairs(ids) do
  remove(id)
  redis.call('PUBLISH', p .. 'refreshed', id)
end
for _, id in ipairs(redis.call('SMEMBERS', p .. 'statuses')) do
  redis.call('DEL', p .. 'status:' .. id)
end
redis.call('DEL', p .. 'statuses', p .. 'tokens')
return json(#ids)
`,
};

/** `getTokens` (no ARGV[2]) or `findTokenById` (ARGV[2] the id): lists of field/value pairs. */
export const READ_SCRIPT: RedisScript = {
  name: "read tokens",
  source: FIND + `
local ids
if ARGV[2] then ids = { ARGV[2] } else ids = redis.call('SMEMBERS', p .. 'tokens') end
table.sort(ids)
local out = {}
for _, id in ipairs(ids) do
  local fields = redis.call('HGETALL', p .. 'token:' .. id)
  if #fields > 0 then out[#out + 1] = fields end
end
if #out == 0 then return '~[]' end
return json(out)
`,
};

/** Statuses: ARGV[2] the operation (`get`, `put`, `list`, `delete`), ARGV[3] the id, ARGV[4] the JSON. */
export const STATUS_SCRIPT: RedisScript = {
  name: "token status",
  source: `
local p = ARGV[1]
local op = ARGV[2]
if op == 'get' then
  local value = redis.call('GET', p .. 'status:' .. ARGV[3])
  if not value then return '~null' end
  return '~' .. cjson.encode(value)
elseif op == 'put' then
  redis.call('SET', p .. 'status:' .. ARGV[3], ARGV[4])
  redis.call('SADD', p .. 'statuses', ARGV[3])
  return '~true'
elseif op == 'delete' then
  redis.call('DEL', p .. 'status:' .. ARGV[3])
  redis.call('SREM', p .. 'statuses', ARGV[3])
  return '~true'
end
local ids = redis.call('SMEMBERS', p .. 'statuses')
table.sort(ids)
local out = {}
for _, id in ipairs(ids) do
  local value = redis.call('GET', p .. 'status:' .. id)
  if value then
    out[#out + 1] = id
    out[#out + 1] = value
  end
end
if #out == 0 then return '~[]' end
return '~' .. cjson.encode(out)
`,
};

/**
 * Leases: ARGV[2] the operation (`acquire`, `renew`, `release`, `held`),
 * ARGV[3] the lease key, ARGV[4] the owner, ARGV[5] the time to live in ms.
 * `SET {p}:lock:<key> <owner> NX PX <ttl>`; renewed and released only when
 * the key still names the owner; `held` writes nothing (the key exists
 * while some lease lasts: Redis expires it).
 */
export const LEASE_SCRIPT: RedisScript = {
  name: "lease",
  source: `
local key = ARGV[1] .. 'lock:' .. ARGV[3]
local op = ARGV[2]
if op == 'acquire' then
  if redis.call('SET', key, ARGV[4], 'NX', 'PX', ARGV[5]) then return '~true' end
  return '~false'
end
if op == 'held' then
  if redis.call('EXISTS', key) == 1 then return '~true' end
  return '~false'
end
if redis.call('GET', key) ~= ARGV[4] then return '~false' end
if op == 'renew' then
  redis.call('PEXPIRE', key, ARGV[5])
else
  redis.call('DEL', key)
end
return '~true'
`,
};
