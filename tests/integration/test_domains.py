"""Several mail domains, each on its own XMPP domain ([domains]).

bob@example.org and bob@example.net are two people with two mailboxes.
Mapped to one XMPP domain they would share one JID; with example.net on
chat.example.net, each one's senders and subjects reach only them.
"""

import time

from tidingsd import SLOW
from xmppclient import Client


def test_each_mail_domain_its_own_jids(make_stack):
    st = make_stack(start_tidings=False,
                    extra_xmpp_domains=["chat.example.net"],
                    extra_users={"bob@example.net": "net-pw",
                                 # Prosody asks Dovecot for the JID's own
                                 # name (auth_append_host); in a real setup
                                 # Dovecot maps it, here it is an alias.
                                 "bob@chat.example.net": "net-pw"})
    mail = st.tidingsd.sections["mail"]
    mail["domain"] = "example.org, example.net"
    st.tidingsd.sections["domains"] = {"example.net": "chat.example.net"}
    st.tidingsd.start()
    bob_org = st.client("bob")
    bob_net = Client("bob-net", ignore_from=("chat.example.net",))
    bob_net.connect("bob@chat.example.net/test", "net-pw", "127.0.0.1",
                    st.prosody.c2s_port)
    st.clients.append(bob_net)

    st.mail("bob", subject="For bob at example.org")
    st.dovecot.deliver("bob@example.net", b"From: Carol <carol@example.com>\r\n"
                       b"To: bob@example.net\r\nSubject: For bob at "
                       b"example.net\r\n\r\nhello\r\n")
    n = bob_org.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    m = bob_net.wait_for_message(lambda n: n.mail is not None, 5.0 * SLOW)
    assert n is not None and m is not None
    time.sleep(1.0 * SLOW)
    assert [x.mail["subject"] for x in bob_org.messages if x.mail] == \
        ["For bob at example.org"]
    assert [x.mail["subject"] for x in bob_net.messages if x.mail] == \
        ["For bob at example.net"]
    assert m.to.split("/")[0] == "bob@chat.example.net"
