# One service account per job, each with the least it needs. No owner or editor role anywhere; roles are
# granted on the single resource concerned wherever Google Cloud allows it (secrets, services, the topic).

resource "google_service_account" "register" {
  account_id   = "signup-register"
  display_name = "signup: register (the public form)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "notify" {
  account_id   = "signup-notify"
  display_name = "signup: notify (mail, the sweep)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "notify_session" {
  account_id   = "signup-notify-session"
  display_name = "signup: notify-session (a session's change, queued for everyone)"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "events" {
  account_id   = "signup-events"
  display_name = "signup: Eventarc triggers delivering to notify"
  depends_on   = [google_project_service.apis]
}

resource "google_service_account" "build" {
  account_id   = "signup-build"
  display_name = "signup: Cloud Build of the functions"
  depends_on   = [google_project_service.apis]
}

# Firestore: the functions read and write documents (datastore.user: read and write documents; no index, rules or
# database administration). Firestore's roles are granted on the project, which holds every database of it; an IAM
# condition on the database's resource name narrows each grant to the functions' own database.
locals {
  firestore_database = "projects/${var.project}/databases/${google_firestore_database.main.name}"
}

resource "google_project_iam_member" "register_uses_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = google_service_account.register.member

  condition {
    title       = "signup-database-only"
    description = "Only the database of signup"
    expression  = "resource.name == \"${local.firestore_database}\""
  }
}

resource "google_project_iam_member" "notify_uses_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = google_service_account.notify.member

  condition {
    title       = "signup-database-only"
    description = "Only the database of signup"
    expression  = "resource.name == \"${local.firestore_database}\""
  }
}

resource "google_project_iam_member" "notify_session_uses_firestore" {
  project = var.project
  role    = "roles/datastore.user"
  member  = google_service_account.notify_session.member

  condition {
    title       = "signup-database-only"
    description = "Only the database of signup"
    expression  = "resource.name == \"${local.firestore_database}\""
  }
}

# Secrets: each function reads only the secrets it is given; notify-session, which only queues mail, has no SMTP
# password.

resource "google_secret_manager_secret_iam_member" "register_reads_signing_key" {
  secret_id = google_secret_manager_secret.signing_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.register.member
}

resource "google_secret_manager_secret_iam_member" "register_reads_turnstile_secret_key" {
  secret_id = google_secret_manager_secret.turnstile_secret_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.register.member
}

resource "google_secret_manager_secret_iam_member" "notify_reads_signing_key" {
  secret_id = google_secret_manager_secret.signing_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.notify.member
}

resource "google_secret_manager_secret_iam_member" "notify_session_reads_signing_key" {
  secret_id = google_secret_manager_secret.signing_key.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.notify_session.member
}

resource "google_secret_manager_secret_iam_member" "notify_reads_smtp_password" {
  secret_id = google_secret_manager_secret.smtp_password.id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.notify.member
}

# Invoking. `register` is the public sign-up form: anyone may call it. `notify`, `notify-session` and `notify-tick`
# only take events from their Eventarc triggers, which call them as the events service account.

resource "google_cloud_run_service_iam_member" "anyone_invokes_register" {
  #checkov:skip=CKV_GCP_102:register is the public sign-up form that websites embed; anonymous visitors must reach it.
  location = google_cloudfunctions2_function.register.location
  service  = google_cloudfunctions2_function.register.name
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_service_iam_member" "events_invoke_notify" {
  location = google_cloudfunctions2_function.notify.location
  service  = google_cloudfunctions2_function.notify.name
  role     = "roles/run.invoker"
  member   = google_service_account.events.member
}

resource "google_cloud_run_service_iam_member" "events_invoke_notify_session" {
  location = google_cloudfunctions2_function.notify_session.location
  service  = google_cloudfunctions2_function.notify_session.name
  role     = "roles/run.invoker"
  member   = google_service_account.events.member
}

resource "google_cloud_run_service_iam_member" "events_invoke_notify_tick" {
  location = google_cloudfunctions2_function.notify_tick.location
  service  = google_cloudfunctions2_function.notify_tick.name
  role     = "roles/run.invoker"
  member   = google_service_account.events.member
}

# Receiving events is granted per project only (Eventarc has no per-trigger IAM).
resource "google_project_iam_member" "events_receive" {
  project = var.project
  role    = "roles/eventarc.eventReceiver"
  member  = google_service_account.events.member
}

# Eventarc hands events over through Pub/Sub, which signs each push with a token of the trigger's service
# account. Projects whose Pub/Sub service agent dates from before April 2021 need this grant; it is limited to
# that one service account.
resource "google_service_account_iam_member" "pubsub_signs_for_events" {
  service_account_id = google_service_account.events.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

# Cloud Scheduler publishes its ticks as its service agent; it may publish to the tick topic and nowhere else.
resource "google_pubsub_topic_iam_member" "scheduler_publishes_ticks" {
  topic  = google_pubsub_topic.tick.id
  role   = "roles/pubsub.publisher"
  member = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-cloudscheduler.iam.gserviceaccount.com"
}

# Building the functions (Cloud Build, on the functions' behalf): write the build's logs, read the source, push the
# image. The roles are those Google documents for a custom build service account, each granted on the one resource
# it concerns: the logs per project (Cloud Logging has nothing finer), the images on the functions' repository
# (registry.tf), the source on the buckets that hold it, to read only.

resource "google_project_iam_member" "build_writes_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = google_service_account.build.member
}

resource "google_artifact_registry_repository_iam_member" "build_pushes_images" {
  project    = google_artifact_registry_repository.functions.project
  location   = google_artifact_registry_repository.functions.location
  repository = google_artifact_registry_repository.functions.name
  role       = "roles/artifactregistry.writer"
  member     = google_service_account.build.member
}

resource "google_storage_bucket_iam_member" "build_reads_sources" {
  bucket = google_storage_bucket.source.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.build.member
}

# Cloud Functions copies each function's archive into a staging bucket of its own, gcf-v2-sources-<project
# number>-<region>, and the build fetches it from there (a build without this grant fails with "Access to bucket
# gcf-v2-sources-… denied"). That bucket only appears with the first deploy, so it cannot be granted on directly:
# this grant is made on the project, and its condition narrows it to that one bucket and its objects.
locals {
  staging_bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
}

resource "google_project_iam_member" "build_reads_staged_sources" {
  project = var.project
  role    = "roles/storage.objectViewer"
  member  = google_service_account.build.member

  condition {
    title       = "cloud-functions-staging-bucket-only"
    description = "Only the bucket where Cloud Functions stages the sources of this region"
    expression  = "resource.name == \"projects/_/buckets/${local.staging_bucket}\" || resource.name.startsWith(\"projects/_/buckets/${local.staging_bucket}/\")"
  }
}
