"""Real servers shared by the integration tests of a session."""

from tests.integration import dovecot as dovecot_server

dovecot = dovecot_server.dovecot  # a private dovecot for the session (each test: own mailbox)
