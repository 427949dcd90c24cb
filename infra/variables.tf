# Where it runs.

variable "project" {
  description = "The Google Cloud project (its id) to deploy into; it needs billing enabled."
  type        = string
}

variable "region" {
  description = "Region of the functions, the source bucket, the secrets and the Pub/Sub tick."
  type        = string
  default     = "europe-west4"
}

variable "firestore_location" {
  description = "Location of the Firestore database: a multi-region (eur3, nam5) or a region. It cannot change once the database exists. The Firestore trigger lives here too."
  type        = string
  default     = "eur3"
}

variable "scheduler_region" {
  description = "Region of the Cloud Scheduler job; null: the functions' region. Cloud Scheduler runs in europe-west4 since April 2026; elsewhere pick a region it offers (e.g. europe-west1)."
  type        = string
  default     = null
}

variable "labels" {
  description = "Extra labels for every resource."
  type        = map(string)
  default     = {}
}

# Secrets. Ephemeral: Terraform sends them to Secret Manager and keeps them out of plans and state, so they
# must be given on every plan and apply (e.g. TF_VAR_signing_key). Changing a value takes effect only when its
# *_version below goes up (write-only arguments cannot be compared with what is stored).

variable "signing_key" {
  description = "SIGNING_KEY: at least 32 random bytes as base64 or hex; to rotate, the new key, a comma, the old one (docs/keys.md)."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.signing_key) >= 43
    error_message = "signing_key must be at least 32 random bytes as base64 or hex, e.g. from `openssl rand -base64 32` (the functions refuse less)."
  }
}

variable "signing_key_version" {
  description = "Raise by one to store a new signing_key."
  type        = number
  default     = 1
}

variable "smtp_password" {
  description = "SMTP_PASSWORD: the password of the SMTP user named in smtp_url."
  type        = string
  sensitive   = true
  ephemeral   = true

  validation {
    condition     = length(var.smtp_password) > 0
    error_message = "smtp_password must not be empty; put the user in smtp_url and the password here."
  }
}

variable "smtp_password_version" {
  description = "Raise by one to store a new smtp_password."
  type        = number
  default     = 1
}

variable "turnstile_secret_key" {
  description = "TURNSTILE_SECRET_KEY: Cloudflare Turnstile's secret key, for sessions with a turnstile_site_key. Leave \"none\" when no session uses Turnstile: such sessions then refuse sign-ups (they fail closed)."
  type        = string
  sensitive   = true
  ephemeral   = true
  default     = "none"
}

variable "turnstile_secret_key_version" {
  description = "Raise by one to store a new turnstile_secret_key."
  type        = number
  default     = 1
}

# Settings of the functions (see the Configuration table of the README).

variable "turnstile_verify_url" {
  description = "TURNSTILE_VERIFY_URL: Cloudflare's siteverify endpoint."
  type        = string
  default     = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
}

variable "mail_from" {
  description = "MAIL_FROM: the sender of every mail, `Name <address>`; its domain also ends each Message-ID."
  type        = string

  validation {
    condition     = can(regex("@", var.mail_from))
    error_message = "mail_from must hold an address, e.g. \"Strategiesessies <sessies@example.nl>\"."
  }
}

variable "calendar_reply_address" {
  description = "CALENDAR_REPLY_ADDRESS: where calendars send a reply to an invitation (its ORGANIZER); the mail provider posts what arrives there to register's inbound URL (`signup calendar-replies` prints it), and a decline asks the person by mail whether to cancel. It applies to new calendar entries: one already sent keeps its ORGANIZER. Empty: the organiser."
  type        = string
  default     = ""

  validation {
    condition     = var.calendar_reply_address == "" || can(regex("^[^@<> ]+@[^@<> ]+$", var.calendar_reply_address))
    error_message = "calendar_reply_address must be a bare address, e.g. \"antwoord@example.nl\", or empty."
  }
}

variable "smtp_url" {
  description = "SMTP_URL: smtp://user@host:587 (STARTTLS required) or smtps://user@host:465; an @ in the user is written %40. Leave the password out: it comes from smtp_password."
  type        = string

  validation {
    condition     = can(regex("^smtps?://[^:@/]+@[^/]+$", var.smtp_url))
    error_message = "smtp_url must look like smtp://user@host:587 or smtps://user@host:465, without a password."
  }
}

