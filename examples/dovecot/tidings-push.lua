-- tidings-push.lua: Dovecot push-notification Lua driver for tidings.
--
-- Sends one JSON datagram per mail event to tidingsd's UNIX datagram socket
-- (format: examples/dovecot/EVENTS.md). It runs inside Dovecot's LMTP and IMAP
-- processes, so it never blocks (non-blocking send, no DNS, no files), never
-- raises an error into Dovecot (every hook body runs under pcall), and stays
-- cheap. If tidingsd is down or its socket is full, events are dropped here
-- and tidingsd recovers them later over IMAP.
--
-- Dovecot configuration (see examples/dovecot/):
--
--   protocol lmtp { mail_plugins = $mail_plugins notify push_notification
--                   mail_lua push_notification_lua }
--   protocol imap { mail_plugins = $mail_plugins notify push_notification
--                   mail_lua push_notification_lua }
--   plugin {
--     push_notification_driver = lua:file=/etc/dovecot/tidings-push.lua
--     tidings_socket = /run/tidings/events.sock
--   }
--
-- Needs luasocket (Debian: lua-socket) for the Lua version Dovecot links
-- (5.4 on Debian 12). The encoder is also reachable as the global table
-- tidings_push, for the unit tests (tests/unit/ms/test_push_lua.lua). The
-- chunk deliberately returns nothing: Dovecot asserts a clean Lua stack.

local M = {}
tidings_push = M

-- Byte caps per field, applied before encoding (cut at a UTF-8 boundary).
-- Worst case every byte expands to 6 (\u00XX), which keeps a datagram well
-- below tidingsd's 64 KiB limit.
M.caps = {
	user = 500,
	mailbox = 500,
	message_id = 500,
	from = 1000,
	from_address = 500,
	from_name = 500,
	to = 2000,
	subject = 1500,
	snippet = 1500,
}
M.max_datagram = 65000
-- Events kept per transaction (an expunge of a huge folder is one
-- transaction); beyond this tidingsd's reconciliation takes over.
M.max_events_per_txn = 10000

local byte, char, format, sub = string.byte, string.char, string.format,
	string.sub
local concat = table.concat

-- Escapes for the bytes JSON requires (and DEL, for safety).
local escapes = {
	['"'] = '\\"',
	['\\'] = '\\\\',
	['\b'] = '\\b',
	['\f'] = '\\f',
	['\n'] = '\\n',
	['\r'] = '\\r',
	['\t'] = '\\t',
}
for b = 0, 31 do
	local c = char(b)
	if escapes[c] == nil then
		escapes[c] = format("\\u%04x", b)
	end
end
escapes["\127"] = "\\u007f"

-- Bytes >= 0x80 of a string that is not valid UTF-8 are read as Latin-1.
local latin1 = {}
for b = 128, 255 do
	latin1[char(b)] = format("\\u%04x", b)
end

local function escape_byte(c)
	return escapes[c] or latin1[c]
end

-- Cuts s to at most n bytes without splitting a UTF-8 sequence.
function M.cut(s, n)
	if n == nil or #s <= n then
		return s
	end
	local k = n
	-- Step back over continuation bytes to the start of a character.
	while k > 0 do
		local b = byte(s, k + 1)
		if b == nil or b < 0x80 or b >= 0xC0 then
			break
		end
		k = k - 1
	end
	return sub(s, 1, k)
end

-- A JSON string literal for s (any bytes): always valid JSON and UTF-8.
function M.json_string(s, cap)
	s = tostring(s)
	if cap ~= nil then
		s = M.cut(s, cap)
	end
	local pattern
	if utf8.len(s) ~= nil then
		pattern = '[%z\1-\31"\\\127]'
	else
		pattern = '[%z\1-\31"\\\127-\255]'
	end
	return '"' .. s:gsub(pattern, escape_byte) .. '"'
end

-- An integral JSON number for x, or nil when x is not a finite number in
-- a safe range (Dovecot passes numbers as Lua floats).
function M.json_int(x)
	if type(x) ~= "number" or x ~= x then
		return nil
	end
	if x < -9007199254740992 or x > 9007199254740992 then
		return nil
	end
	return format("%d", math.floor(x))
end

local flag_ok = {
	["\\Seen"] = true,
	["\\Answered"] = true,
	["\\Flagged"] = true,
	["\\Deleted"] = true,
	["\\Draft"] = true,
	["\\Recent"] = true,
}

