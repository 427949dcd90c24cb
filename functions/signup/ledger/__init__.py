"""The registration ledger: what a registration document holds, the mails it carries, and how both may change.

Everything here is pure, but for `writes` (the one way a document is changed on condition that it is as it was
read); `store/` does the reading and writing, `mail/` composes and sends, `http/` and `organisers/` face people.
"""
