"""What a mail says: the composer (templates, headers), its calendar parts and time zones, its QR code, and the
texts and facts it is made of."""
