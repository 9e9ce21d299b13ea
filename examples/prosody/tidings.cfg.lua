-- tidings: what to add to an existing Prosody 0.12 configuration.
--
-- Put this file next to prosody.cfg.lua (e.g. /etc/prosody/conf.d/ on
-- Debian, where it is included automatically) or copy its parts into the
-- right places. Replace example.org by your XMPP domain, mail.example.org by
-- the component JID you chose, and the secret by a long random string (the
-- same as [xmpp] secret in tidings.conf). Then: prosodyctl check config &&
-- systemctl restart prosody.
--
-- Needs the Debian packages prosody and prosody-modules (mod_privilege and
-- mod_auth_dovecot come from prosody-modules).

-- Where Debian's prosody-modules keeps mod_auth_dovecot: one folder deeper
-- than Prosody's module loader looks, so name that folder here (if your
-- prosody.cfg.lua sets plugin_paths already, add this folder to that list).
plugin_paths = { "/usr/lib/prosody/modules/mod_auth_dovecot/auth_dovecot" }

-- XEP-0356 (Privileged Entity): lets the tidings component see users'
-- presence, manage their roster (the Mail contact) and send messages on a
-- user's behalf. It must be enabled globally AND in the Component below.
-- A second "modules_enabled = { ... }" here would REPLACE the list in
-- prosody.cfg.lua (Prosody 0.12 configs assign, they do not merge), so add
-- the module to that existing list instead:
--
--   modules_enabled = {
--           ... your existing modules ...
--           "privilege";
--   }
--
-- tidings also relies on "offline" (loaded by default) so that
-- notifications of type chat wait for users who are not online.

-- The component listener (XEP-0114). tidingsd connects here; keep it on
-- the loopback interface unless tidingsd runs on another machine.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

VirtualHost "example.org"
	-- One password for mail and chat: Prosody asks Dovecot. The socket
	-- is Dovecot's auth-client listener, which Prosody's user must be
	-- allowed to open, e.g. in Dovecot's conf.d/10-master.conf:
	--   service auth {
	--     unix_listener /var/spool/prosody/private/auth-client {
	--       mode = 0660
	--       user = prosody
	--       group = prosody
	--     }
	--   }
	-- Prosody connects to it when it starts: start Dovecot first.
	authentication = "dovecot"
	dovecot_auth_socket = "/var/spool/prosody/private/auth-client"
	-- Dovecot knows users as alice@example.org, not alice.
	auth_append_host = true

	-- What the tidings component may do for this host's users.
	privileged_entities = {
		["mail.example.org"] = {
			roster = "both";        -- add the Mail contact to rosters
			message = "outgoing";   -- "check your mail" nudges on a user's behalf
			presence = "roster";    -- know who is online
		};
	}

-- The component itself. Its JID is the "Mail" contact users chat with.
Component "mail.example.org"
	component_secret = "change me: the [xmpp] secret of tidings.conf"
	modules_enabled = { "privilege" }
