-- Unit test of examples/dovecot/tidings-push.lua, run with lua5.4 outside
-- Dovecot: the JSON encoder byte for byte, and the hooks end to end over a
-- real UNIX datagram socket.
--
--   lua5.4 test_push_lua.lua SCRIPT            run the checks
--   lua5.4 test_push_lua.lua SCRIPT emit       print sample datagrams, one
--                                              per line (test_event.c
--                                              parses them with the C side)

local script = assert(arg[1], "usage: test_push_lua.lua SCRIPT [emit]")
dofile(script)
local P = assert(tidings_push, "script did not define tidings_push")

-- Samples shared with test_event.c (emit mode); keep them in sync.
local samples = {
	-- 1: a plain MessageNew as Dovecot passes it (numbers are floats).
	{ "MessageNew", "bob@example.org", {
		mailbox = "INBOX", uid = 5.0, uid_validity = 1732.0,
		date = 1732000000.0, tz = 60.0, from = "Alice <alice@example.org>",
		from_address = "alice@example.org", from_display_name = "Alice",
		to = "bob@example.org", subject = "Hello \"world\" \\ ok",
		snippet = "line1\nline2", message_id = "<x@y>",
		flags = { "\\Seen", "\\Recent" }, keywords = { "$Junk" } } },
	-- 2: a subject with NUL, controls and DEL, and invalid UTF-8 (Latin-1).
	{ "MessageNew", "bob@example.org", {
		mailbox = "INBOX", uid = 6, uid_validity = 1732,
		subject = "a\0b\1c\31d\127e", from_display_name = "Andr\xe9" } },
	-- 3: a 10 kB subject of multibyte characters (cut at a boundary).
	{ "MessageAppend", "bob@example.org", {
		mailbox = "Sent", uid = 7, uid_validity = 1732,
		subject = string.rep("\xc3\xa9", 5000), to = "carol@example.org" } },
	-- 4: a FlagsSet without message fields.
	{ "FlagsSet", "bob@example.org", {
		mailbox = "INBOX", uid = 5, uid_validity = 1732,
		flags = { "\\Seen" } } },
}

if arg[2] == "emit" then
	for _, s in ipairs(samples) do
		io.write(assert(P.encode(s[1], s[2], s[3])), "\n")
	end
	os.exit(0)
end

local checks, failures = 0, 0
local function check(cond, what)
	checks = checks + 1
	if not cond then
		failures = failures + 1
		io.stderr:write("FAIL: ", what, "\n")
	end
end
local function eq(got, want, what)
	check(got == want, string.format("%s: got %q, want %q", what,
		tostring(got), tostring(want)))
end

-- json_string: exact escapes.
eq(P.json_string('a"b\\c'), '"a\\"b\\\\c"', "quote and backslash")
eq(P.json_string("\0\1\31\127"), '"\\u0000\\u0001\\u001f\\u007f"',
	"NUL, controls, DEL")
eq(P.json_string("\b\f\n\r\t"), '"\\b\\f\\n\\r\\t"', "short escapes")
eq(P.json_string("caf\xc3\xa9 \xe2\x82\xac"), '"caf\xc3\xa9 \xe2\x82\xac"',
	"valid UTF-8 kept as is")
eq(P.json_string("caf\xe9"), '"caf\\u00e9"', "Latin-1 byte escaped")
eq(P.json_string("\xc3\xa9\xff"), '"\\u00c3\\u00a9\\u00ff"',
	"invalid UTF-8: every high byte escaped")
eq(P.json_string("\xed\xa0\x80"), '"\\u00ed\\u00a0\\u0080"',
	"a UTF-16 surrogate is not UTF-8")
eq(P.json_string("\xc0\xaf"), '"\\u00c0\\u00af"', "overlong refused")
eq(P.json_string(""), '""', "empty")
eq(P.json_string(42), '"42"', "number as string")