variable "smtp_utf8" {
  description = "SMTP_UTF8: the relay speaks SMTPUTF8, so the form may accept addresses with a non-ASCII local part (register) and mail goes to them (notify)."
  type        = bool
  default     = false
}

variable "email_check_deliverability" {
  description = "EMAIL_CHECK_DELIVERABILITY: check that an address's domain can receive mail (DNS) before accepting a sign-up."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "LOG_LEVEL: INFO logs what happened (cancellations, promotions, mail outcomes, abuse refused) as JSON lines Cloud Logging reads with their severity; DEBUG adds a line per sign-up; WARNING, ERROR or CRITICAL log less."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL"], upper(var.log_level))
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "session_cache_seconds" {
  description = "SESSION_CACHE_SECONDS: how long an instance of register keeps a session document before reading it again (notify reads it for every mail)."
  type        = number
  default     = 5
}

variable "smtp_timeout_seconds" {
  description = "SMTP_TIMEOUT_SECONDS: per SMTP operation; a claimed mail's lease is 10x this, at least 300 s."
  type        = number
  default     = 20
}

variable "smtp_max_connections" {
  description = "SMTP_MAX_CONNECTIONS: SMTP connections at once per instance of notify; never more in flight."
  type        = number
  default     = 8
  validation {
    condition     = var.smtp_max_connections >= 1 && floor(var.smtp_max_connections) == var.smtp_max_connections
    error_message = "smtp_max_connections must be a whole number, 1 or more."
  }
}

variable "smtp_max_per_second" {
  description = "SMTP_MAX_PER_SECOND: at most this many mails a second per instance of notify, over all its connections; null: no limit."
  type        = number
  default     = null
  validation {
    condition     = var.smtp_max_per_second == null || try(var.smtp_max_per_second > 0, false)
    error_message = "smtp_max_per_second must be above zero, or null for no limit."
  }
}

variable "sweep_limit" {
  description = "SWEEP_LIMIT: at most this many registrations' mails per sweep (and sessions looked at); the next tick goes on."
  type        = number
  default     = 500
}

variable "rate_limit_per_session" {
  description = "RATE_LIMIT_PER_SESSION: sign-up attempts one visitor (internet address) may make for one session per window."
  type        = number
  default     = 20
}

variable "rate_limit_overall" {
  description = "RATE_LIMIT_OVERALL: sign-up attempts one visitor may make for all sessions together per window."
  type        = number
  default     = 60
}

variable "rate_limit_window_seconds" {
  description = "RATE_LIMIT_WINDOW_SECONDS: the length of a rate-limit window."
  type        = number
  default     = 600
}

variable "trusted_proxy_hops" {
  description = "TRUSTED_PROXY_HOPS: how many X-Forwarded-For entries trusted proxies append after the client address: 0 when visitors reach the function at its own URL, 1 behind Google's external Application Load Balancer. Above 0, register's ingress is ALLOW_INTERNAL_AND_GCLB (see register_ingress) and public_base_url is required."
  type        = number
  default     = 0

  validation {
    condition     = var.trusted_proxy_hops >= 0 && floor(var.trusted_proxy_hops) == var.trusted_proxy_hops
    error_message = "trusted_proxy_hops is a whole number, 0 or more."
  }
}

variable "register_ingress" {
  description = "Who may reach register. null (default): follows trusted_proxy_hops, ALLOW_ALL with 0 (visitors call the function's own address), ALLOW_INTERNAL_AND_GCLB above 0 (visitors come through the load balancer, and the function's own address refuses them). ALLOW_INTERNAL_ONLY: only from inside the project's network (an internal balancer)."
  type        = string
  default     = null

  validation {
    condition     = var.register_ingress == null || contains(["ALLOW_ALL", "ALLOW_INTERNAL_AND_GCLB", "ALLOW_INTERNAL_ONLY"], coalesce(var.register_ingress, "-"))
    error_message = "register_ingress is null, ALLOW_ALL, ALLOW_INTERNAL_AND_GCLB or ALLOW_INTERNAL_ONLY."
  }

  validation {
    condition     = !(var.register_ingress == "ALLOW_ALL" && var.trusted_proxy_hops > 0)
    error_message = "register_ingress ALLOW_ALL with trusted_proxy_hops above 0 lets anyone call the function's own address with an X-Forwarded-For of their own and choose their rate-limit key: leave register_ingress null (ALLOW_INTERNAL_AND_GCLB), or set trusted_proxy_hops to 0."
  }

  validation {
    condition     = !(var.register_ingress == "ALLOW_INTERNAL_AND_GCLB" && var.trusted_proxy_hops == 0)
    error_message = "register_ingress ALLOW_INTERNAL_AND_GCLB with trusted_proxy_hops 0 makes every visitor the load balancer's address, all sharing one rate-limit budget: set trusted_proxy_hops to 1 (one more for each proxy of your own behind the balancer)."
  }
}

variable "public_base_url" {
  description = "PUBLIC_BASE_URL: the https address visitors reach register at (mails' links, the form's posts, the embed snippet). null (default): the function's own address, https://{region}-{project}.cloudfunctions.net/register. Behind a load balancer (trusted_proxy_hops above 0) the balancer's, e.g. https://aanmelden.example.nl, since the function's own address then refuses visitors."
  type        = string
  default     = null

  validation {
    condition     = var.public_base_url == null || can(regex("^https://[^/?#@]+(/[^?#]*)?$", coalesce(var.public_base_url, "-")))
    error_message = "public_base_url is an https address without a query, e.g. https://aanmelden.example.nl."
  }

  validation {
    condition     = var.public_base_url != null || var.trusted_proxy_hops == 0
    error_message = "Behind a load balancer (trusted_proxy_hops above 0) set public_base_url to the balancer's address: register's own address refuses visitors then (ingress ALLOW_INTERNAL_AND_GCLB)."
  }
}

variable "mail_cap_per_day" {
  description = "MAIL_CAP_PER_DAY: at most this many mails a day to one mailbox (+tag and case folded)."
  type        = number
  default     = 10
}

# Data.

variable "point_in_time_recovery" {
  description = "Firestore point-in-time recovery: every version of every document readable for 7 days, so a mistaken deletion can be undone, and so can an erasure or the retention purge: personal data then stays recoverable for 7 days after it was erased (say so in your privacy statement). Off by default: an erasure is final at once."
  type        = bool
  default     = false
}

variable "organisers" {
  description = "ORGANISERS: the addresses that may organise every session on the organisers' page (a session's organiser.email and co_organisers may organise that session)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for address in var.organisers : can(regex("^[^,@\\s]+@[^,@\\s]+$", address))])
    error_message = "organisers must be bare addresses, like anna@example.nl."
  }
}

