# The functions, all from the one source archive (source.tf) and the entry points in functions/main.py:
#
#   register        HTTP, public: the form and the sign-ups.
#   notify          entry point `notify`, Eventarc Firestore trigger: a registration was written (created or
#                   updated: a sign-up, a cancellation, a promotion, a queued notice), its due mails go out.
#   notify-session  entry point `notify` too, Eventarc Firestore trigger: a session was written (the organiser
#                   changed or cancelled it), one notice is queued per person.
#   notify-tick     entry point `notify` too, Pub/Sub trigger: Cloud Scheduler's tick, the sweep.
#
# Why `notify` is deployed three times: a 2nd gen function has exactly one event_trigger, and `notify` listens to
# three sources. The alternative, one function plus a separate google_eventarc_trigger for the topic, would share
# one configuration between two jobs that differ: a created event sends one registration's mails and should
# spread over many small instances, while the sweep may take minutes and should run on one instance at a time,
# with a long timeout and no retries (the next tick comes anyway). Two functions give each its own limits and
# logs; the code and the settings are the same. A deploy builds the archive once per function.

locals {
  build_env = {
    # The entry points live in functions/main.py, not in main.py at the archive's root.
    GOOGLE_FUNCTION_SOURCE = "functions/main.py"
    # The buildpack byte-compiles the sources (`python3 -m compileall -f -q .`). By default a .pyc is valid only
    # while its source keeps the modification time it had then, and an image gives its files times of its own:
    # every instance would compile our modules again as it starts (about 36 ms of a cold start). With
    # SOURCE_DATE_EPOCH set, Python writes hash-checked .pyc instead (PEP 552), valid whatever the file times.
    SOURCE_DATE_EPOCH = "315532800"
  }

  register_threads = {
    THREADS = tostring(var.register_concurrency)
  }

  notify_threads = {
    THREADS = tostring(var.notify_concurrency)
  }
}

resource "google_cloudfunctions2_function" "register" {
  #checkov:skip=CKV_GCP_124:register is the public sign-up form that websites embed; browsers anywhere must reach it (ingress ALLOW_ALL unless a load balancer is in front: access.tf).
  name        = local.register_name
  location    = var.region
  description = "signup: serves the sign-up form and accepts sign-ups"

  build_config {
    runtime               = local.runtime
    entry_point           = "register"
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
    service_account_email = google_service_account.register.email
    # From anywhere, or only through the load balancer in front of it: by trusted_proxy_hops (access.tf).
    ingress_settings = local.register_ingress

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
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_staged_sources,
  ]
}

resource "google_cloudfunctions2_function" "notify" {
  name        = local.notify_name
  location    = var.region
  description = "signup: sends a registration's mails as they fall due (confirmation, cancellation, promotion, notices)"

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
    # Only Eventarc calls it.
    ingress_settings = "ALLOW_INTERNAL_ONLY"

    # A burst of events (a notice to everyone, a newsletter's sign-ups) is served several at once per instance, so
    # that they share the instance's SMTP connections (SMTP_MAX_CONNECTIONS) instead of each opening its own.
    max_instance_request_concurrency = var.notify_concurrency
    available_cpu                    = "1"
    available_memory                 = "512Mi"
    max_instance_count               = var.notify_max_instances
    min_instance_count               = 0
    timeout_seconds                  = 120
    all_traffic_on_latest_revision   = true

    environment_variables = merge(local.common_env, local.mail_env, local.notify_threads)

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

  # A registration document written anywhere under sessions/: created (a sign-up) or updated (a cancellation, a
  # promotion, a notice queued; also `notify`'s own claims and records, which the function sees from the event
  # alone to need nothing). Deletions come too and are ignored. The trigger must live where the database
  # lives (for eur3: the eur3 multi-region), wherever the function runs. Retried for up to a day when `notify`
  # fails; a mail already sent is never sent twice (the outbox claims it first).
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
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_staged_sources,
  ]
}

resource "google_cloudfunctions2_function" "notify_session" {
  name        = local.notify_session_name
  location    = var.region
  description = "signup: a session changed or was cancelled, every person signed up gets one notice"

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
    # An account of its own: it only queues mail, so it may not read the SMTP password (nor is it given it).
    service_account_email = google_service_account.notify_session.email
    ingress_settings      = "ALLOW_INTERNAL_ONLY"

    # One session's fan-out: 10,000 registrations are read and written 500 to a commit in well under a minute.
    # It writes the queue only; each queued notice is sent by `notify` on its own registration's event. It builds
    # notify's service all the same (MAIL_FROM, SMTP_URL), but never connects to the mail server.
    max_instance_request_concurrency = 1
    available_memory                 = "512Mi"
    max_instance_count               = 2
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

  }

  # A session document written (created, changed in the console or by `signup sessions create|cancel`). The
  # function's own writes on the session (revision, announced_revision) come back as events that it sees from
  # the event alone to need nothing. Retried: a fan-out that died resumes where it stopped.
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
      value     = "sessions/{session}"
      operator  = "match-path-pattern"
    }
  }

  depends_on = [
    google_secret_manager_secret_iam_member.notify_session_reads_signing_key,
    google_project_iam_member.notify_session_uses_firestore,
    google_project_iam_member.events_receive,
    google_project_iam_member.build_writes_logs,
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_staged_sources,
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
    google_artifact_registry_repository_iam_member.build_pushes_images,
    google_storage_bucket_iam_member.build_reads_sources,
    google_project_iam_member.build_reads_staged_sources,
  ]
}