-- Every encoded string is valid UTF-8 without raw controls.
local all = {}
for b = 0, 255 do
	all[#all + 1] = string.char(b)
end
local enc = P.json_string(table.concat(all))
check(utf8.len(enc) ~= nil, "all bytes: output is valid UTF-8")
check(not enc:find("[%z\1-\31\127]"), "all bytes: no raw control left")

-- Caps cut at a character boundary.
eq(P.cut("abc", 10), "abc", "cut: short string untouched")
eq(P.cut("\xc3\xa9\xc3\xa9", 3), "\xc3\xa9", "cut: not inside a character")
eq(P.cut("\xe2\x82\xac", 2), "", "cut: 3-byte char dropped whole")
local long = string.rep("\xc3\xa9", 5000)
eq(#P.json_string(long, 1500), 1500 + 2, "10 kB string capped to 1500")
eq(#P.json_string(string.rep("x", 10000)), 10002, "10 kB uncapped")

-- Numbers.
eq(P.json_int(5.0), "5", "float with integral value")
eq(P.json_int(4294967295.0), "4294967295", "uint32 max")
eq(P.json_int(7.9), "7", "fraction dropped")
eq(P.json_int(0 / 0), nil, "NaN")
eq(P.json_int(math.huge), nil, "infinity")
eq(P.json_int("5"), nil, "string is not a number")

-- Whole events: exact bytes.
eq(P.encode(table.unpack(samples[4])),
	'{"v":1,"event":"FlagsSet","user":"bob@example.org","mailbox":"INBOX",' ..
	'"uidvalidity":1732,"uid":5,"flags":["\\\\Seen"]}', "FlagsSet exact")
eq(P.encode(table.unpack(samples[1])),
	'{"v":1,"event":"MessageNew","user":"bob@example.org",' ..
	'"mailbox":"INBOX","uidvalidity":1732,"uid":5,"message_id":"<x@y>",' ..
	'"from":"Alice <alice@example.org>","from_address":"alice@example.org",' ..
	'"from_name":"Alice","to":"bob@example.org",' ..
	'"subject":"Hello \\"world\\" \\\\ ok","snippet":"line1\\nline2",' ..
	'"date":1732000000,"tz":60,"flags":["\\\\Seen","\\\\Recent"]}',
	"MessageNew exact")
eq(P.encode("MessageNew", "bob", { mailbox = "INBOX", uid_validity = 1 }),
	nil, "no uid: nothing to send")
eq(P.encode("MessageNew", nil, { mailbox = "INBOX", uid = 1,
	uid_validity = 1 }), nil, "no user: nothing to send")
local big = P.encode("MessageNew", string.rep("\1", 9999), {
	mailbox = string.rep("\1", 9999), uid = 1, uid_validity = 1,
	subject = string.rep("\255", 99999), snippet = string.rep("\0", 99999),
	from = string.rep("\255", 99999), to = string.rep("\255", 99999),
	from_display_name = string.rep("\255", 99999),
	from_address = string.rep("\255", 99999),
	message_id = string.rep("\255", 99999) })
check(big ~= nil and #big < 60000,
	"worst case datagram stays below 60000 bytes: " .. tostring(big and #big))

-- The hooks, end to end over a real socket.
local unix = require("socket.unix")
local path = os.tmpname()
os.remove(path)
local rx = assert(unix.dgram())
assert(rx:bind(path))
rx:settimeout(0)

local function user(sock_path)
	return {
		username = "bob@example.org",
		plugin_getenv = function(_, key)
			if key == "tidings_socket" then
				return sock_path
			end
			return nil
		end,
	}
end
local function drain()
	local got = {}
	while true do
		local d = rx:receive()
		if d == nil then
			break
		end
		got[#got + 1] = d
	end
	return got
end

local ctx = dovecot_lua_notify_begin_txn(user(path))
dovecot_lua_notify_event_message_new(ctx, { name = "MessageNew",
	mailbox = "INBOX", uid = 1.0, uid_validity = 9.0, subject = "s1" })
dovecot_lua_notify_event_message_read(ctx, { name = "MessageRead",
	mailbox = "INBOX", uid = 2.0, uid_validity = 9.0 })
dovecot_lua_notify_event_flags_clear(ctx, { name = "FlagsClear",
	mailbox = "INBOX", uid = 3.0, uid_validity = 9.0, flags = { "\\Seen" },
	flags_old = { "\\Seen" } })
dovecot_lua_notify_end_txn(ctx, true)
local got = drain()
eq(#got, 3, "three events, three datagrams")
eq(got[1], '{"v":1,"event":"MessageNew","user":"bob@example.org",' ..
	'"mailbox":"INBOX","uidvalidity":9,"uid":1,"subject":"s1"}',
	"first datagram")
eq(got[2], '{"v":1,"event":"MessageRead","user":"bob@example.org",' ..
	'"mailbox":"INBOX","uidvalidity":9,"uid":2}', "second datagram")
eq(got[3], '{"v":1,"event":"FlagsClear","user":"bob@example.org",' ..
	'"mailbox":"INBOX","uidvalidity":9,"uid":3,"flags":["\\\\Seen"]}',
	"third datagram")

-- Every other hook exists and sends its event name.
ctx = dovecot_lua_notify_begin_txn(user(path))
for _, h in ipairs({ "message_append", "message_trash", "message_expunge",
	"flags_set" }) do
	_G["dovecot_lua_notify_event_" .. h](ctx, { mailbox = "INBOX",
		uid = 1, uid_validity = 1 })
end
dovecot_lua_notify_end_txn(ctx, true)
got = drain()
eq(#got, 4, "four more hooks")
local names = {}
for _, d in ipairs(got) do
	names[#names + 1] = d:match('"event":"(%a+)"')
end
eq(table.concat(names, ","),
	"MessageAppend,MessageTrash,MessageExpunge,FlagsSet", "hook names")

-- A failed transaction sends nothing.
ctx = dovecot_lua_notify_begin_txn(user(path))
dovecot_lua_notify_event_message_new(ctx, { mailbox = "INBOX", uid = 1,
	uid_validity = 1 })
dovecot_lua_notify_end_txn(ctx, false)
eq(#drain(), 0, "no datagram when the transaction failed")

-- No socket configured: nothing sent, no error.
ctx = dovecot_lua_notify_begin_txn(user(nil))
dovecot_lua_notify_event_message_new(ctx, { mailbox = "INBOX", uid = 1,
	uid_validity = 1 })
dovecot_lua_notify_end_txn(ctx, true)
eq(#drain(), 0, "tidings_socket unset: nothing sent")

-- Hostile input never raises: bad user object, nil ctx, nil event, junk.
local ok = pcall(function()
	local c = dovecot_lua_notify_begin_txn({ plugin_getenv = function()
		error("boom")
	end })
	dovecot_lua_notify_event_message_new(c, nil)
	dovecot_lua_notify_event_message_new(nil, { uid = 1 })
	dovecot_lua_notify_event_message_new(c, { mailbox = {}, uid = "x",
		uid_validity = math.huge })
	dovecot_lua_notify_end_txn(c, true)
	dovecot_lua_notify_end_txn(nil, true)
	dovecot_lua_notify_end_txn(nil, nil)
	dovecot_lua_notify_begin_txn(nil)
end)
check(ok, "hooks never raise")

-- Nobody listening: the send fails at once and nothing raises or waits.
rx:close()
os.remove(path)
local t0 = os.clock()
ok = pcall(function()
	for _ = 1, 100 do
		local c = dovecot_lua_notify_begin_txn(user(path))
		dovecot_lua_notify_event_message_new(c, { mailbox = "INBOX",
			uid = 1, uid_validity = 1 })
		dovecot_lua_notify_end_txn(c, true)
	end
end)
check(ok, "missing socket: no error")
local per_txn_msecs = (os.clock() - t0) * 1000 / 100
check(per_txn_msecs < 5, "missing socket: no waiting (" ..
	string.format("%.3f", per_txn_msecs) .. " ms per transaction)")

-- A full receiver queue: sends fail with EAGAIN instead of blocking.
rx = assert(unix.dgram())
assert(rx:bind(path))
t0 = os.clock()
ctx = dovecot_lua_notify_begin_txn(user(path))
for i = 1, 2000 do
	dovecot_lua_notify_event_message_new(ctx, { mailbox = "INBOX", uid = i,
		uid_validity = 1, subject = string.rep("x", 1000) })
end
dovecot_lua_notify_end_txn(ctx, true)
local full_msecs = (os.clock() - t0) * 1000
check(full_msecs < 500, string.format("full queue: end_txn returned in " ..
	"%.1f ms", full_msecs))
rx:close()
os.remove(path)

print(string.format("%d checks, %d failed", checks, failures))
os.exit(failures == 0 and 0 or 1)