# Capacity.

variable "tick_schedule" {
  description = "When Cloud Scheduler ticks `notify` for the sweep (cron, in tick_time_zone)."
  type        = string
  default     = "*/5 * * * *"
}

variable "tick_time_zone" {
  description = "Time zone of tick_schedule."
  type        = string
  default     = "Etc/UTC"
}

variable "register_max_instances" {
  description = "At most this many `register` instances."
  type        = number
  default     = 20
}

variable "register_concurrency" {
  description = "Requests one `register` instance serves at once (it waits on Firestore most of the time)."
  type        = number
  default     = 80
}

variable "register_cpu" {
  description = "vCPUs of a `register` instance; more than one request at a time needs at least 1."
  type        = string
  default     = "1"
}

variable "register_memory" {
  description = "Memory of a `register` instance (measured peak at 16 concurrent clients: about 135 MiB)."
  type        = string
  default     = "512Mi"
}

variable "notify_concurrency" {
  description = "Events one `notify` instance serves at once (its THREADS too); they share the instance's SMTP connections."
  type        = number
  default     = 8

  validation {
    condition     = var.notify_concurrency >= 1 && var.notify_concurrency <= 80 && floor(var.notify_concurrency) == var.notify_concurrency
    error_message = "notify_concurrency must be a whole number from 1 to 80."
  }
}

variable "notify_max_instances" {
  description = "At most this many `notify` instances for registration events (`notify_concurrency` each at a time); the sweep runs on one."
  type        = number
  default     = 10
}
