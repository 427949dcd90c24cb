# The organisers' page (`organise`, HTTP, public: organisers sign in with a mailed link from any browser) and the
# sender of its sign-in links (`notify-signin`: entry point `notify`, on a sign-in document's write).
#
# `organise` runs as an account of its own: it reads and writes the data (datastore.user, as register does; Firestore
# has no narrower role per collection) and reads SIGNING_KEY, nothing else: no mail credentials. A sign-in link is
# queued in its sign-in document and sent by `notify`, which holds them (mail/signins.py).

locals {
  organise_name      = "organise"
  notify_signin_name = "notify-signin"
  # A host of its own: https://{region}-{project}.cloudfunctions.net serves every function of the project, so there
  # the cookie (`__Host-`, Path=/) went to `register` too, and each of register's pages was same-origin with the page
  # (its posts passed the cross-site check). Cloud Run's deterministic address is known before the function exists.
  organise_url = "https://${local.organise_name}-${data.google_project.this.number}.${var.region}.run.app"
  organise_env = {
    ORGANISE_URL = local.organise_url
    ORGANISERS   = join(",", var.organisers)
    # For a message's preview, as `notify` will compose it; `organise` never sends mail.
    MAIL_FROM = var.mail_from
    # Organisers reach the page at its own address, never through the balancer `register` may sit behind: the
    # visitor's address is the one Google's front end appends, and no X-Forwarded-For entry before it is trusted.
    TRUSTED_PROXY_HOPS = "0"
  }
  organise_threads = {
    THREADS = "8"
  }
}

resource "google_service_account" "organise" {
  account_id   = "signup-organise"
  display_name = "signup: organise (the organisers' page)"
  depends_on   = [google_project_service.apis]
}

resource "google_project_iam_member" "organise_uses_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = google_service_account.organise.member

  condition {
    title       = "signup-database-only"
    description = "Only the database of signup"
    expression  = "resource.name == \"${local.firestore_database}\""
  }
}

resource "google_secret_manager_secret_iam_member" "organise_reads_signing_key" {
  secret_id = google_secret_manager_secret.signing_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.organise.member
}

resource "google_cloudfunctions2_function" "organise" {
  #checkov:skip=CKV_GCP_124:organise is the organisers' page; they sign in from any browser with a mailed link (ingress ALLOW_ALL).
  name        = local.organise_name
  location    = var.region
  description = "signup: the organisers' page (sign-in by mailed link, registrations, check-in at the door)"

  build_config {
    runtime               = local.runtime
    entry_point           = "organise"
    environment_variables = local.build_env
    service_account       = google_service_account.build.id
    docker_repository     = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.organise.email
    ingress_settings      = "ALLOW_ALL"

    # A few organisers at a time; a door's check-ins come one tap after another.
    max_instance_request_concurrency = 8
    available_cpu                    = "1"
    available_memory                 = "512Mi"
    max_instance_count               = 3
    min_instance_count               = 0
    timeout_seconds                  = 60
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.common_env, local.organise_env, local.organise_threads)

    secret_environment_variables {
      key        = "SIGNING_KEY"
      project_id = var.project
      secret     = google_secret_manager_secret.signing_key.secret_id
      version    = google_secret_manager_secret_version.signing_key.version
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.organise_reads_signing_key,
    google_project_iam_member.organise_uses_firestore,
    google_project_iam_member.build_writes_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_staged_sources,
  ]
}

