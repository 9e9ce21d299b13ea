"""The settings form (issue 6, claim 2): the XEP-0050 ad-hoc command
`settings` on the component, against real Dovecot and Prosody.

A local user finds it in disco#items of the commands node, executes it
(a form with notify, summary_on_login, hold_when, nudge, receipts and
share_read holding the current values), submits it; the text command `settings` then shows the change,
and so does the next tidingsd. notify = no really stops the notices. A
user of another XMPP domain on the same server gets forbidden and an empty
list, and a bad value saves nothing.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from tidingsd import SLOW  # noqa: E402
from xmppclient import Client, NS_COMMANDS  # noqa: E402

OTHER = "other.test"
EVE_PW = "eve-pw"


def chat_settings(client, component):
    """Ask the Mail contact "settings"; return {name: value} from its
    reply ("(default)" kept in the value)."""
    start = len(client.messages)
    client.send_message(component, "settings")
    n = client.wait_for_message(
        lambda n: n.body is not None and n.body.startswith("Your settings:")
        and n.frm.split("/")[0] == component, 10.0 * SLOW, start=start)
    assert n is not None, "no answer to the text command settings"
    out = {}
    for line in n.body.splitlines()[1:]:
        if " = " in line:
            k, v = line.split(" = ", 1)
            out[k] = v
    return out


def execute(client, component):
    r = client.command(component, "settings")
    assert r.type == "result", r.text
    assert r.status == "executing", r.text
    assert r.form_type == "form"
    return r


def submit(client, component, fields):
    r = execute(client, component)
    return client.command(component, "settings", action="complete",
                          sessionid=r.sessionid, fields=fields)


def test_form_lists_shows_saves_and_survives_restart(make_stack):
    st = make_stack()
    bob = st.client("bob")

    # (a) listed under the commands node, at the component's JID.
    r, items = bob.disco_items(st.component, NS_COMMANDS)
    assert r.type == "result", r.text
    assert (st.component, "settings", "Mail notification settings") in items

    # (b) the form: the six settings with the defaults, and reset.
    r = execute(bob, st.component)
    f = r.fields
    assert f["notify"]["type"] == "boolean"
    assert f["notify"]["values"] == ["1"]
    assert f["summary_on_login"]["type"] == "boolean"
    assert f["summary_on_login"]["values"] == ["1"]
    assert f["hold_when"]["type"] == "list-single"
    assert f["hold_when"]["values"] == ["dnd"]
    assert [v for _, v in f["hold_when"]["options"]] == \
        ["never", "dnd", "away"]
    assert all(label for label, _ in f["hold_when"]["options"])
    assert f["nudge"]["type"] == "list-single"
    assert f["nudge"]["values"] == ["offer"]
    assert [v for _, v in f["nudge"]["options"]] == ["off", "offer", "auto"]
    assert all(label for label, _ in f["nudge"]["options"])
    assert f["receipts"]["type"] == "boolean"
    assert f["receipts"]["values"] == ["1"]
    assert f["share_read"]["type"] == "boolean"
    assert f["share_read"]["values"] == ["1"]
    assert f["reset"]["type"] == "boolean"
    assert "complete" in r.actions
    # Cancel ends it.
    c = bob.command(st.component, "settings", action="cancel",
                    sessionid=r.sessionid)
    assert c.type == "result" and c.status == "canceled", c.text

    # (c) notify = 0, hold_when = away, nudge = auto, receipts = 0; the
    # rest sent back unchanged.
    r = submit(bob, st.component, {"notify": "0", "summary_on_login": "1",
                                   "hold_when": "away", "nudge": "auto",
                                   "receipts": "0", "share_read": "1",
                                   "reset": "0"})
    assert r.type == "result", r.text
    assert r.status == "completed", r.text
    assert ("info", "Saved: notify = no, hold_when = away, nudge = auto, "
            "receipts = no.") in r.notes, r.notes
    s = chat_settings(bob, st.component)
    assert s == {"notify": "no", "summary_on_login": "yes (default)",
                 "hold_when": "away", "nudge": "auto", "receipts": "no",
                 "share_read": "yes (default)"}, s

    # A form sent back as it is changes nothing (and pins no default).
    r = execute(bob, st.component)
    assert r.value("notify") == "0" and r.value("hold_when") == "away"
    r2 = bob.command(st.component, "settings", action="complete",
                     sessionid=r.sessionid,
                     fields={k: v["values"] for k, v in r.fields.items()})
    assert r2.status == "completed" and \
        ("info", "Nothing changed.") in r2.notes, r2.text

    # The next tidingsd has them.
    st.tidingsd.stop()
    st.tidingsd.start()
    s = chat_settings(bob, st.component)
    assert s == {"notify": "no", "summary_on_login": "yes (default)",
                 "hold_when": "away", "nudge": "auto", "receipts": "no",
                 "share_read": "yes (default)"}, s
    r = execute(bob, st.component)
    assert r.value("notify") == "0" and r.value("hold_when") == "away"
    assert r.value("summary_on_login") == "1"
    assert r.value("nudge") == "auto" and r.value("receipts") == "0"
    assert r.value("share_read") == "1"


def mail_notice(client, subject, timeout, start=0):
    return client.wait_for_message(
        lambda n: n.mail is not None and n.mail.get("subject") == subject,
        timeout, start=start)


def test_notify_off_stops_notices(make_stack):
    st = make_stack()
    bob = st.client("bob")

    # notify = yes (the default): a mail is notified.
    t0 = time.monotonic()
    st.mail("bob", subject="While notify is on")
    assert mail_notice(bob, "While notify is on", 15.0 * SLOW) is not None
    latency = time.monotonic() - t0

    r = submit(bob, st.component, {"notify": "0"})
    assert r.status == "completed", r.text
    assert ("info", "Saved: notify = no.") in r.notes
    st.mail("bob", subject="While notify is off")
    # The event was delivered before this question; its answer, then
    # several times the first notice's latency, and nothing came.
    assert chat_settings(bob, st.component)["notify"] == "no"
    time.sleep(max(3.0, 3 * latency) * SLOW)
    assert mail_notice(bob, "While notify is off", 0) is None, \
        bob.messages

    # On again: the next mail is notified.
    r = submit(bob, st.component, {"notify": "1"})
    assert ("info", "Saved: notify = yes.") in r.notes, r.text
    start = len(bob.messages)
    st.mail("bob", subject="On again")
    assert mail_notice(bob, "On again", 15.0 * SLOW, start) is not None


def test_not_local_forbidden(make_stack):
    st = make_stack(extra_xmpp_domains=[OTHER],
                    extra_users={"eve@" + OTHER: EVE_PW})
    eve = Client("eve", ignore_from=(OTHER,))
    eve.connect("eve@%s/test" % OTHER, EVE_PW, "127.0.0.1",
                st.prosody.c2s_port)
    st.clients.append(eve)
    bob = st.client("bob")

    # The same server routes Eve's IQs to the component: it answers, and
    # lists nothing to her, while Bob sees the command.
    r, items = eve.disco_items(st.component, NS_COMMANDS)
    assert r.type == "result", r.text
    assert items == []
    _, bob_items = bob.disco_items(st.component, NS_COMMANDS)
    assert [i[1] for i in bob_items] == ["settings"]

    r = eve.command(st.component, "settings")
    assert r.type == "error" and r.condition == "forbidden", r.text
    assert r.command is None and r.error_text is None, r.text
    info = eve.iq(st.component,
                  "<query xmlns='http://jabber.org/protocol/disco#info' "
                  "node='settings'/>")
    assert info.type == "error" and info.condition == "forbidden", \
        info.text

    # Bob's session id does not help her, and nothing changes.
    b = execute(bob, st.component)
    r = eve.command(st.component, "settings", action="complete",
                    sessionid=b.sessionid, fields={"notify": "0"})
    assert r.type == "error" and r.condition == "forbidden", r.text
    assert chat_settings(bob, st.component)["notify"] == "yes (default)"
    r = bob.command(st.component, "settings", action="cancel",
                    sessionid=b.sessionid)
    assert r.status == "canceled", r.text


def test_bad_value_changes_nothing(make_stack):
    st = make_stack()
    bob = st.client("bob")
    r = execute(bob, st.component)
    r = bob.command(st.component, "settings", action="complete",
                    sessionid=r.sessionid,
                    fields={"notify": "0", "hold_when": "sometimes"})
    # The form again, with an error note and the stored values.
    assert r.type == "result", r.text
    assert r.status == "executing", r.text
    assert ("error", "Nothing was saved: hold_when takes never, dnd or "
            "away.") in r.notes, r.notes
    assert r.value("notify") == "1" and r.value("hold_when") == "dnd"
    s = chat_settings(bob, st.component)
    assert s == {"notify": "yes (default)",
                 "summary_on_login": "yes (default)",
                 "hold_when": "dnd (default)", "nudge": "offer (default)",
                 "receipts": "yes (default)",
                 "share_read": "yes (default)"}, s
    # A good answer in the same session is taken.
    r = bob.command(st.component, "settings", action="complete",
                    sessionid=r.sessionid, fields={"hold_when": "never"})
    assert r.status == "completed" and \
        ("info", "Saved: hold_when = never.") in r.notes, r.text
    assert chat_settings(bob, st.component)["hold_when"] == "never"

    # The settings of issue 8 through the text commands too, and shown in
    # the next form.
    for text, answer in [("set nudge on", "nudge takes off, offer or auto."),
                         ("set nudge off", "nudge is now off."),
                         ("set share_read no", "share_read is now no.")]:
        start = len(bob.messages)
        bob.send_message(st.component, text)
        n = bob.wait_for_message(
            lambda n: n.body is not None and
            n.frm.split("/")[0] == st.component, 10.0 * SLOW, start=start)
        assert n is not None and n.body == answer, (text, n and n.body)
    s = chat_settings(bob, st.component)
    assert s["nudge"] == "off" and s["share_read"] == "no", s
    r = execute(bob, st.component)
    assert r.value("nudge") == "off" and r.value("share_read") == "0"
