"""How a mail leaves: SMTP, a pool of connections at a pace, and the daily cap per mailbox."""