# Anyone may reach the page (it answers strangers with the sign-in form only).
resource "google_cloud_run_service_iam_member" "anyone_invokes_organise" {
  #checkov:skip=CKV_GCP_102:organise is the organisers' page, reached from their browsers; it signs them in itself.
  location = google_cloudfunctions2_function.organise.location
  service  = google_cloudfunctions2_function.organise.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloudfunctions2_function" "notify_signin" {
  name        = local.notify_signin_name
  location    = var.region
  description = "signup: sends an organiser's sign-in link within seconds of the request"

  build_config {
    runtime               = local.runtime
    entry_point           = "notify"
    environment_variables = local.build_env
    service_account       = google_service_account.build.id
    docker_repository     = google_artifact_registry_repository.functions.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.notify.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY"

    max_instance_request_concurrency = 1
    available_memory                 = "256Mi"
    max_instance_count               = 2
    min_instance_count               = 0
    timeout_seconds                  = 60
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.common_env, local.mail_env)

    secret_environment_variables {
      key        = "SIGNING_KEY"
      project_id = var.project
      secret     = google_secret_manager_secret.signing_key.secret_id
      version    = google_secret_manager_secret_version.signing_key.version
    }

    secret_environment_variables {
      key        = "SMTP_PASSWORD"
      project_id = var.project
      secret     = google_secret_manager_secret.smtp_password.secret_id
      version    = google_secret_manager_secret_version.smtp_password.version
    }
  }

  # A sign-in document written: asked for (its link's mail pending), used, ended. Only the first has mail due,
  # which the function sees from the event alone. Retried: the outbox sends the link once whatever the retries.
  event_trigger {
    trigger_region        = var.firestore_location
    event_type            = "google.cloud.firestore.document.v1.written"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.events.email

    event_filters {
      attribute = "database"
      value     = google_firestore_database.main.name
    }

    event_filters {
      attribute = "document"
      value     = "signins/{signin}"
      operator  = "match-path-pattern"
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.notify_reads_signing_key,
    google_secret_manager_secret_iam_member.notify_reads_smtp_password,
    google_project_iam_member.notify_uses_firestore,
    google_project_iam_member.events_receive,
    google_project_iam_member.build_writes_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_staged_sources,
  ]
}

resource "google_cloud_run_service_iam_member" "events_invoke_notify_signin" {
  location = google_cloudfunctions2_function.notify_signin.location
  service  = google_cloudfunctions2_function.notify_signin.name
  role     = "roles/run.invoker"
  member   = google_service_account.events.member
}

# Sign-ins (`signins/{id}`) leave by themselves: a link a quarter of an hour after it was asked for, a signed-in
# session when it ends (`expires_at`). The sweep finds sign-in mails still due by `mail_due_at` (one collection,
# a single field: Firestore's automatic index).
resource "google_firestore_field" "signins_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "signins"
  field      = "expires_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_field.registrations_confirm_by]
}

# Each session's audit trail (`sessions/{id}/audit/{id}`) leaves with the session's personal data.
resource "google_firestore_field" "audit_expire" {
  project    = var.project
  database   = google_firestore_database.main.name
  collection = "audit"
  field      = "expires_at"

  ttl_config {}
  index_config {}

  depends_on = [google_firestore_field.signins_expire]
}

# Who came, per session: confirmed registrations checked in (store/overview.py).
resource "google_firestore_index" "registrations_present" {
  project     = var.project
  database    = google_firestore_database.main.name
  collection  = "registrations"
  query_scope = "COLLECTION"

  fields {
    field_path = "status"
    order      = "ASCENDING"
  }

  fields {
    field_path = "checked_in_at"
    order      = "ASCENDING"
  }

  depends_on = [google_firestore_field.audit_expire]
}

# A sign-in link's token is in its URL, and Cloud Run logs every request's URL: a mail scanner's GET of a link put it
# in the log, where whoever reads the project's logs could use it before the organiser did. The request log of
# `/sign-in/{token}` is not kept (asking for a link, a POST to `/sign-in`, still is; the page's own log names
# sign-ins by id). Only the _Default sink: a sink of the organisation's own is for its owner to filter.
resource "google_logging_project_exclusion" "organise_sign_in_links" {
  name        = "signup-organise-sign-in-links"
  description = "signup: the request log of organise's sign-in links (their tokens are in the URL)"
  filter = join(" AND ", [
    "resource.type=\"cloud_run_revision\"",
    "resource.labels.service_name=\"${local.organise_name}\"",
    "logName=\"projects/${var.project}/logs/run.googleapis.com%2Frequests\"",
    "httpRequest.requestUrl:\"/sign-in/\"",
  ])

  depends_on = [google_project_service.apis]
}
