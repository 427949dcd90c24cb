# What the rest refers to: names, the public address, the settings each function gets, and the APIs.

data "google_project" "this" {
  project_id = var.project
}

locals {
  labels = merge({ app = "signup" }, var.labels)

  # The functions' names. `register`'s public address is derived from its name and region, below.
  register_name       = "register"
  notify_name         = "notify"
  notify_session_name = "notify-session"
  notify_tick_name    = "notify-tick"

  # The Python the tests run on (and `make test` type-checks for): the functions run on the same.
  runtime = "python311"

  # Settings every function reads (functions/signup/settings.py). Secrets are not here: SIGNING_KEY and
  # SMTP_PASSWORD come from Secret Manager (secrets.tf). FIRESTORE_EMULATOR_HOST is for local use only.
  common_env = {
    GOOGLE_CLOUD_PROJECT       = var.project
    PUBLIC_BASE_URL            = local.public_base_url
    EMAIL_CHECK_DELIVERABILITY = tostring(var.email_check_deliverability)
    SESSION_CACHE_SECONDS      = tostring(var.session_cache_seconds)
    RATE_LIMIT_PER_SESSION     = tostring(var.rate_limit_per_session)
    RATE_LIMIT_OVERALL         = tostring(var.rate_limit_overall)
    RATE_LIMIT_WINDOW_SECONDS  = tostring(var.rate_limit_window_seconds)
    TRUSTED_PROXY_HOPS         = tostring(var.trusted_proxy_hops)
    MAIL_CAP_PER_DAY           = tostring(var.mail_cap_per_day)
    SMTP_UTF8                  = tostring(var.smtp_utf8)
    TURNSTILE_VERIFY_URL       = var.turnstile_verify_url
    LOG_LEVEL                  = var.log_level
  }

  # What only `notify` needs: sending mail. `register` never sends mail and does not get these.
  mail_env = {
    MAIL_FROM            = var.mail_from
    SMTP_URL             = var.smtp_url
    SMTP_TIMEOUT_SECONDS = tostring(var.smtp_timeout_seconds)
    SMTP_MAX_CONNECTIONS = tostring(var.smtp_max_connections)
    # Empty: no limit.
    SMTP_MAX_PER_SECOND = var.smtp_max_per_second == null ? "" : tostring(var.smtp_max_per_second)
    SWEEP_LIMIT         = tostring(var.sweep_limit)
    # Empty: invitations name the organiser, and a decline in a calendar reaches the organiser's inbox only.
    CALENDAR_REPLY_ADDRESS = var.calendar_reply_address
    # The links of the organisers' sign-in mails point there.
    ORGANISE_URL = local.organise_url
  }

  apis = [
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudscheduler.googleapis.com",
    "eventarc.googleapis.com",
    "firebaserules.googleapis.com",
    "firestore.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ]
}

resource "google_project_service" "apis" {
  for_each = toset(local.apis)

  project = var.project
  service = each.value
  # Turning an API off on destroy would break whatever else in the project uses it.
  disable_on_destroy = false
}
