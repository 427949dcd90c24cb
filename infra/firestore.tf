# The database, its security rules, the indexes the code's queries need, and the TTL policies that delete
# personal data by themselves after the retention period.

resource "google_firestore_database" "main" {
  project = var.project
  # The functions use the default database (`firestore.Client(project=...)`, no database named).
  name        = "(default)"
  location_id = var.firestore_location
  type        = "FIRESTORE_NATIVE"

  delete_protection_state = "DELETE_PROTECTION_ENABLED"
  # Off unless asked for: with it, erased personal data stays readable for 7 days (variables.tf).
  point_in_time_recovery_enablement = var.point_in_time_recovery ? "POINT_IN_TIME_RECOVERY_ENABLED" : "POINT_IN_TIME_RECOVERY_DISABLED"
  # `terraform destroy` leaves the database (and the registrations in it) alone.
  deletion_policy = "ABANDON"

  depends_on = [google_project_service.apis]
}

# Security rules: no client (browser SDK, REST with end-user credentials) reads or writes anything. Only the
# functions touch the data, as their service accounts through IAM, which these rules do not govern.
resource "google_firebaserules_ruleset" "firestore" {
  project = var.project

  source {
    files {
      name    = "firestore.rules"
      content = file("${path.module}/firestore.rules")
    }
  }

  depends_on = [google_firestore_database.main]
}

# A ruleset cannot change: an edited rules file makes a new ruleset, and the release is replaced with it
# (deleted, then created again, pointing at the new ruleset).
resource "google_firebaserules_release" "firestore" {
  project = var.project
  # The release that Firestore's default database enforces.
  name         = "cloud.firestore"
  ruleset_name = "projects/${var.project}/rulesets/${google_firebaserules_ruleset.firestore.name}"
}

# Indexes. Firestore makes single-field indexes for queries on one collection by itself; below is what it does
# not make on its own. tests/test_infra.py finds every query in functions/signup and checks it is covered:
#
#   sweep (notifier.py)         group registrations: mail_due_at <= now, order by mail_due_at
#                               -> collection-group index on mail_due_at
#   retention (privacy.py)      groups registrations and seats: expires_at <= now
#                               -> collection-group index on expires_at (the TTL fields below)
#   erasure (privacy.py)        group registrations: email == address -> collection-group index on email
#   waiting list (registrations.py)  sessions/{id}/registrations: status == "waitlisted", order by created_at
#                               -> composite index (status, created_at)
#   lapsing (lapsing.py)        group registrations: confirm_by <= now, order by confirm_by
#                               -> collection-group index on confirm_by
#   digests (digest.py)         group digests: mail_due_at <= now, order by mail_due_at
#                               -> collection-group index on mail_due_at
#   digest windows, last digest, daily sessions, mail counts (digest.py, organiser.py): single field, one
#                               collection -> automatic
#   sessions by date, registrations by status: single field, one collection -> automatic

resource "google_firestore_index" "registrations_waiting_list" {
  project     = var.project
  database    = google_firestore_database.main.name
  collection  = "registrations"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "created_at"
    order      = "ASCENDING"
  }
}

# A google_firestore_field replaces the automatic single-field indexes of its field with the ones it lists.
# Firestore runs one index operation at a time per database: the fields below wait for each other.

resource "google_firestore_field" "registrations_mail_due_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "registrations"
  field      = "mail_due_at"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_index.registrations_waiting_list]
}

resource "google_firestore_field" "registrations_email" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "registrations"
  field      = "email"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION"
    }
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_field.registrations_mail_due_at]
}

# TTL: `register` sets `expires_at` on every registration and seat (the session's end plus its
# retention_days); Firestore deletes each document within about a day after that moment. The sweep also
# deletes what is past it (privacy.py), which takes the collection-group index; no other index is kept on it.

resource "google_firestore_field" "registrations_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "registrations"
  field      = "expires_at"

  ttl_config {}

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_field.registrations_email]
}

resource "google_firestore_field" "seats_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "seats"
  field      = "expires_at"

  ttl_config {}

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_field.registrations_expire]
}

# Rate-limit counters (`ratelimits/{keyed hash}`, written by `register`) carry `expires_at` too: an hour after
# their window. Nothing queries them by it, so it is not indexed.
resource "google_firestore_field" "ratelimits_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "ratelimits"
  field      = "expires_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_field.seats_expire]
}

# Used form tokens (`formtokens/{nonce}`, written by `register` with each sign-up from a form) carry
# `expires_at`: the session's end plus the retention period. Nothing queries them by it.
resource "google_firestore_field" "formtokens_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "formtokens"
  field      = "expires_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_field.ratelimits_expire]
}

# Mails per address and day (`mailcaps/{keyed hash}-{day}`, written by `notify`) carry `expires_at`: two days on.
resource "google_firestore_field" "mailcaps_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "mailcaps"
  field      = "expires_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_field.formtokens_expire]
}

# The organiser's daily digests (`sessions/{id}/digests/{day}`, made by the sweep at 08:00 in the session's time
# zone) carry a mail as registrations do: the sweep finds the due ones across sessions by `mail_due_at`. They and
# the organiser's messages (`sessions/{id}/messages/{digest}`, stored by `signup mail`) leave with the session's
# personal data, by `expires_at`.
resource "google_firestore_field" "digests_mail_due_at" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "digests"
  field      = "mail_due_at"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_field.mailcaps_expire]
}

resource "google_firestore_field" "digests_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "digests"
  field      = "expires_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_field.digests_mail_due_at]
}

resource "google_firestore_field" "messages_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "messages"
  field      = "expires_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_field.digests_expire]
}

# Sign-ups to sessions with `confirm_email` carry `confirm_by` until their address is confirmed; the sweep finds
# those past it across sessions (lapsing.py). Nothing else queries the field.
resource "google_firestore_field" "registrations_confirm_by" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "registrations"
  field      = "confirm_by"

  index_config {
    indexes {
      order       = "ASCENDING"
      query_scope = "COLLECTION_GROUP"
    }
  }

  depends_on = [google_firestore_field.messages_expire]
}
