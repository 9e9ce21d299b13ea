-- tidings: what to add to an existing Prosody 0.12 configuration.
--
-- Copy this file to /etc/prosody/conf.d/tidings.cfg.lua (Debian's
-- prosody.cfg.lua includes conf.d/*.cfg.lua at its end). Replace
-- example.org by your XMPP domain (mail.example.org is the component JID),
-- and the component secret by the [xmpp] secret of tidings.conf (tidings'
-- README does both with sed). Three things this file cannot do itself,
-- also in the README:
--
--  - add "privilege" to the modules_enabled list of prosody.cfg.lua (see
--    below);
--  - let Prosody reach Dovecot's auth listener: adduser prosody tidings
--    (part 3 of tidings' examples/dovecot/90-tidings.conf);
--  - start Prosody after Dovecot (mod_auth_dovecot connects when it is
--    loaded): the drop-in prosody-after-dovecot.conf beside this file.
--
-- Then: prosodyctl check config, and RESTART Prosody (systemctl restart
-- prosody): a reload loads neither the component nor the new
-- authentication.
--
-- Needs the Debian packages prosody and prosody-modules (mod_privilege and
-- mod_auth_dovecot come from prosody-modules).

-- Where modules are looked for. This file is read after prosody.cfg.lua,
-- and a setting given again REPLACES the earlier one (Prosody 0.12 configs
-- assign, they do not merge): so list Debian's folder (the plugin_paths of
-- Debian's prosody.cfg.lua) and the one where Debian's prosody-modules
-- keeps mod_auth_dovecot, one folder deeper than Prosody's loader looks.
-- If your prosody.cfg.lua lists other folders, add them here too.
plugin_paths = {
	"/usr/local/lib/prosody/modules";
	"/usr/lib/prosody/modules/mod_auth_dovecot/auth_dovecot";
}

-- XEP-0356 (Privileged Entity): lets the tidings component see users'
-- presence, manage their roster (the Mail contact) and send messages on a
-- user's behalf. It must be enabled globally AND in the Component below.
-- A second "modules_enabled = { ... }" here would REPLACE the list in
-- prosody.cfg.lua, so add the module to that existing list instead:
--
--   modules_enabled = {
--           "privilege"; -- tidings
--           ... your existing modules ...
--   }
--
-- (tidings' README does it with sed). tidings also relies on "offline"
-- (loaded by default) so that notifications of type chat wait for users
-- who are not online.

-- The component listener (XEP-0114). tidingsd connects here; keep it on
-- the loopback interface unless tidingsd runs on another machine.
component_ports = { 5347 }
component_interfaces = { "127.0.0.1" }

VirtualHost "example.org"
	-- One password for mail and chat: Prosody asks Dovecot. This ENDS the
	-- XMPP passwords Prosody kept for this host (its internal_hashed
	-- accounts can no longer log in) and in-client password changes and
	-- registration (the mail system owns passwords). Users who need an
	-- XMPP-only account keep it on another VirtualHost, which keeps
	-- Debian's global authentication = "internal_hashed" (Prosody 0.12
	-- has one authentication provider per host, no fallback).
	-- If your own VirtualHost "example.org" sets authentication, delete
	-- that line there: which file wins is not defined.
	authentication = "dovecot"
	-- Dovecot's auth-client listener for Prosody (part 3 of tidings'
	-- examples/dovecot/90-tidings.conf: group tidings, mode 0660).
	dovecot_auth_socket = "/run/dovecot/prosody-auth-client"
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