-- Builds the datagram for one Dovecot event table; nil if it lacks what
-- tidingsd requires.
function M.encode(name, username, ev)
	local uid = M.json_int(ev.uid)
	local uidvalidity = M.json_int(ev.uid_validity)
	if uid == nil or uidvalidity == nil or type(ev.mailbox) ~= "string"
	    or type(username) ~= "string" then
		return nil
	end
	local caps = M.caps
	local parts = {
		'{"v":1,"event":', M.json_string(name),
		',"user":', M.json_string(username, caps.user),
		',"mailbox":', M.json_string(ev.mailbox, caps.mailbox),
		',"uidvalidity":', uidvalidity,
		',"uid":', uid,
	}
	local function str(key, value, cap)
		if type(value) == "string" and value ~= "" then
			parts[#parts + 1] = ',"' .. key .. '":'
			parts[#parts + 1] = M.json_string(value, cap)
		end
	end
	str("message_id", ev.message_id, caps.message_id)
	str("from", ev.from, caps.from)
	str("from_address", ev.from_address, caps.from_address)
	str("from_name", ev.from_display_name, caps.from_name)
	str("to", ev.to, caps.to)
	str("subject", ev.subject, caps.subject)
	str("snippet", ev.snippet, caps.snippet)
	local date = M.json_int(ev.date)
	if date ~= nil and ev.date > 0 then
		parts[#parts + 1] = ',"date":' .. date
		local tz = M.json_int(ev.tz)
		if tz ~= nil then
			parts[#parts + 1] = ',"tz":' .. tz
		end
	end
	if type(ev.flags) == "table" then
		local flags = {}
		for _, f in ipairs(ev.flags) do
			if flag_ok[f] then
				flags[#flags + 1] = M.json_string(f)
			end
		end
		parts[#parts + 1] = ',"flags":[' .. concat(flags, ",") .. ']'
	end
	parts[#parts + 1] = "}"
	local out = concat(parts)
	if #out > M.max_datagram then
		return nil
	end
	return out
end

-- Sends every datagram to path without ever waiting; the first error ends
-- the batch (the socket is missing or full: the rest would fail too).
function M.send_all(path, datagrams)
	if #datagrams == 0 then
		return 0
	end
	local ok_req, unix = pcall(require, "socket.unix")
	if not ok_req or type(unix) ~= "table" then
		return 0
	end
	local sock = unix.dgram()
	if sock == nil then
		return 0
	end
	sock:settimeout(0)
	local sent = 0
	for _, d in ipairs(datagrams) do
		local ok, res = pcall(sock.sendto, sock, d, path)
		if not ok or res == nil then
			break
		end
		sent = sent + 1
	end
	pcall(sock.close, sock)
	return sent
end

local function add_event(name, ctx, ev)
	if type(ctx) ~= "table" or ctx.path == nil or type(ev) ~= "table" then
		return
	end
	if #ctx.datagrams >= M.max_events_per_txn then
		return
	end
	local d = M.encode(name, ctx.username, ev)
	if d ~= nil then
		ctx.datagrams[#ctx.datagrams + 1] = d
	end
end

-- Dovecot hooks. Each one swallows every error.

function dovecot_lua_notify_begin_txn(user)
	local ok, ctx = pcall(function()
		local path = user:plugin_getenv("tidings_socket")
		if type(path) ~= "string" or path == "" then
			return { datagrams = {} }
		end
		return { path = path, username = user.username, datagrams = {} }
	end)
	if ok and type(ctx) == "table" then
		return ctx
	end
	return { datagrams = {} }
end

local hooks = {
	message_new = "MessageNew",
	message_append = "MessageAppend",
	message_read = "MessageRead",
	message_trash = "MessageTrash",
	message_expunge = "MessageExpunge",
	flags_set = "FlagsSet",
	flags_clear = "FlagsClear",
}
for fn, name in pairs(hooks) do
	_G["dovecot_lua_notify_event_" .. fn] = function(ctx, ev)
		pcall(add_event, name, ctx, ev)
	end
end

function dovecot_lua_notify_end_txn(ctx, success)
	pcall(function()
		if success and type(ctx) == "table" and ctx.path ~= nil then
			M.send_all(ctx.path, ctx.datagrams)
		end
		if type(ctx) == "table" then
			ctx.datagrams = {}
		end
	end)
end
