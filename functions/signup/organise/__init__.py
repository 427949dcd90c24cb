"""The organisers' page: the `organise` function (sign-in by mailed link, sessions, check-in at the door)."""
