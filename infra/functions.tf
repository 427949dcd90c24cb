# The functions, all from the one source archive (source.tf) and the entry points in functions/main.py:
#
#   register     HTTP, public: the form and the sign-ups.
#   notify       entry point `notify`, Eventarc Firestore trigger: a registration was created.
#   notify-tick  entry point `notify` too, Pub/Sub trigger: Cloud Scheduler's tick, the sweep.
#
# Why `notify` is deployed twice: a 2nd gen function has exactly one event_trigger, and `notify` listens to
# two sources. The alternative, one function plus a separate google_eventarc_trigger for the topic, would share
# one configuration between two jobs that differ: a created event sends one registration's mails and should
# spread over many small instances, while the sweep may take minutes and should run on one instance at a time,
# with a long timeout and no retries (the next tick comes anyway). Two functions give each its own limits and
# logs; the code and the settings are the same. A deploy builds the archive once per function.

locals {
  build_env = {
    # The entry points live in functions/main.py, not in main.py at the archive's root.
    GOOGLE_FUNCTION_SOURCE = "functions/main.py"
  }

  register_threads = {
    THREADS = tostring(var.register_concurrency)
  }
}

resource "google_cloudfunctions2_function" "register" {
  #checkov:skip=CKV_GCP_124:register is the public sign-up form that websites embed; browsers anywhere must reach it (ingress ALLOW_ALL).
  name        = local.register_name
  location    = var.region
  description = "signup: serves the sign-up form and accepts sign-ups"

  build_config {
    runtime               = local.runtime
    entry_point           = "register"
    environment_variables = local.build_env
    service_account       = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.register.email
    ingress_settings      = "ALLOW_ALL"

    # Most of a request is waiting on Firestore: one instance serves many at once, on a whole vCPU.
    max_instance_request_concurrency = var.register_concurrency
    available_cpu                    = var.register_cpu
    available_memory                 = var.register_memory
    max_instance_count               = var.register_max_instances
    min_instance_count               = 0
    timeout_seconds                  = 60
    all_traffic_on_latest_revision   = true

    # functions-framework serves 4 requests at a time per CPU unless THREADS says otherwise: without it, 76 of the
    # 80 requests an instance accepts would wait in line. Google's advice for Python: as many threads as requests.
    environment_variables = merge(local.common_env, local.register_threads)

    secret_environment_variables {
      key        = "SIGNING_KEY"
      project_id = var.project
      secret     = google_secret_manager_secret.signing_key.secret_id
      version    = google_secret_manager_secret_version.signing_key.version
    }

    secret_environment_variables {
      key        = "TURNSTILE_SECRET_KEY"
      project_id = var.project
      secret     = google_secret_manager_secret.turnstile_secret_key.secret_id
      version    = google_secret_manager_secret_version.turnstile_secret_key.version
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.register_reads_signing_key,
    google_project_iam_member.register_uses_firestore,
    google_project_iam_member.build_writes_logs,
    google_project_iam_member.build_pushes_images,
    google_project_iam_member.build_reads_sources,
  ]
}

resource "google_cloudfunctions2_function" "notify" {
  name        = local.notify_name
  location    = var.region
  description = "signup: sends a new registration's confirmation"

  build_config {
    runtime               = local.runtime
    entry_point           = "notify"
    environment_variables = local.build_env
    service_account       = google_service_account.build.id

    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    service_account_email = google_service_account.notify.email
    # Only Eventarc calls it.
    ingress_settings = "ALLOW_INTERNAL_ONLY"

    max_instance_request_concurrency = 1
    available_memory                 = "512Mi"
    max_instance_count               = var.notify_max_instances
    min_instance_count               = 0
    timeout_seconds                  = 120
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

  # A registration document created anywhere under sessions/. The trigger must live where the database
  # lives (for eur3: the eur3 multi-region), wherever the function runs. Retried for up to a day when `notify`
  # fails; a mail already sent is never sent twice (the outbox claims it first).
  event_trigger {
    trigger_region        = var.firestore_location
    event_type            = "google.cloud.firestore.document.v1.created"
    retry_policy          = "RETRY_POLICY_RETRY"
    service_account_email = google_service_account.events.email

    event_filters {
      attribute = "database"
      value     = google_firestore_database.main.name
    }

    event_filters {
      attribute = "document"
      value     = "sessions/{session}/registrations/{registration}"
      operator  = "match-path-pattern"
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.notify_reads_signing_key,
    google_secret_manager_secret_iam_member.notify_reads_smtp_password,
    google_project_iam_member.notify_uses_firestore,
    google_project_iam_member.events_receive,
    google_project_iam_member.build_writes_logs,
    google_project_iam_member.build_pushes_images,
    google_project_iam_member.build_reads_sources,
  ]
}

resource "google_cloudfunctions2_function" "notify_tick" {
  name        = local.notify_tick_name
  location    = var.region
  description = "signup: the sweep (reminders, waiting list, retries), on Cloud Scheduler's tick"

  build_config {
    runtime               = local.runtime
    entry_point           = "notify"
    environment_variables = local.build_env
    service_account       = google_service_account.build.id

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

    # One sweep at a time, with time to finish (a sweep of SWEEP_LIMIT mails over a slow SMTP server).
    max_instance_request_concurrency = 1
    available_cpu                    = "1"
    available_memory                 = "512Mi"
    max_instance_count               = 1
    min_instance_count               = 0
    timeout_seconds                  = 540
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

  # Not retried: a failed sweep is simply followed by the next tick, which picks up the same work.
  event_trigger {
    trigger_region        = var.region
    event_type            = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic          = google_pubsub_topic.tick.id
    retry_policy          = "RETRY_POLICY_DO_NOT_RETRY"
    service_account_email = google_service_account.events.email
  }

  depends_on = [
    google_secret_manager_secret_iam_member.notify_reads_signing_key,
    google_secret_manager_secret_iam_member.notify_reads_smtp_password,
    google_project_iam_member.notify_uses_firestore,
    google_project_iam_member.events_receive,
    google_project_iam_member.build_writes_logs,
    google_project_iam_member.build_pushes_images,
    google_project_iam_member.build_reads_sources,
  ]
}
