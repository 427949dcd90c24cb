"""The organisers' `signup` command: sessions from files, counts, export, mail to everyone."""
